"""The referral programme's journeys (docs/offers.md#referrals): the friend's reward is Emma's own journey,
entered once per friend by the referral-converted trigger; the smartphone onboarding rewards the referrer
when referral.made arrives and no longer emits an event for the shop to credit the friend."""

from pathlib import Path

from emma.journeys.definitions import SendStep, UpdateStep, WaitStep
from emma.journeys.service import execution_name
from emma.templates.loader import load_templates
from tests.unit.journeys.test_service import JOURNEYS, customer, fired, world  # noqa: F401 - a fixture

ROOT = Path(__file__).resolve().parents[3]


def test_the_friends_reward_journey_sends_a_transactional_reward_once_per_friend():
    journey = JOURNEYS["referral-friend-reward"]
    assert journey.entry.trigger == "referral-converted" and not journey.entry.also
    assert journey.reentry == "never" and journey.group is None and not journey.markets()
    granted, mail, done = journey.steps
    assert isinstance(granted, UpdateStep) and granted.update.set == {"referral_friend_reward": "granted"}
    assert isinstance(mail, SendStep) and mail.send.template == "referral-friend-reward"
    assert mail.send.transactional and mail.send.channel == "email"
    assert done.id == "done"


def test_the_friends_reward_template_carries_a_promised_reward_in_both_languages():
    template = load_templates(ROOT).templates["referral-friend-reward"]
    assert template.purpose == "transactional" and template.incentive == "always"
    assert template.coupon is not None
    assert (template.coupon.percent, template.coupon.valid_days, template.coupon.kind) == (10, 90, "reward")
    assert set(template.locales) == {"de", "en"}
    assert template.referral is None  # it shows the friend's reward, not a referral code of their own


def test_the_onboarding_rewards_the_referrer_and_leaves_the_friend_to_the_reward_journey():
    journey = JOURNEYS["smartphone-onboarding"]
    ids = [s.id for s in journey.steps]
    wait = journey.step("friend-buys")
    assert isinstance(wait, WaitStep) and wait.wait.until_event.value == "referral.made"
    assert ids[ids.index("friend-buys") + 1 : ids.index("friend-buys") + 3] == ["reward-referrer", "reward-mail"]
    assert journey.step("reward-mail").next == "newsletter"
    assert "reward-friend" not in ids and not [s for s in journey.steps if hasattr(s, "emit")]


def test_the_referral_converted_trigger_starts_the_friends_reward_once(world):  # noqa: F811 - the fixture
    pid = customer(world)
    done = world.service.on_event(fired(world, pid, "referral-converted"))
    name = execution_name(pid, "referral-friend-reward:fire-1")
    assert done == [f"referral-friend-reward: started {name}"]
    world.service.on_event(fired(world, pid, "referral-converted"))  # redelivered: the same execution
    assert list(world.executions.started) == [name]
    state = world.store.get("elektro-emma", pid, "referral-friend-reward")
    state.status = "completed"
    world.store.put("elektro-emma", pid, state)
    again = world.service.on_event(fired(world, pid, "referral-converted", id_="fire-2"))
    assert again == ["referral-friend-reward: not entered (re-entry: never)"]
