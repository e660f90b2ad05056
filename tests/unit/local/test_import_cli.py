"""`emma import` without a stack: the check names every bad line and sends nothing, the journal survives an
interruption, the progress bar shows rate and ETA, the runner resumes after the last stored batch and runs a
finished file again from the start (duplicates only), and the sample history is what the generator makes."""

from __future__ import annotations

import functools
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from emma.imports.formats import ReadOptions
from emma.imports.model import ImportKind
from emma.imports.service import BatchReport, ImportWorker, check
from emma.ingest.service import IngestService
from emma.rules.loader import load_definitions
from emma.rules.service import RulesService
from emma_local.fakes import (
    FixedClock,
    InMemoryCatalog,
    InMemoryProfileRepository,
    InMemoryPublisher,
    InMemoryRulesStore,
)
from emma_local.imports import FileJournal, Importer, MemoryJournal, ProgressBar, run_import
from emma_local.lab.shop_history import generate, main, write_emma_customers, write_shopify_orders

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "imports"
SHOP = "elektro-emma"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Worker:
    """An ImportTarget over an in-process ImportWorker with in-memory stores; can die after N batches."""

    def __init__(self, die_after: int | None = None) -> None:
        clock = FixedClock(NOW)
        self.repo = InMemoryProfileRepository()
        self.bus = InMemoryPublisher()
        ingest = IngestService(self.repo, InMemoryCatalog(self.repo), self.bus, clock, sleep=lambda s: None)
        self.rules_store = InMemoryRulesStore(self.repo)
        rules = RulesService(self.rules_store, InMemoryPublisher(), load_definitions(ROOT), clock, sleep=lambda s: None)
        self.worker = ImportWorker(ingest, rules, clock)
        self.die_after = die_after
        self.stored = 0
        self.conclusions: list[tuple[int, str, bool]] = []

    def store(self, kind, fmt, records) -> BatchReport:
        if self.die_after is not None and self.stored >= self.die_after:
            raise ConnectionError("gone")
        self.stored += 1
        return self.worker.store(SHOP, fmt, records)

    def conclude(self, profile_ids, batch, refit, scored_with=None):
        self.conclusions.append((len(profile_ids), batch, refit))
        return self.worker.conclude(SHOP, profile_ids, batch, refit, scored_with)


def opener(path: Path):
    return functools.partial(Path.open, path, "rb")


@pytest.fixture
def customers(tmp_path):
    people, _ = generate(45, seed=5)
    path = tmp_path / "customers.csv"
    write_emma_customers(people, path)
    return path, people


def test_a_whole_import_stores_concludes_twice_and_refits_once(customers):
    path, people = customers
    target = Worker()
    state = Importer(target, MemoryJournal(), batch_records=10).run(
        SHOP, ImportKind.CUSTOMERS, "customers.csv", opener(path), ReadOptions()
    )
    assert state.phase == "done" and state.records == state.records_done == 45 and state.batches_done == 5
    assert state.profiles == 45 and state.profiles_done == 45 and state.rescored == 45
    assert state.consents == sum(1 for p in people if p.consents)
    refits = [c for c in target.conclusions if c[2]]
    assert len(refits) == 1 and refits[0][1].endswith(":rescore:0")
    assert target.bus.published == []


def test_an_interrupted_run_resumes_after_the_last_stored_batch(customers):
    path, _ = customers
    journal = MemoryJournal()
    with pytest.raises(ConnectionError):
        Importer(Worker(die_after=2), journal, batch_records=10).run(
            SHOP, ImportKind.CUSTOMERS, "customers.csv", opener(path), ReadOptions()
        )
    (state,) = journal.states.values()
    assert (state.phase, state.batches_done, state.records_done, state.next_line) == ("ingest", 2, 20, 22)
    target = Worker()
    done = Importer(target, journal, batch_records=10).run(
        SHOP, ImportKind.CUSTOMERS, "customers.csv", opener(path), ReadOptions()
    )
    assert done.phase == "done" and done.records_done == 45 and target.stored == 3  # only the rest was sent
    # the profiles of the batches stored before the interruption are concluded too (the journal kept them)
    assert done.profiles == 45


def test_a_finished_file_runs_again_from_the_start_and_changes_nothing(customers):
    path, _ = customers
    target, journal = Worker(), MemoryJournal()
    first = Importer(target, journal, batch_records=10).run(
        SHOP, ImportKind.CUSTOMERS, "customers.csv", opener(path), ReadOptions()
    )
    before = dict(target.repo.profiles)
    again = Importer(target, journal, batch_records=10).run(
        SHOP, ImportKind.CUSTOMERS, "customers.csv", opener(path), ReadOptions()
    )
    assert again.job == first.job and again.accepted == 0 and again.duplicates == first.accepted
    assert target.repo.profiles == before


def test_the_file_journal_keeps_state_and_profiles_and_survives_a_cut_line(tmp_path, customers):
    path, _ = customers
    journal = FileJournal(tmp_path / "j")
    state = Importer(Worker(), journal, batch_records=20).run(
        SHOP, ImportKind.CUSTOMERS, "customers.csv", opener(path), ReadOptions()
    )
    assert journal.state(state.job) == state
    assert len(journal.profiles(state.job)) == 45
    with open(tmp_path / "j" / state.job / "profiles.jsonl", "a") as f:
        f.write('{"batch": 9, "profiles": ["p_')  # an interruption mid-write
    assert len(journal.profiles(state.job)) == 45
    json.loads((tmp_path / "j" / state.job / "state.json").read_text())


def test_bad_lines_are_named_and_nothing_is_sent(tmp_path):
    bad = tmp_path / "orders.csv"
    text = (FIXTURES / "emma-orders.csv").read_text()
    bad.write_text(text + "o-9,,,x@example.com,not a date,EUR,1.00" + "," * 21 + "\n")
    lines = len(bad.read_text().splitlines())
    checked = check(SHOP, ImportKind.ORDERS, str(bad), opener(bad), ReadOptions())
    assert checked.error_count >= 1
    assert any(e.line == lines and "placed_at" in e.message for e in checked.errors)
    err = io.StringIO()

    class NoSession:
        def post(self, *a, **k):
            raise AssertionError("nothing may be sent for a file with problems")

    code = run_import("orders", bad, shop=SHOP, api="http://x", admin_key="k", session=NoSession(), err=err)
    assert code == 2 and f"{bad}:{lines}:" in err.getvalue() and "nothing imported" in err.getvalue()


def test_the_command_refuses_bad_arguments(tmp_path):
    err = io.StringIO()
    assert run_import("customers", tmp_path / "none.csv", shop=SHOP, api="http://x", admin_key="k", err=err) == 2
    assert "no such file" in err.getvalue()
    wrong = tmp_path / "orders.csv"
    wrong.write_bytes((FIXTURES / "emma-orders.csv").read_bytes())
    err = io.StringIO()
    assert run_import("customers", wrong, shop=SHOP, api="http://x", admin_key="k", err=err) == 2
    assert str(wrong) in err.getvalue()
    err = io.StringIO()
    assert run_import("customers", wrong, shop=SHOP, api="http://x", admin_key=None, err=err) == 2


def test_the_progress_bar_shows_rate_and_eta():
    ticks = iter([0.0, 10.0, 20.0])
    out = io.StringIO()
    bar = ProgressBar(out, clock=lambda: next(ticks))
    bar("ingest", 250, 1000)  # the first batch: no rate yet
    bar("ingest", 500, 1000)
    bar("ingest", 1000, 1000)
    lines = out.getvalue().splitlines()
    assert "250/1,000 records" in lines[0] and "/s" not in lines[0]
    assert "500/1,000" in lines[1] and "25/s" in lines[1] and "ETA 0:20" in lines[1]
    assert lines[-1].startswith("ingest") and "1,000/1,000" in lines[-1]


def test_the_sample_history_in_events_is_what_the_generator_makes(tmp_path):
    main(["--customers", "300", "--out", str(tmp_path)])
    for name in ("customers.csv", "orders.csv"):
        assert (tmp_path / name).read_bytes() == (ROOT / "events" / "imports" / name).read_bytes(), name


def test_the_generated_orders_read_back_as_written(tmp_path):
    _, orders = generate(30, seed=2)
    write_shopify_orders(orders, tmp_path / "orders.csv")
    checked = check(SHOP, ImportKind.ORDERS, "orders.csv", opener(tmp_path / "orders.csv"), ReadOptions())
    assert checked.format == "shopify" and checked.records == len(orders) and checked.error_count == 0


def test_customers_stored_to_be_concluded_with_their_orders_are_concluded_once(tmp_path):
    people, orders = generate(30, seed=4)
    write_emma_customers(people, tmp_path / "customers.csv")
    write_shopify_orders(orders, tmp_path / "orders.csv")
    target, journal = Worker(), FileJournal(tmp_path / "j")
    importer = Importer(target, journal, batch_records=10)
    stored = importer.run(
        SHOP, ImportKind.CUSTOMERS, "c.csv", opener(tmp_path / "customers.csv"), ReadOptions(), conclude=False
    )
    assert stored.phase == "stored" and target.conclusions == [] and journal.pending(SHOP) == [stored.job]
    done = importer.run(SHOP, ImportKind.ORDERS, "o.csv", opener(tmp_path / "orders.csv"), ReadOptions())
    assert done.phase == "done" and done.with_jobs == [stored.job] and journal.pending(SHOP) == []
    assert done.profiles == 30  # customers without orders too, each once
    concluded = sum(n for n, batch, _ in target.conclusions if ":conclude:" in batch)
    assert concluded == 30
    with_segments = [d for d in target.rules_store.derived_states.values() if d.segments]
    assert len(with_segments) == 30


def test_a_file_without_orders_is_not_scored_twice(customers):
    path, _ = customers
    target = Worker()
    Importer(target, MemoryJournal(), batch_records=10).run(
        SHOP, ImportKind.CUSTOMERS, "customers.csv", opener(path), ReadOptions()
    )
    rescored = [c for c in target.conclusions if ":rescore:" in c[1]]
    assert len(rescored) == 1 and rescored[0][2]  # the refit said the prior stayed the default: no more batches


def test_the_sample_moved_in_time_is_the_same_history_exported_later(tmp_path):
    from datetime import timedelta

    from emma_local.lab.shop_history import shift

    sample = ROOT / "events" / "imports"
    shift(sample, tmp_path, timedelta(days=10, hours=1))
    for kind, name in ((ImportKind.CUSTOMERS, "customers.csv"), (ImportKind.ORDERS, "orders.csv")):
        with open(sample / name, "rb") as a, open(tmp_path / name, "rb") as b:
            from emma.imports.formats import read

            before = list(read(kind, name, a, ReadOptions()))
            after = list(read(kind, name, b, ReadOptions()))
        assert len(before) == len(after) > 100
        by = timedelta(days=10, hours=1)
        for x, y in zip(before, after, strict=True):
            for name in ("created_at", "placed_at", "cancelled_at"):
                was = getattr(x, name, None)
                assert getattr(y, name, None) == (was and was + by), name
            assert [c.at - by for c in y.consents] == [c.at for c in x.consents]


def test_a_refit_whose_answer_was_lost_still_rescores_everyone(tmp_path):
    """The first rescore batch refits the prior; if its answer is lost (a timeout, a crash) the batch is sent
    again, and the refit, compared with the prior the conclusion scored with (kept in the journal), still says
    the prior changed: every profile is scored again."""
    people, orders = generate(300, seed=8)
    write_emma_customers(people, tmp_path / "customers.csv")
    write_shopify_orders(orders, tmp_path / "orders.csv")

    class LosesTheRefitAnswer(Worker):
        lost = False

        def conclude(self, profile_ids, batch, refit, scored_with=None):
            answer = super().conclude(profile_ids, batch, refit, scored_with)
            if refit and not LosesTheRefitAnswer.lost:
                LosesTheRefitAnswer.lost = True
                raise ConnectionError("the answer never came")
            return answer

    target, journal = LosesTheRefitAnswer(), MemoryJournal()
    importer = Importer(target, journal, batch_records=100, conclude_batch=50)
    importer.run(SHOP, ImportKind.CUSTOMERS, "c.csv", opener(tmp_path / "customers.csv"), ReadOptions(), conclude=False)
    with pytest.raises(ConnectionError):
        importer.run(SHOP, ImportKind.ORDERS, "o.csv", opener(tmp_path / "orders.csv"), ReadOptions())
    done = importer.run(SHOP, ImportKind.ORDERS, "o.csv", opener(tmp_path / "orders.csv"), ReadOptions())
    assert done.phase == "done" and done.scored_with and done.scored_with["method"] == "default"
    rescored = [n for n, batch, _ in target.conclusions if ":rescore:" in batch]
    assert sum(rescored) - rescored[0] == done.profiles == 300  # the lost first batch was sent again, then all
    from emma.predict.model import score_profile
    from emma.predict.prior import Prior
    from emma.profiles.model import Profile

    fitted = Prior.model_validate(target.rules_store.priors[SHOP][0])
    assert fitted.method == "fitted"  # the history changed the prior: the rescore was needed
    for (shop, pid), derived in target.rules_store.derived_states.items():
        profile = Profile.model_validate(target.repo.profiles[(shop, pid)])
        assert derived.predictions == score_profile(profile, NOW, fitted).model_dump(mode="json"), pid
