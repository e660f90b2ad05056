"""campaigns/*.yaml: typed, and every problem named by file and line (the repository's campaigns load; each way
to get one wrong is refused with the line that is wrong)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from emma.campaigns.loader import load_campaigns
from emma.journeys.loader import load_journeys
from emma.rules.loader import DefinitionError, load_definitions
from emma.templates.loader import load_templates

ROOT = Path(__file__).resolve().parents[3]
RULES = load_definitions(ROOT)
TEMPLATES = load_templates(ROOT)
JOURNEYS = load_journeys(ROOT, RULES, TEMPLATES)
GOOD = """\
id: {id}
template: personalised-newsletter
audience:
  segments: [reachable-email]
  exclude: {{journeys: [smartphone-onboarding], ordered_within: 7d}}
schedule: {{now: true}}
"""


def load(tmp_path: Path, text: str, name: str = "cm") -> list:
    folder = tmp_path / "campaigns"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(text)
    return load_campaigns(tmp_path, RULES, JOURNEYS, TEMPLATES)


def problems(tmp_path: Path, text: str, name: str = "cm") -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        load(tmp_path, text, name)
    return caught.value.problems


def test_the_repository_campaigns_load():
    advent, weekly, winter = sorted(load_campaigns(ROOT, RULES, JOURNEYS, TEMPLATES), key=lambda c: c.id)
    assert winter.audience.segments == ("champions", "new-30d")
    assert advent.schedule.now and advent.ab is not None and advent.ab.subjects[0]["en"].startswith("Your Advent")
    assert weekly.id == "weekly-newsletter" and weekly.schedule.recurring
    assert weekly.schedule.every.weekday == "monday" and weekly.schedule.timezone == "recipient"
    assert weekly.audience.exclude.ordered_within == timedelta(days=7)


def test_a_good_campaign_loads(tmp_path):
    (campaign,) = load(tmp_path, GOOD.format(id="cm"))
    assert campaign.channel == "email" and campaign.rate == 14 and campaign.schedule.now


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        (("segments: [reachable-email]", "segments: [vips]"), 4, "segment 'vips' is not defined in segments/"),
        (("journeys: [smartphone-onboarding]", "journeys: [nope]"), 5, "journey 'nope' is not defined in journeys/"),
        (("template: personalised-newsletter", "template: nope"), 2, "template 'nope' is not defined in templates/"),
        (("template: personalised-newsletter", "template: doi-confirmation"), 2, "is confirmation, not marketing"),
        (("schedule: {now: true}", "schedule: {now: true, at: '09:00'}"), 6, "exactly one of now"),
        (("schedule: {now: true}", "schedule: {}"), 6, "exactly one of now"),
        (("schedule: {now: true}", "schedule: {at: '9 Uhr'}"), 6, "is not HH:MM"),
        (("schedule: {now: true}", "schedule: {now: true, every: {weekday: monday}}"), 6, "time of day"),
        (("schedule: {now: true}", "schedule: {at: '09:00', every: {weekday: moonday}}"), 6, "every.weekday"),
        (("schedule: {now: true}", "schedule: {at: '09:00', every: {day: 31}}"), 6, "less than or equal to 28"),
        (("schedule: {now: true}", "schedule: {best_hour: true, timezone: recipient}"), 6, "goes with at"),
        (("audience:\n  segments: [reachable-email]", "audience:\n  segments: []"), 3, "names segments, a topic"),
        (("  segments: [reachable-email]", "  topic: offers"), 4, "template 'personalised-newsletter' is about"),
        (("  segments: [reachable-email]", "  topic: gardening"), 4, "topic 'gardening' is not one of the shops"),
        (("id: cm", "id: cm\nrate: 0"), 2, "rate: Input should be greater than 0"),
        (("id: cm", "id: cm\nchannel: fax"), 2, "channel"),
        (("id: cm", "id: cm\nsurprise: 1"), 2, "surprise: Extra inputs are not permitted"),
    ],
)
def test_each_mistake_is_named_with_its_line(tmp_path, change, line, message):
    text = GOOD.format(id="cm").replace(*change)
    found = problems(tmp_path, text)
    assert any(p.startswith(f"{tmp_path / 'campaigns' / 'cm.yaml'}:{line}:") and message in p for p in found), found


def test_an_ab_test_needs_email_two_subjects_and_a_one_off_send(tmp_path):
    ab = "ab: {subjects: [A, B], sample: 0.2, decide_after: 4h}\n"
    assert load(tmp_path, GOOD.format(id="cm") + ab)[0].ab.by == "clicks"
    assert any("differ" in p for p in problems(tmp_path, GOOD.format(id="cm") + "ab: {subjects: [A, A]}\n"))
    assert any("at least 2" in p for p in problems(tmp_path, GOOD.format(id="cm") + "ab: {subjects: [A]}\n"))
    text = GOOD.format(id="cm").replace("id: cm", "id: cm\nchannel: sms") + ab
    assert any("needs email" in p for p in problems(tmp_path, text))
    text = GOOD.format(id="cm").replace("{now: true}", "{at: '09:00', every: {day: 1}}") + ab
    assert any("one-off" in p for p in problems(tmp_path, text))
    assert any(
        "between 30m and 3d" in p
        for p in problems(tmp_path, GOOD.format(id="cm") + "ab: {subjects: [A, B], decide_after: 5m}\n")
    )


def test_a_file_not_named_after_its_id_a_list_and_broken_yaml(tmp_path):
    assert any("name the file after the id" in p for p in problems(tmp_path, GOOD.format(id="other")))
    (tmp_path / "campaigns" / "cm.yaml").unlink()
    assert any(":1: expected a mapping" in p for p in problems(tmp_path, "- a\n- b\n"))
    (tmp_path / "campaigns" / "cm.yaml").unlink()
    assert problems(tmp_path, "id: [unclosed\n")


def test_no_campaigns_folder_is_no_campaigns(tmp_path):
    assert load_campaigns(tmp_path, RULES, JOURNEYS, TEMPLATES) == []


def test_an_ab_test_needs_one_send_time(tmp_path):
    local = GOOD.format(id="cm").replace("{now: true}", "{at: '09:00', timezone: recipient}")
    found = problems(tmp_path, local + "ab: {subjects: [A, B]}\n")
    assert any("sends its sample at one time" in p for p in found), found


def test_seeds_are_email_addresses(tmp_path):
    found = problems(tmp_path, GOOD.format(id="cm") + "test: {seeds: [not-an-address]}\n")
    assert any("test.seeds.0" in p for p in found), found
