"""Generated documents committed in docs/: the canonical event JSON Schema, the OpenAPI document and the
DynamoDB data model (docs/data-model.md, from emma.adapters.keys)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emma.events.model import event_json_schema
from emma_local.lambdas import load_handler


class StaleDocument(Exception):
    pass


def documents() -> dict[str, dict[str, Any]]:
    load_handler("ingest")
    from ingest.handler import app
    from ingest.openapi import openapi_document

    return {"canonical-event.schema.json": event_json_schema(), "openapi.json": openapi_document(app)}


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def texts() -> dict[str, str]:
    """Every generated document by file name, as written."""
    from emma_local import data_model

    return {**{name: render(doc) for name, doc in documents().items()}, "data-model.md": data_model.render()}


def write_documents(out: Path, *, check: bool = False) -> list[Path]:
    written = []
    for name, text in texts().items():
        path = out / name
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                raise StaleDocument(f"{path} is out of date: run `emma schema`")
        else:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
