"""`emma templates preview NAME --profile FILE`: a template rendered for one profile, as files a
person can open (.eml and .html for email, .txt for SMS, .json for push). Same code path as a
send (emma.dispatch.service), minus the decisions, the stores and the provider."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from emma.dispatch.service import DispatchService
from emma.events.model import Channel
from emma.profiles.model import Profile
from emma.recommend.service import RecommendationService
from emma.templates.loader import load_templates
from emma_local.config import ConfigError, load_config
from emma_local.fakes import (
    FixedClock,
    InMemoryCapStore,
    InMemoryCatalog,
    InMemoryDeferrals,
    InMemoryLinks,
    InMemoryMessageLog,
    InMemoryModelStore,
    InMemoryProfileRepository,
    RecordingSender,
    StaticShopDirectory,
)


def read_profile(path: Path) -> Profile:
    """A profile file: GET /v1/profiles/{ref}'s answer (traits as plain values) or the stored model."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the profile ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a JSON object (a profile)")
    now = datetime.now(UTC).isoformat()
    data.setdefault("shop", "preview")
    data.setdefault("profile_id", "p_preview")
    data.setdefault("created_at", now)
    data.setdefault("updated_at", now)
    traits = data.get("traits") or {}
    data["traits"] = {
        k: v if isinstance(v, dict) and "value" in v else {"value": v, "at": now} for k, v in traits.items()
    }
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"{path}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from exc


def preview(
    name: str, profile_path: Path, *, shop: str | None, locale: str | None, channel: str, out: Path, root: Path
) -> list[Path]:
    config = load_config()
    shop_config = config.shop(shop) if shop else config.shops[0]
    if shop and shop not in [s.shop for s in config.shops]:
        raise ConfigError(f"no shop {shop!r} in {config.path}")
    profile = read_profile(profile_path)
    templates = load_templates(root)
    if name not in templates.names():
        raise ConfigError(f"no template {name!r} (templates: {', '.join(sorted(templates.names()))})")
    repo = InMemoryProfileRepository()
    catalog = InMemoryCatalog(repo)
    service = DispatchService(
        profiles=lambda s, p: profile,
        shops=StaticShopDirectory([shop_config]),
        templates=templates,
        log_store=InMemoryMessageLog(),
        caps=InMemoryCapStore(),
        deferrals=InMemoryDeferrals(),
        links=InMemoryLinks(),
        senders=lambda s, c: RecordingSender(),
        recorder=None,  # type: ignore[arg-type]  # previews record nothing
        catalog=catalog,
        recommender=RecommendationService(InMemoryModelStore(), catalog, FixedClock()),
        clock=FixedClock(),
        public_url=f"http://{config.dev.host}:{config.dev.port}",
    )
    chosen = Channel(channel)
    if chosen not in templates.get(shop_config.shop, name).channels:
        raise ConfigError(f"template {name!r} has no {channel} content")
    rendered, raw = service.preview(shop_config.shop, name, profile, chosen, locale)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{name}.{rendered.locale}"
    if chosen == Channel.EMAIL:
        stem.with_suffix(f".{rendered.locale}.eml").write_bytes(raw)
        stem.with_suffix(f".{rendered.locale}.html").write_text(rendered.html, encoding="utf-8")
        stem.with_suffix(f".{rendered.locale}.txt").write_text(rendered.text, encoding="utf-8")
        return [stem.with_suffix(f".{rendered.locale}.{ext}") for ext in ("eml", "html", "txt")]
    if chosen == Channel.SMS:
        path = stem.with_suffix(f".{rendered.locale}.sms.txt")
        path.write_text(rendered.sms + "\n", encoding="utf-8")
        return [path]
    path = stem.with_suffix(f".{rendered.locale}.push.json")
    path.write_text(
        json.dumps({"title": rendered.push_title, "body": rendered.push_body}, ensure_ascii=False, indent=2)
    )
    return [path]
