"""What the ingest function's first request builds lazily gives what the eager parts gave: one event type's
validation (emma.events.model.event_adapter) validates and refuses as the canonical union does; the ingest
settings read without pydantic_settings (emma.wiring.settings) are IngestSettings' values and errors; a lazy
boto3 client is created on its first use only, once."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
from pydantic import ValidationError

from emma.config import IngestSettings
from emma.events.model import EVENT_ADAPTER, EventType, event_adapter
from emma.wiring.aws import LazyClient
from emma.wiring.settings import IngestEnvSettings, read_ingest_settings

T = "2026-01-05T10:00:00+01:00"


def _event(type_: str, **fields) -> dict:
    return {
        "id": "shopify:d1",
        "shop": "elektro-emma",
        "type": type_,
        "occurred_at": T,
        "received_at": T,
        "source": {"kind": "shopify", "name": "orders/create", "delivery_id": "d1"},
        "customer": {"customer_id": 7, "email": " Anna@Example.DE "},
        **fields,
    }


ORDER = {"order_id": "1001", "total": "99.90", "currency": "EUR", "items": [{"product_id": "p1", "price": "99.9"}]}
CASES = [
    _event("order.placed", properties=ORDER),
    _event("order.paid", properties=ORDER),
    _event("order.placed", properties={**ORDER, "currency": "eur", "total": "x"}),  # two errors
    _event("order.placed", properties={**ORDER, "surprise": 1}),  # extra field
    _event("order.placed"),  # properties missing
    _event("customer.registered", properties={"first_name": "Anna", "traits": {"vip": True}}),
    _event("customer.updated", customer={"email": "not an address", "phone": "12"}),  # kept as invalid
    _event("customer.identified", customer={"customer_id": "x" * 300}),
    _event("consent.changed", properties={"channel": "email", "granted": True, "proof": {"source": "s", "at": T}}),
    _event("consent.changed", properties={"channel": "email", "topic": "news", "granted": True, "proof": {}}),
    _event("page.viewed", occurred_at="0001-01-01T00:00:00+01:00"),
    _event("catalog.product_upserted", properties={"product": {"product_id": "p1"}}),
    _event("email.bounced", properties={"channel": "email"}, shop="Not A Shop"),
    _event("journey.ended", properties={"journey": "j", "status": "nope"}),
    {**_event("cart.updated"), "schema_version": "2"},
]


def _outcome(adapter, data):
    try:
        return "ok", type(adapter.validate_python(data)).__name__, adapter.validate_python(data).model_dump(mode="json")
    except ValidationError as exc:
        return "refused", exc.error_count(), exc.json(include_url=False)  # a ValueError in ctx as its text


@pytest.mark.parametrize("data", CASES, ids=lambda d: d["type"])
def test_one_event_types_validation_is_the_canonical_unions(data):
    assert _outcome(event_adapter(data["type"]), data) == _outcome(EVENT_ADAPTER, data)


def test_every_event_type_has_its_own_validation_and_an_unknown_type_the_unions():
    for type_ in EventType:
        adapter = event_adapter(type_)
        assert adapter is not EVENT_ADAPTER and adapter is event_adapter(str(type_))  # built once per model
    assert event_adapter("no.such-type") is EVENT_ADAPTER
    data = _event("order.placed", properties=ORDER) | {"type": "no.such-type"}
    assert _outcome(event_adapter("no.such-type"), data) == _outcome(EVENT_ADAPTER, data)


REQUIRED = {"EMMA_PROFILES_TABLE": "emma-profiles", "EMMA_CATALOG_TABLE": "emma-catalog", "EMMA_EVENT_BUS": "bus"}
ENVIRONMENTS = [
    REQUIRED,
    REQUIRED | {"EMMA_EVENT_LOG_CAP": "1000", "EMMA_SHOP_CACHE_SECONDS": "0", "EMMA_SHOP_SECRET_PREFIX": "x/"},
    REQUIRED | {"OTHER": "ignored", "EMMA_IDEMPOTENCY_TTL_DAYS": " 7 "},
    {"emma_profiles_table": "lower-case", "Emma_Catalog_Table": "mixed-case", "EMMA_EVENT_BUS": "bus"},
    {},
    {"EMMA_PROFILES_TABLE": "ab", "EMMA_CATALOG_TABLE": "", "EMMA_EVENT_BUS": ""},
    REQUIRED | {"EMMA_EVENT_LOG_CAP": "5", "EMMA_EVENT_LOG_TTL_DAYS": "0", "EMMA_SHOP_CACHE_SECONDS": "soon"},
    REQUIRED | {"EMMA_EVENT_LOG_CAP": "5001", "EMMA_IDEMPOTENCY_TTL_DAYS": "1.5"},
    # populate_by_name: a variable named like the field, used where the field's own variable is not set
    {"profiles_table": "by-name", "CATALOG_TABLE": "by-name-too", "EMMA_EVENT_BUS": "bus", "event_log_cap": "20"},
    REQUIRED | {"profiles_table": "loses", "Event_Log_Cap": "7", "EMMA_SHOP_CACHE_SECONDS": "1"},
    {"profiles_table": "ab", "catalog_table": "", "event_bus": "b", "shop_secret_prefix": "p/"},
]


def _settings(read, environ, monkeypatch):
    for name, field in IngestSettings.model_fields.items():
        for variable in (str(field.validation_alias), name):  # in any case
            for spelling in {variable, variable.lower(), variable.upper()}:
                monkeypatch.delenv(spelling, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    try:
        return "ok", read().model_dump()
    except ValidationError as exc:
        return "refused", str(exc), exc.json(include_url=False)


@pytest.mark.parametrize("environ", ENVIRONMENTS)
def test_the_ingest_settings_read_without_pydantic_settings_are_ingest_settings(environ, monkeypatch):
    assert _settings(read_ingest_settings, environ, monkeypatch) == _settings(IngestSettings, environ, monkeypatch)


def test_the_ingest_settings_twin_declares_ingest_settings_fields():
    mine, theirs = IngestEnvSettings.model_fields, IngestSettings.model_fields
    assert list(mine) == list(theirs)
    for name, field in mine.items():
        other = theirs[name]
        assert (field.annotation, field.validation_alias, field.default) == (
            other.annotation,
            other.validation_alias,
            other.default,
        ), name
        assert [repr(m) for m in field.metadata] == [repr(m) for m in other.metadata], name
    for key in ("extra", "frozen", "populate_by_name", "validate_default", "arbitrary_types_allowed"):
        assert IngestEnvSettings.model_config.get(key) == IngestSettings.model_config.get(key), key
    # what read_ingest_settings assumes of how pydantic_settings reads IngestSettings
    config = IngestSettings.model_config
    assert not config.get("env_prefix") and not config.get("case_sensitive") and config.get("env_ignore_empty") is False
    assert config.get("env_file") is None and config.get("secrets_dir") is None
    assert config.get("env_parse_none_str") is None and config.get("env_nested_delimiter") is None


def test_a_lazy_client_is_created_on_first_use_once():
    made = []

    class Client:
        def put_events(self, **kwargs):
            return {"FailedEntryCount": 0, "got": kwargs}

    def create():
        made.append(Client())
        return made[-1]

    lazy = LazyClient(create)
    assert made == []
    assert lazy.put_events(Entries=[]) == {"FailedEntryCount": 0, "got": {"Entries": []}}
    threads = [threading.Thread(target=lambda: lazy.put_events()) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1
    with pytest.raises(AttributeError):
        lazy.no_such_operation  # noqa: B018


CONCURRENT_FIRST_USE = """
import json, sys, threading
from emma.events.model import EVENT_ADAPTER, event_adapter
cases = json.loads(sys.argv[1])
start = threading.Barrier(16)
results, failures = [], []

def work(n):
    start.wait()
    try:
        for data in cases[n % 2 :] + cases:
            adapter = event_adapter(data["type"]) if n % 2 else EVENT_ADAPTER
            results.append(adapter.validate_python(data).model_dump_json())
    except Exception as exc:  # noqa: BLE001
        failures.append(repr(exc))

threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"failures": failures, "distinct": len(set(results)), "count": len(results)}))
"""


def test_event_models_built_on_first_use_by_many_threads_at_once():
    """The models are built on first use: threads of the local runtime (or the ingest service's pool) may
    all be first at once, through the union or one type's adapter."""
    cases = [_event("order.placed", properties=ORDER), _event("customer.registered"), _event("page.viewed")]
    done = subprocess.run(
        [sys.executable, "-c", CONCURRENT_FIRST_USE, json.dumps(cases)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["failures"] == [] and found["distinct"] == len(cases) and found["count"] == 16 * 5 + 8
