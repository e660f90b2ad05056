"""What a cold start of the ingest function imports, in fresh interpreters (this process has imported
everything long ago): the tracking and webhook routes at import; the other routers, with the
resolver's validation, on the first request for one of them; the same routes, preflight answers and
OpenAPI document either way."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# Never imported for routing alone, nor by a tracking or webhook request.
ADMIN_ONLY = (
    "jinja2",
    "emma.analytics",
    "emma.campaigns",
    "emma.adapters.campaigns",
    "emma.imports",
    "ingest.routes.console",
    "ingest.routes.analytics",
    "ingest.routes.campaigns",
    "ingest.routes.imports",
    "ingest.routes.coupons",
    "ingest.routes.privacy",
    "ingest.routes.survey",
    "ingest.routes.preferences",
    "ingest.schemas",
    "ingest.openapi",
)
# Not even imported for routing: a request brings in what it needs.
ON_FIRST_REQUEST = ("aws_xray_sdk", "pydantic", "pydantic_settings", "emma.events.model", "emma.wiring", "emma.sources")


def run(code: str) -> dict:
    """``code`` after ``import ingest.handler`` in a fresh interpreter; it prints one JSON line."""
    env = {
        "PATH": "",
        "PYTHONPATH": f"{ROOT / 'functions'}:{ROOT / 'tests'}",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "AWS_DEFAULT_REGION": "eu-central-1",
    }
    prelude = (
        "import json, sys\n"
        "import ingest.handler as handler\n"
        "def loaded(prefixes):\n"
        "    return sorted(m for m in sys.modules if m.startswith(tuple(prefixes)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", prelude + code], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _prefixes(names):
    return [n for name in names for n in (name, name + ".")]


def test_importing_the_handler_registers_the_tracking_and_webhook_routes_only():
    found = run(
        f"admin = loaded({_prefixes(ADMIN_ONLY)!r}); later = loaded({_prefixes(ON_FIRST_REQUEST)!r})\n"
        "routes = [(r.method, r.path) for r in (*handler._app._static_routes, *handler._app._dynamic_routes)]\n"
        "print(json.dumps({'admin': admin, 'later': later, 'routes': routes, 'routed': handler._routed}))"
    )
    assert found["admin"] == [] and found["later"] == []
    assert found["routed"] is False
    paths = {path for _, path in found["routes"]}
    assert {"/v1/track", "/v1/t", "/v1/batch", "/v1/b", "/v1/import", "/v1/m", "/webhooks/<platform>/<shop>"} <= paths
    assert "/v1/openapi.json" in paths  # a GET with CORS: the preflight answer names GET from the start
    assert not any(path.startswith(("/v1/profiles", "/console", "/v1/campaigns")) for path in paths)


def test_the_route_table_preflight_and_validation_once_every_router_is_registered():
    found = run(
        "before = sorted(handler._app._cors_methods)\n"
        "app = handler.app  # what the CDK app and `emma schema` read\n"
        "routes = [(r.method, r.path, r.func.__module__) for r in (*app._static_routes, *app._dynamic_routes)]\n"
        "static = [r.func.__module__ for r in app._static_routes]\n"
        "dynamic = [r.func.__module__ for r in app._dynamic_routes]\n"
        "print(json.dumps({'before': before, 'after': sorted(app._cors_methods), 'routes': routes,\n"
        "    'static': static, 'dynamic': dynamic, 'order': handler.ROUTERS,\n"
        "    'validation': app._enable_validation, 'same': app is handler._app, 'routed': handler._routed}))"
    )
    assert found["before"] == found["after"] == ["GET", "OPTIONS", "POST"]  # preflights answered alike
    assert found["same"] and found["routed"] and found["validation"]
    # Routers in the order they were always included (tracker, webhooks, then ROUTERS), within the static
    # and within the dynamic routes; the order matters only where routes overlap, and to the document.
    order = ["tracker", "webhooks", *found["order"]]
    for routes in (found["static"], found["dynamic"]):
        ranks = [order.index(module.rsplit(".", 1)[-1]) for module in routes if module != "ingest.handler"]
        assert ranks == sorted(ranks)
    assert set(order) == {module.rsplit(".", 1)[-1] for module in found["static"] + found["dynamic"]} - {"handler"}
    assert len(found["routes"]) == len(set((m, p) for m, p, _ in found["routes"]))  # each route once
    assert "OPTIONS" not in {method for method, _, _ in found["routes"]}  # preflights: the resolver's own answer


WEBHOOK = """
from emma_local.fakes import FixedClock, InMemoryCatalog, InMemoryProfileRepository, InMemoryPublisher
from emma_local.fakes import StaticShopDirectory
from emma_local.lambdas import LambdaContext, api_event, response_body
from emma.ingest.service import IngestService
from emma.shops import ShopConfig
from emma.sources.signatures import sign_base64
from emma.wiring.ingest import Intake
from ingest import deps

shop = ShopConfig(shop="s1", write_keys=("wk_1",), admin_keys=("ak_1",), webhook_secrets={"shopify": "sec"})
repo = InMemoryProfileRepository()
service = IngestService(repo, InMemoryCatalog(repo), InMemoryPublisher(), FixedClock(), sleep=lambda s: None)
intake = Intake(service, StaticShopDirectory([shop]))
deps.intake = lambda: intake
before = set(sys.modules)

def call(method, path, body=b"", headers=None, query=""):
    headers = {"content-type": "application/json", **(headers or {})}
    result = handler.lambda_handler(api_event(method, path, query, headers, body), LambdaContext("ingest"))
    return result["statusCode"], response_body(result).decode()

body = json.dumps({"id": 1, "email": "a@example.de", "customer": {"id": 7, "email": "a@example.de"},
    "line_items": [], "total_price": "10.00", "currency": "EUR", "created_at": "2026-01-01T00:00:00Z"}).encode()
signed = {"x-shopify-topic": "orders/create", "x-shopify-webhook-id": "d1",
    "x-shopify-hmac-sha256": sign_base64("sec", body)}
webhook = call("POST", "/webhooks/shopify/s1", body, signed)
tracked = call("POST", "/v1/track", json.dumps({"userId": "7", "event": "x", "writeKey": "wk_1"}).encode())
asking = {"origin": "https://shop.example", "access-control-request-method": "POST"}
preflight = handler.lambda_handler(api_event("OPTIONS", "/v1/track", "", asking, b""), LambdaContext("ingest"))
new = sorted(m for m in set(sys.modules) - before if m.startswith(tuple(PREFIXES)))
routed_after_hot = handler._routed
# an admin route: every router registered, then the request validated (limit is 1-200)
admin = call("GET", "/v1/segments/vip/members", headers={"authorization": "Bearer ak_1"}, query="limit=0")
print(json.dumps({"webhook": webhook, "tracked": tracked, "preflight": preflight["statusCode"],
    "allow": preflight["headers"].get("Access-Control-Allow-Methods"), "new": new,
    "routed_after_hot": routed_after_hot, "admin": admin, "routed": handler._routed}))
"""


def test_tracking_and_webhook_requests_never_import_the_admin_routers():
    found = run(f"PREFIXES = {_prefixes(ADMIN_ONLY)!r}\n" + WEBHOOK)
    assert found["webhook"][0] == 200, found["webhook"]
    assert found["tracked"][0] == 200, found["tracked"]
    assert found["preflight"] == 204
    assert found["new"] == []  # nothing of the admin side, no jinja2, analytics or campaigns
    assert found["routed_after_hot"] is False
    assert found["admin"][0] == 400, found["admin"]  # validated as before: the same 400, naming the parameter
    answer = json.loads(found["admin"][1])
    assert answer["error"] == "invalid_payload" and "limit" in answer["message"], answer
    assert found["routed"] is True
