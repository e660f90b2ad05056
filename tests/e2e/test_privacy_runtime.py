"""Export and erasure end to end on the local runtime, over real HTTP: a customer built from tracker
calls and a journey (a message sent by SMS with a short link, one deferred by quiet hours, timers,
a merged-away anonymous profile), exported with every item type, erased, and then a scan of every
table of the emulator finds nothing that names them; Shopify's compliance webhooks do the same."""

import json
import uuid
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from emma.adapters.keys import ITEM_TYPES
from emma.resources import EXPORTS_BUCKET, JOURNEYS_SOURCE, MESSAGES_QUEUE, TABLES
from emma.sources.signatures import sign_base64
from emma_local.config import load_config
from emma_local.runtime import LocalRuntime

pytestmark = pytest.mark.e2e
ADMIN = {"authorization": "Bearer ak_local_elektro_emma"}
OTHER_ADMIN = {"authorization": "Bearer ak_local_fahrrad_franz"}
KEY = ("wk_local_elektro_emma", "")
SECRET = "shpss_local_elektro_emma"
REAL = Path(__file__).resolve().parents[3] / "shared" / "real-payloads" / "shopify"
BERLIN = ZoneInfo("Europe/Berlin")
PHONE = {"product_id": "pixel-9", "price": 700.0, "category": "smartphones"}
# What a live customer of a few days holds. Not here: an idempotency record (live events leave none; imports and
# product events do), an event id archive (ids move there after 72 hours; tests/unit/ingest/test_outbox.py), the
# erased event ids (the shop's, written by an erasure; tests/integration/test_privacy_store.py).
NOT_HELD_LIVE = {"idempotency record", "event id archive", "erased event ids"}
EXPORTED = {i.name for i in ITEM_TYPES if i.privacy in ("customer", "scrubbed")} - NOT_HELD_LIVE


@pytest.fixture(scope="module")
def rt():
    runtime = LocalRuntime(load_config(), port=0, log_level="ERROR", environments=0, schedule=False).start()
    yield runtime
    runtime.stop()


def call(rt, kind, body):
    body.setdefault("messageId", str(uuid.uuid4()))
    resp = requests.post(f"{rt.api_url}/v1/{kind}", json=body, auth=KEY, timeout=10)
    assert resp.status_code == 200, resp.text
    rt.drain()


def profile(rt, ref, headers=ADMIN):
    return requests.get(f"{rt.api_url}/v1/profiles/{ref}", headers=headers, timeout=10)


def to_berlin(rt, hour, minute=0, min_hours=0.0):
    """Move the local clock to the next hour:minute in Berlin at least ``min_hours`` from now."""
    now = rt.now()
    target = (now + timedelta(hours=min_hours)).astimezone(BERLIN).replace(hour=hour, minute=minute, second=0)
    while target < now + timedelta(hours=min_hours):
        target += timedelta(days=1)
    rt.advance(seconds=(target - now).total_seconds())


def leftovers(rt, needles):
    """Every item in every table of the emulator whose text holds one of ``needles``."""
    ddb = rt.emulator.session().client("dynamodb")
    found = []
    for table in TABLES:
        for page in ddb.get_paginator("scan").paginate(TableName=table.name):
            for item in page["Items"]:
                text = json.dumps(item, default=str)
                hits = [n for n in needles if n in text]
                if hits:
                    found.append((table.name, item["pk"]["S"], item["sk"]["S"], hits))
    return found


def split_into_experiment(rt, user):
    """The journeys' announcement that a split put the customer in a variant (what newsletter-interest's split
    publishes after an opened and clicked newsletter): analytics keeps the customer's assignment."""
    profile_id = profile(rt, f"cid:{user}").json()["profile_id"]
    now = rt.now().isoformat()
    event = {
        "id": f"journey:{user}:split",
        "type": "journey.split",
        "shop": "elektro-emma",
        "occurred_at": now,
        "received_at": now,
        "source": {"kind": "emma", "name": "journey:newsletter-interest"},
        "customer": {"profile_id": profile_id},
        "properties": {"journey": "newsletter-interest", "execution": f"x-{user}", "step": "which-content"}
        | {"variant": "digest"},
    }
    entry = {
        "Source": JOURNEYS_SOURCE,
        "DetailType": "journey.split",
        "Detail": json.dumps(event),
        "EventBusName": rt.resources.bus_name,
    }
    assert not rt.emulator.session().client("events").put_events(Entries=[entry])["FailedEntryCount"]
    rt.drain()


def reward_with_a_coupon(rt, user):
    """A promised reward with a coupon (referral-reward: never withheld, so no control group can leave it out):
    the shop (its Shopify stand-in) creates the code and Emma keeps the code's record, naming the customer."""
    call(
        rt,
        "identify",
        {
            "userId": user,
            "context": {"consent": {"email": {"granted": True, "double_opt_in": True, "wording": "Belohnung"}}},
        },
    )
    profile_id = profile(rt, f"cid:{user}").json()["profile_id"]
    request = {
        "key": f"privacy-test:{user}:reward",
        "shop": "elektro-emma",
        "profile_id": profile_id,
        "template": "referral-reward",
        "channel": "email",
        "transactional": True,
        "requested_at": rt.now().isoformat(),
        "journey": "smartphone-onboarding",
    }
    sqs = rt.emulator.session().client("sqs")
    sqs.send_message(QueueUrl=rt.resources.queue_urls[MESSAGES_QUEUE.logical_id], MessageBody=json.dumps(request))
    rt.drain()


def build_customer(rt, user, anon, email, phone):
    call(rt, "page", {"anonymousId": anon, "name": "Home", "properties": {"url": "https://shop.example/"}})
    to_berlin(rt, 11)
    call(
        rt,
        "track",
        {
            "userId": user,
            "event": "Order Completed",
            "properties": {"order_id": f"{user}-o", "total": 700.0, "currency": "EUR", "products": [PHONE]},
        },
    )
    rt.advance(minutes=10)  # not in the order's second: the absence trigger counts that second as "ordered"
    call(
        rt,
        "identify",
        {
            "userId": user,
            "anonymousId": anon,
            "traits": {"email": email, "phone": phone, "first_name": "Erika"},
            "context": {"consent": {"sms": {"granted": True, "wording": "SMS: ja"}}},
        },
    )
    call(
        rt,
        "track",
        {
            "userId": user,
            "event": "Product Added",
            "properties": {"product_id": "case-1", "price": 19.0, "currency": "EUR"},
        },
    )
    rt.settle()
    split_into_experiment(rt, user)
    rt.advance(hours=3)  # the cart is abandoned: the reminder goes out by SMS, with a short link
    rt.run_schedule(only={"scheduler"})
    rt.settle()
    reward_with_a_coupon(rt, user)  # a code made in the shop for the customer: its record names them
    to_berlin(rt, 23, 30, min_hours=24)  # the next message of the journey comes at night: deferred
    rt.run_schedule(only={"scheduler"})
    rt.settle()


def test_export_holds_every_item_type_and_erasure_leaves_nothing_that_names_the_customer(rt):
    user, anon, email, phone = "pv-1", "anon-pv-1", "erase.me@example.de", "+4915199999901"
    build_customer(rt, user, anon, email, phone)
    before = profile(rt, f"cid:{user}").json()
    assert before["merged_from"], "the anonymous visitor's profile was merged into the customer's"
    statuses = {m["status"] for m in before["messages"]}
    assert {"sent", "deferred"} <= statuses, before["messages"]

    # Another shop's admin key: 403 when it names this shop, 404 for the customer otherwise; nothing deleted.
    assert (
        requests.delete(
            f"{rt.api_url}/v1/profiles/cid:{user}?shop=elektro-emma", headers=OTHER_ADMIN, timeout=10
        ).status_code
        == 403
    )
    assert requests.delete(f"{rt.api_url}/v1/profiles/cid:{user}", headers=OTHER_ADMIN, timeout=10).status_code == 404
    assert (
        requests.get(f"{rt.api_url}/v1/profiles/cid:{user}/export", headers=OTHER_ADMIN, timeout=10).status_code == 404
    )
    assert profile(rt, f"cid:{user}").status_code == 200

    exported = requests.get(f"{rt.api_url}/v1/profiles/{email}/export", headers=ADMIN, timeout=10)
    assert exported.status_code == 200, exported.text
    document = exported.json()
    assert set(document["items"]) >= EXPORTED, sorted(EXPORTED - set(document["items"]))
    assert set(document["summary"]["profile_ids"]) == {before["profile_id"], *before["merged_from"]}
    messages = document["items"]["message log entry"]
    assert any(m.get("preview") and m.get("links") for m in messages)  # what the SMS said, its short links
    assert any(m["status"] == "deferred" for m in messages)
    assert [c["doc"]["code"] for c in document["items"]["coupon"]] == [m["coupon"] for m in messages if m.get("coupon")]
    assert document["consent"][before["profile_id"]]["sms"]["proof"]["wording"] == "SMS: ja"

    erased = requests.delete(f"{rt.api_url}/v1/profiles/cid:{user}", headers=ADMIN, timeout=30)
    assert erased.status_code == 200, erased.text
    job = erased.json()["job"]
    assert job["status"] == "done" and job["suppressed"] == 2 and job["stopped_executions"] >= 1
    assert job["counts"]["profile"] == 1 + len(before["merged_from"])
    for ref in (f"cid:{user}", email, f"anon:{anon}", before["profile_id"], *before["merged_from"]):
        assert profile(rt, ref).status_code == 404, ref
    needles = [user, anon, email, phone.lstrip("+"), before["profile_id"], *before["merged_from"]]
    assert leftovers(rt, needles) == []
    journeys = {j["journey"] for j in before["journeys"]}
    assert journeys, "the customer was in journeys"
    running = [e for j in journeys for e in rt.executions(j, status="RUNNING") if before["profile_id"] in e["name"]]
    assert running == []

    again = requests.delete(f"{rt.api_url}/v1/profiles/cid:{user}", headers=ADMIN, timeout=30)
    assert again.status_code == 200 and again.json()["job"]["job_id"] == job["job_id"]
    trail = requests.get(f"{rt.api_url}/v1/privacy/audit", headers=ADMIN, timeout=10).json()["entries"]
    assert [e["action"] for e in trail if e["subject"] == job["subject"]] == ["erase"]  # once, however often asked
    assert job["actor"] in {e["actor"] for e in trail if e["action"] == "export"}  # the admin key's id
    assert all(email not in json.dumps(e) and user not in json.dumps(e) for e in trail)

    # The same address comes back with an opt-in that was not confirmed: it counts only once the customer
    # confirms it by double opt-in (Emma sends the confirmation mail), whatever the shop requires.
    call(
        rt,
        "identify",
        {
            "userId": user,
            "traits": {"email": email},
            "context": {"consent": {"email": {"granted": True, "wording": "Newsletter"}}},
        },
    )
    rt.settle()
    back = profile(rt, f"cid:{user}").json()
    assert back["consent"]["email"]["granted"] is True and back["consent"]["email"]["confirm_required"] is True
    confirmations = [m["status"] for m in back["messages"] if m["template"] == "doi-confirmation"]
    assert confirmations.count("sent") == 1, back["messages"]  # one mail per grant (docs/dispatch.md)
    call(
        rt,
        "identify",
        {
            "userId": user,
            "traits": {"email": email},
            "context": {"consent": {"email": {"granted": True, "double_opt_in": True}}},
        },
    )
    assert profile(rt, f"cid:{user}").json()["consent"]["email"]["proof"]["double_opt_in"] is True


def shopify(rt, topic, body, delivery, secret=SECRET):
    data = json.dumps(body).encode()
    return requests.post(
        f"{rt.api_url}/webhooks/shopify/elektro-emma",
        data=data,
        timeout=10,
        headers={
            "content-type": "application/json",
            "x-shopify-topic": topic,
            "x-shopify-webhook-id": delivery,
            "x-shopify-shop-domain": "elektro-emma.myshopify.com",
            "x-shopify-hmac-sha256": sign_base64(secret, data),
        },
    )


def real(name):
    return json.loads((REAL / f"{name}.docs-2026-04.json").read_text())


def test_shopify_customers_redact_and_data_request_as_shopify_sends_them(rt):
    customer = {**real("customers_create"), "id": 555001, "email": "redact.me@example.de", "phone": "+4915199999902"}
    assert shopify(rt, "customers/create", customer, "c-555001").status_code == 200
    rt.settle()
    before = profile(rt, "cid:555001").json()

    request = real("customers_data_request")
    request["customer"] = {"id": 555001, "email": "redact.me@example.de", "phone": "+4915199999902"}
    request["shop_domain"] = "elektro-emma.myshopify.com"
    assert shopify(rt, "customers/data_request", request, "dr-1", secret="wrong").status_code == 401
    answer = shopify(rt, "customers/data_request", request, "dr-1")
    assert answer.status_code == 200, answer.text
    job_id = answer.json()["job_id"]
    assert shopify(rt, "customers/data_request", request, "dr-1").json()["job_id"] == job_id  # a retry
    rt.run_schedule(only={"privacy"}, force=True)
    job = requests.get(f"{rt.api_url}/v1/privacy/jobs/{job_id}", headers=ADMIN, timeout=10).json()["job"]
    assert job["status"] == "done" and job["counts"]["profile"] == 1
    document = requests.get(f"{rt.api_url}/v1/privacy/jobs/{job_id}/export", headers=ADMIN, timeout=10).json()
    assert document["profile_id"] == before["profile_id"]

    redact = real("customers_redact")
    redact["customer"] = request["customer"]
    redact["shop_domain"] = "elektro-emma.myshopify.com"
    assert shopify(rt, "customers/redact", redact, "rd-1", secret="wrong").status_code == 401
    assert profile(rt, "cid:555001").status_code == 200  # a bad signature erased nothing
    answer = shopify(rt, "customers/redact", redact, "rd-1")
    assert answer.status_code == 200, answer.text
    rt.run_schedule(only={"privacy"}, force=True)
    job = requests.get(f"{rt.api_url}/v1/privacy/jobs/{answer.json()['job_id']}", headers=ADMIN, timeout=10).json()
    assert job["job"]["status"] == "done" and job["job"]["actor"] == "shopify:customers/redact"
    assert profile(rt, "cid:555001").status_code == 404
    assert profile(rt, "redact.me@example.de").status_code == 404
    # the data request's export went with the customer: not in the bucket, not served any more
    assert job["job"]["counts"]["data request export"] == 1
    s3 = rt.emulator.session().client("s3")
    stored = [o["Key"] for o in s3.list_objects_v2(Bucket=EXPORTS_BUCKET.name).get("Contents", [])]
    assert not [k for k in stored if k.startswith("elektro-emma/") and not k.startswith("elektro-emma/_/")]
    gone = requests.get(f"{rt.api_url}/v1/privacy/jobs/{job_id}/export", headers=ADMIN, timeout=10)
    assert gone.status_code == 404
    assert leftovers(rt, ["redact.me", "555001", "4915199999902", before["profile_id"]]) == []


def test_the_privacy_cli_exports_and_erases_through_the_admin_api(rt, tmp_path):
    import io

    from emma_local.privacy_cli import run_privacy

    call(rt, "identify", {"userId": "cli-1", "traits": {"email": "cli.kunde@example.de", "first_name": "Cli"}})

    def run(command, target=None, **kw):
        out, err = io.StringIO(), io.StringIO()
        code = run_privacy(
            command,
            target,
            api=rt.api_url,
            admin_key="ak_local_elektro_emma",
            stdout=out,
            stderr=err,
            stdin=io.StringIO(""),
            sleep=lambda s: None,
            **kw,
        )
        return code, out.getvalue(), err.getvalue()

    code, out, _ = run("export", "cli.kunde@example.de", out=tmp_path / "export.json")
    assert code == 0 and "export.json" in out
    assert json.loads((tmp_path / "export.json").read_text())["profiles"][0]["customer_ids"] == ["cli-1"]
    code, _, err = run("erase", "cid:cli-1")  # no terminal to confirm on, no --yes
    assert code == 2 and "--yes" in err and profile(rt, "cid:cli-1").status_code == 200
    code, _, err = run("erase", "cid:cli-1", shop="fahrrad-franz", yes=True)
    assert code == 2 and "403" in err and profile(rt, "cid:cli-1").status_code == 200
    code, out, _ = run("erase", "cid:cli-1", yes=True)
    assert code == 0 and "erased" in out and "profile 1" in out
    assert profile(rt, "cid:cli-1").status_code == 404
    job_id = out.rsplit("job ", 1)[1].strip()
    code, out, _ = run("job", job_id)
    assert code == 0 and json.loads(out)["status"] == "done"
    code, out, _ = run("audit")
    assert code == 0 and "erase" in out and "export" in out
    code, _, err = run("export", "nobody@example.de")
    assert code == 2 and "404" in err


def test_an_admin_consent_change_is_recorded_with_proof_and_audited(rt):
    call(rt, "identify", {"userId": "adm-1", "traits": {"email": "adm.kunde@example.de"}})
    url = f"{rt.api_url}/v1/profiles/cid:adm-1/consent"
    bad = requests.put(url, json={"channel": "fax", "granted": False}, headers=ADMIN, timeout=10)
    assert bad.status_code == 422 and bad.json()["message"].startswith("channel")
    bad = requests.put(url, json={"channel": "sms", "granted": True}, headers=ADMIN, timeout=10)
    assert bad.status_code == 422 and "wording" in bad.json()["message"]
    assert requests.put(url, data=b"{", headers=ADMIN, timeout=10).status_code == 400
    assert (
        requests.put(url, json={"channel": "sms", "granted": False}, headers=OTHER_ADMIN, timeout=10).status_code == 404
    )
    ok = requests.put(
        url,
        json={"channel": "sms", "granted": True, "wording": "SMS-Angebote: ja (Telefon)"},
        headers=ADMIN,
        timeout=10,
    )
    assert ok.status_code == 200, ok.text
    state = ok.json()["consent"]
    assert state["granted"] is True and state["proof"]["source"].startswith("admin:key:")
    assert profile(rt, "cid:adm-1").json()["consent"]["sms"]["proof"]["wording"] == "SMS-Angebote: ja (Telefon)"
    trail = requests.get(f"{rt.api_url}/v1/privacy/audit", headers=ADMIN, timeout=10).json()["entries"]
    (entry,) = [e for e in trail if e["action"] == "consent"]
    assert entry["detail"] == {"channel": "sms", "granted": True, "double_opt_in": False}
    assert "adm" not in json.dumps(entry)
