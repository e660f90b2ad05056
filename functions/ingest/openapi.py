"""The OpenAPI document: Powertools generates it from the routes; we add the request bodies the
routes parse themselves and the two security schemes. Committed as docs/openapi.json."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from emma import __version__
from ingest.schemas import ADMIN_REQUEST_BODIES, REQUEST_BODIES

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
    bodies = [(key, model, "writeKey") for key, model in REQUEST_BODIES.items()]
    bodies += [(key, model, "adminKey") for key, model in ADMIN_REQUEST_BODIES.items()]
    for (path, method), model, scheme in bodies:
        operation = doc["paths"][path][method]
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(name, definition)
        schemas[model.__name__] = schema
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
        }
        operation["security"] = [{scheme: []}]
    for path, item in doc["paths"].items():
        if path.startswith(("/v1/profiles", "/v1/segments")):
            item["get"]["security"] = [{"adminKey": []}]
        if path.startswith("/webhooks"):
            item["post"]["requestBody"] = {
                "required": True,
                "description": "The platform's webhook payload",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
    return doc
