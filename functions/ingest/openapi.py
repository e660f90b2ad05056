"""The OpenAPI document: Powertools generates it from the routes; we add the request bodies the
routes parse themselves and the two security schemes. Committed as docs/openapi.json."""

from __future__ import annotations

import copy
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from emma import __version__
from ingest import schemas as models
from ingest.schemas import ADMIN_REQUEST_BODIES, TRACKER_REQUEST_BODIES, WEBHOOK_HEADERS, WebhookPing
from ingest.tracking import RESPONSE_MODELS

REF = "#/components/schemas/{model}"
SECURITY_SCHEMES = {
    "writeKey": {
        "type": "http",
        "scheme": "basic",
        "description": "The shop's tracker write key as the Basic username, empty password (Segment)",
    },
    "adminKey": {"type": "http", "scheme": "bearer", "description": "The shop's admin key"},
}


def openapi_document(app: APIGatewayHttpResolver) -> dict[str, Any]:
    doc = app.get_openapi_schema(
        title="Emma ingest API", version=__version__, summary="Events in, one profile per customer"
    ).model_dump(mode="json", by_alias=True, exclude_none=True)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    components["securitySchemes"] = SECURITY_SCHEMES
    for name in RESPONSE_MODELS:  # named by the tracking and webhook routes' answers (ingest.tracking)
        schema = getattr(models, name).model_json_schema(mode="serialization", ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
    for (path, method), body in TRACKER_REQUEST_BODIES.items():
        operation = doc["paths"][path][method]
        name = body["title"]
        schemas[name] = body
        ref = {"$ref": f"#/components/schemas/{name}"}
        operation["requestBody"] = {
            "required": True,
            # analytics.js sends text/plain (no CORS preflight); any Content-Type is read as JSON
            "content": {"application/json": {"schema": ref}, "text/plain": {"schema": ref}},
        }
        operation["security"] = [{"writeKey": []}]
    for (path, method), model in ADMIN_REQUEST_BODIES.items():
        operation = doc["paths"][path][method]
        name = f"{model.__name__}Request"
        schemas.update(_request_schemas(model, name))
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }
        operation["security"] = [{"adminKey": []}]
    for path, item in doc["paths"].items():
        if path.startswith(
            (
                "/v1/profiles",
                "/v1/segments",
                "/v1/privacy",
                "/v1/imports",
                "/v1/campaigns",
                "/v1/analytics",
                "/v1/coupons",
            )
        ):
            for operation in item.values():
                operation["security"] = [{"adminKey": []}]
        if path.startswith("/webhooks"):
            _webhook(item["post"], schemas)
        for operation in item.values():
            _validation_errors_are_400(operation)
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    _profile_view(doc, schemas)
    return doc


def _profile_view(doc: dict[str, Any], schemas: dict[str, Any]) -> None:
    """GET /v1/profiles/{ref} answers ``Profile.view()`` plus what the route adds, not the stored model:
    traits as name -> value, the derived fields, the journeys, the message log and the history."""
    view = copy.deepcopy(schemas["Profile"])
    view["title"] = "ProfileView"
    props = view["properties"]
    props.pop("log_seq", None)
    view["required"] = [r for r in view.get("required", []) if r != "log_seq"]
    props["traits"] = {"type": "object", "description": "trait name -> its newest value", "additionalProperties": True}
    props["orders"] = {"$ref": "#/components/schemas/OrderStatsView"}
    orders = copy.deepcopy(schemas["OrderStats"])
    orders["title"] = "OrderStatsView"
    orders["properties"]["average_basket"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    schemas["OrderStatsView"] = orders
    anything = {"type": "object", "additionalProperties": True}
    derived = {
        "email": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "the address Emma mails"},
        "customer_id": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "the shop's id"},
        "known": {"type": "boolean", "description": "an email or a shop customer id (not only a visitor)"},
        "segments": {"type": "array", "items": {"type": "string"}},
        "lifecycle_stage": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "loyalty_tier": {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "description": "the loyalty tier (a segment of kind loyalty, e.g. tier-gold), null without one",
        },
        "rfm": {"anyOf": [{"type": "object", "additionalProperties": {"type": "integer"}}, {"type": "null"}]},
        "predictions": {"anyOf": [anything, {"type": "null"}]},
        "journeys": {"type": "array", "items": anything, "description": "newest first"},
        "messages": {"type": "array", "items": anything, "description": "the message log, newest first"},
        "history": {"type": "array", "items": anything, "description": "newest events first (when history > 0)"},
    }
    props.update(derived)
    view["required"] = sorted({*view["required"], "email", "customer_id", "known", "segments", "journeys", "messages"})
    schemas["ProfileView"] = view
    ok = doc["paths"]["/v1/profiles/{ref}"]["get"]["responses"]["200"]["content"]["application/json"]
    ok["schema"] = {"$ref": "#/components/schemas/ProfileView"}


# What a request may send as an amount: a decimal string or a whole number (floats with up to four
# places are read too, but a float's binary digits are not something a document can promise).
MONEY_INPUT = {
    "anyOf": [
        {"type": "string", "pattern": r"^-?[0-9]{1,10}(\.[0-9]{1,4})?$"},
        {"type": "integer", "minimum": -9_999_999_999, "maximum": 9_999_999_999},
        {"type": "null"},
    ],
    "description": "A decimal string ('999.00') or a whole number: at most 10 digits before the point, 4 after",
}


NULL = {"type": "null"}
_KEPT = ("default", "title")  # what an amount's generated schema says that its money schema keeps


def _request_schemas(model: type, name: str) -> dict[str, Any]:
    """A request body's schema under names of its own (``<Model>Request``, ``<Def>Input``): what a request
    may send is narrower than what a response shows (amounts), and the two must not share a name."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}Input")
    out = {f"{def_name}Input": definition for def_name, definition in schema.pop("$defs", {}).items()}
    out[name] = schema
    for definition in out.values():  # amounts (emma.events.model.Money): what the request may send, exactly
        for prop, value in definition.get("properties", {}).items():
            kinds = [k.get("type") for k in value.get("anyOf", [])]
            if {"number", "string"} <= set(kinds):
                money = {**MONEY_INPUT, "anyOf": [k for k in MONEY_INPUT["anyOf"] if "null" in kinds or k != NULL]}
                if value.get("description"):
                    money["description"] = f"{value['description']}; {MONEY_INPUT['description'].lower()}"
                definition["properties"][prop] = {**money, **{k: v for k, v in value.items() if k in _KEPT}}
    product = out.get("ProductInfoInput")
    if product is not None:
        product["properties"]["price"] = MONEY_INPUT
        product["properties"]["product_id"] = {**product["properties"]["product_id"], "pattern": r"\S"}
        product["description"] = "A product (product_id unique within the request)"
    return out


def _validation_errors_are_400(operation: dict[str, Any]) -> None:
    """Powertools documents its request validation as 422 (HTTPValidationError); Emma's handler answers
    it 400 in its own error shape, like every other malformed request."""
    responses = operation.get("responses", {})
    generated = responses.get("422")
    if generated and generated.get("description") == "Validation Error":
        del responses["422"]
        responses.setdefault(
            "400",
            {
                "description": "A parameter out of its range or of the wrong type (the message names it)",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        )


def _webhook(operation: dict[str, Any], schemas: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path" and parameter["name"] == "platform":
            parameter["schema"] = {"type": "string", "enum": ["shopify", "woocommerce", "shopware"]}
            parameter["description"] = "Any other platform is 404"
        if parameter["in"] == "path" and parameter["name"] == "shop":
            parameter["description"] = "The shop's id in Emma; an unknown shop is 404"
    operation.setdefault("parameters", []).extend(WEBHOOK_HEADERS)
    operation["requestBody"] = {
        "required": True,
        "description": "The platform's webhook payload, exactly as it sent it (the signature covers these bytes)",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    schemas[WebhookPing.__name__] = WebhookPing.model_json_schema()
    ok = operation["responses"]["200"]["content"]["application/json"]
    ok["schema"] = {"anyOf": [ok["schema"], {"$ref": f"#/components/schemas/{WebhookPing.__name__}"}]}
