"""The Emma console (GET /console/): server-rendered pages for a shop's admins, served by the ingest
function (routes in ingest/routes/console.py; docs/console.md). This package holds the Jinja templates,
the one stylesheet, the SVG charts and graph, the words in both languages, the session token, the
customer timeline and the template previews. Nothing is loaded from another site: it works offline."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

HERE = Path(__file__).resolve().parent
TEMPLATE_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


@functools.cache
def environment() -> Environment:
    """The pages' Jinja environment: every value escaped (autoescape), an unknown name an error."""
    return Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass(frozen=True)
class StaticFile:
    body: str
    content_type: str
    version: str  # a digest of the content: the pages link ?v=<version>, so a change is fetched at once


@functools.cache
def static_files() -> dict[str, StaticFile]:
    """The files under static/ by name (a fixed list: nothing else is ever read from disk by a request)."""
    files = {}
    for path in sorted(STATIC_DIR.iterdir()):
        if path.is_file() and path.suffix in STATIC_TYPES:
            body = path.read_text(encoding="utf-8")
            digest = hashlib.sha256(body.encode("utf-8")).hexdigest()[:12]
            files[path.name] = StaticFile(body, STATIC_TYPES[path.suffix], digest)
    return files
