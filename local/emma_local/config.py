"""The local runtime's configuration file (TOML): where `emma dev` listens and which shops exist,
with their keys and webhook secrets. config/emma.local.example.toml documents every field."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from emma.offers.config import BrokenCoupons, IncentiveConfig
from emma.shops import ShopConfig

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "emma.local.example.toml"
DEFAULT = ROOT / "emma.local.toml"


class ConfigError(Exception):
    """A problem in the config file, with the file and line where it is."""


class DevSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = Field(8787, ge=0, le=65535)


class LocalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dev: DevSettings = Field(default_factory=DevSettings)
    shops: list[ShopConfig] = Field(min_length=1)
    path: Path | None = None

    def shop(self, shop_id: str) -> ShopConfig:
        return next(s for s in self.shops if s.shop == shop_id)


def _line_of(text: str, loc: tuple[int | str, ...]) -> int:
    """Best-effort line of a validation error: the n-th [[shops]] table, then the key inside it."""
    lines = text.splitlines()
    start = 0
    if len(loc) >= 2 and loc[0] == "shops" and isinstance(loc[1], int):
        headers = [i for i, line in enumerate(lines) if re.match(r"\s*\[\[shops\]\]", line)]
        if loc[1] < len(headers):
            start = headers[loc[1]]
        names = [str(p) for p in loc[2:] if isinstance(p, str)]
        key = names[0] if names else None
        if len(names) >= 2:  # a key of a sub-table ([shops.coupons] provider = ...): from the sub-table's header
            end = next((h for h in headers if h > start), len(lines))
            table = rf"\s*\[shops\.{re.escape(names[0])}\]"
            sub = next((i for i in range(start, end) if re.match(table, lines[i])), None)
            if sub is not None:
                start, key = sub, names[-1]
    else:
        key = next((str(p) for p in reversed(loc) if isinstance(p, str)), None)
    if key:
        for i in range(start, len(lines)):
            if re.match(rf"\s*{re.escape(key)}\s*=", lines[i]):
                return i + 1
    return start + 1


def load_config(path: Path | None = None) -> LocalConfig:
    path = path or (DEFAULT if DEFAULT.exists() else EXAMPLE)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc  # tomllib's message names line and column
    try:
        config = LocalConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        where = ".".join(str(p) for p in loc)
        raise ConfigError(f"{path}:{_line_of(text, loc)}: {where}: {first['msg']}") from exc
    for index, raw in enumerate(data.get("shops") or []):  # in AWS a bad incentives entry falls back to defaults
        if isinstance(raw, dict) and "incentives" in raw:
            try:
                IncentiveConfig.model_validate(raw["incentives"])
            except ValidationError as exc:
                first = exc.errors()[0]
                loc = ("shops", index, "incentives", *first["loc"])
                where = ".".join(str(p) for p in loc)
                raise ConfigError(f"{path}:{_line_of(text, loc)}: {where}: {first['msg']}") from exc
    for index, shop in enumerate(config.shops):  # in AWS a broken coupons entry only holds its messages back
        if isinstance(shop.coupons, BrokenCoupons):
            line = _line_of(text, ("shops", index, "coupons", "provider"))
            raise ConfigError(f"{path}:{line}: shops.{index}.{shop.coupons.problem}")
    ids = [s.shop for s in config.shops]
    if len(ids) != len(set(ids)):
        raise ConfigError(f"{path}: shop ids must be unique, got {ids}")
    return config.model_copy(update={"path": path})
