"""How a shop's recommendation model is stored and read back: a few packed items, not one item per list.

A request reads what it needs in one batch read of the model (sometimes two, below), then the catalog
items of the few candidates it may show. The model's items (format 2, ``FORMAT``):

    HEAD          the shop-wide lists: POPULAR, TRENDING, the first NEW_TOP of NEW, and the tops
                  (GROUP_TOP entries; a device category's all) of every CAT#, BRAND# and TAG# list; or,
                  in shops with many categories, brands and tags (more than GROUPS_INLINE_BYTES
                  compressed), the number of group shards ("gs") that hold them
    G#<n>         a group shard: the CAT#, BRAND#, TAG# lists whose key hashes to n (crc32 % gs); read
                  in a second round, only the shards of the customer's interests
    N#<product>   a product's neighbourhood: its title ("t") and price ("p"), its co-purchase list
                  ("co", CO#), and for a device the accessories that fit it: the ranked FITS# list
                  ("fits") and the ids of the others ("fa"; "fx" when there are more than FITS_ALL_MAX).
                  Written for every product with a co-purchase or fits list.

Every entry of a list carries what the request's filters need, so that it filters before reading the
catalog: [product, score] (neither device nor accessory), [product, score, 1] (an accessory),
[product, score, category, price] (a device; 1 appended for a device that is also an accessory). In NEW
an accessory also says which devices it fits (up to COMPATIBLE_MAX: [..., 1, [device, ...]]). The
model is a day old at most; price, stock and link are read fresh from the catalog for what is shown.

A model stored before this format (one item per list: POPULAR, CO#<product>, ...) is still read: a
request that finds no HEAD reads the old lists and checks every candidate against the catalog, until
the next daily build replaces them (the build deletes the items it no longer writes)."""

from __future__ import annotations

import json
import math
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from emma.profiles.upgrade import REPLACEMENT_CYCLE_DAYS
from emma.recommend.catalog import Product
from emma.recommend.model import LIST_LENGTH, ShopModel

FORMAT = 2
HEAD = "HEAD"
NEIGHBOURHOOD = "N#"
GROUP_SHARD = "G#"
GROUP_PREFIXES = ("CAT#", "BRAND#", "TAG#")
GROUP_TOP = 30  # entries kept per CAT#, BRAND#, TAG# list (a request ranks candidates well within them) ...
DEVICE_GROUP_TOP = LIST_LENGTH  # ... but all of a device category's (the upgrade slot ranks them alone)
NEW_TOP = 40  # the new arrivals a request ranks
COMPATIBLE_MAX = 64  # the devices a new arrival fits, up to this many (new arrivals read no neighbourhoods)
FITS_ALL_MAX = 2000  # accessory ids kept per device (beyond: the catalog decides whether one fits)
GROUPS_INLINE_BYTES = 20_000  # group lists kept in HEAD up to this size compressed (2.5 read units) ...
GROUP_SHARD_BYTES = 3_500  # ... beyond it, shards of about this size compressed (one read unit each)


# ---- writing ------------------------------------------------------------------------------------


def _tail(product: Product | None, compatible: bool = False) -> list[Any]:
    if product is None:
        return []
    tail: list[Any] = []
    if product.is_device:
        tail = [product.category, float(product.price) if product.price is not None else None]
    if product.is_accessory:
        tail.append(1)
        if compatible and len(product.compatible_with) <= COMPATIBLE_MAX:
            tail.append(sorted(product.compatible_with))
    return tail


def _encode(entries: list[tuple[str, float]], catalog: dict[str, Product], compatible: bool = False) -> list[list[Any]]:
    return [[pid, score, *_tail(catalog.get(pid), compatible)] for pid, score in entries]


def _size(value: Any) -> int:
    return len(compress(value))


def shard_of(key: str, shards: int) -> int:
    return zlib.crc32(key.encode()) % shards


def pack(model: ShopModel) -> dict[str, dict[str, Any]]:
    """The items of ``model`` as stored (key -> JSON-able value)."""
    catalog = model.catalog
    lists = model.lists
    head: dict[str, Any] = {
        "v": FORMAT,
        "built_at": model.built_at.isoformat(),
        "customers": model.customers,
        "purchases": model.purchases,
        "popular": _encode(lists.get("POPULAR", []), catalog),
        "trending": _encode(lists.get("TRENDING", []), catalog),
        "new": _encode(lists.get("NEW", [])[:NEW_TOP], catalog, compatible=True),
    }
    items: dict[str, dict[str, Any]] = {HEAD: head}
    groups = {
        k: _encode(v[: DEVICE_GROUP_TOP if k[4:] in REPLACEMENT_CYCLE_DAYS and k[:4] == "CAT#" else GROUP_TOP], catalog)
        for k, v in sorted(lists.items())
        if k.startswith(GROUP_PREFIXES)
    }
    size = _size(groups)
    if size <= GROUPS_INLINE_BYTES:
        head["groups"] = groups
    else:
        shards = math.ceil(size / GROUP_SHARD_BYTES)
        head["gs"] = shards
        packed: dict[int, dict[str, Any]] = defaultdict(dict)
        for k, v in groups.items():
            packed[shard_of(k, shards)][k] = v
        for n in range(shards):
            items[f"{GROUP_SHARD}{n}"] = {"v": FORMAT, "groups": packed.get(n, {})}
    fitting: dict[str, set[str]] = defaultdict(set)
    for pid, product in catalog.items():
        for device in product.compatible_with:
            fitting[device].add(pid)
    owners = dict.fromkeys(k.split("#", 1)[1] for k in lists if k.startswith(("CO#", "FITS#")))
    for pid in owners:
        item: dict[str, Any] = {}
        product = catalog.get(pid)
        if product is not None:
            item["t"] = product.title
            if product.price is not None:
                item["p"] = float(product.price)
        if lists.get(f"CO#{pid}"):
            item["co"] = _encode(lists[f"CO#{pid}"], catalog)
        if lists.get(f"FITS#{pid}"):
            item["fits"] = _encode(lists[f"FITS#{pid}"], catalog)
        others = fitting.get(pid, set()) - {e[0] for e in lists.get(f"FITS#{pid}", [])}
        if len(others) > FITS_ALL_MAX:
            item["fx"] = 1
        elif others:
            item["fa"] = sorted(others)
        items[f"{NEIGHBOURHOOD}{pid}"] = item
    return items


def compress(value: Any) -> bytes:
    return zlib.compress(json.dumps(value, separators=(",", ":")).encode(), 9)


def decompress(data: bytes) -> Any:
    return json.loads(zlib.decompress(data))


# ---- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Meta:
    """What the model says of a product: a device (its category and price) or not, an accessory or not."""

    category: str | None  # devices only
    price: float | None  # devices only
    accessory: bool
    compatible: frozenset[str] | None = None  # the devices an accessory fits, where the list says

    @property
    def device(self) -> bool:
        return self.category is not None

    @classmethod
    def of(cls, tail: list[Any]) -> Meta:
        category, price = None, None
        if tail and isinstance(tail[0], str):
            category, price, tail = tail[0], (None if tail[1] is None else float(tail[1])), tail[2:]
        compatible = frozenset(str(d) for d in tail[1]) if len(tail) > 1 else None
        return cls(category, price, bool(tail), compatible)


@dataclass
class View:
    """The lists a request asked for, by their logical key (POPULAR, CO#<product>, ...), and what the
    model says of the products in them (nothing for a model of the old format)."""

    lists: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    tails: dict[str, list[Any]] | None = None  # what the entries say of each product, parsed when asked
    titles: dict[str, str] = field(default_factory=dict)
    prices: dict[str, float] = field(default_factory=dict)
    fits: set[str] = field(default_factory=set)  # accessories that fit a product the customer owns
    fits_complete: bool = False  # every owned product's fitting accessories are in ``fits``
    items: int = 0  # model items found
    reads: int = 0  # model read requests

    @property
    def filters(self) -> bool:
        """Whether the model says what the filters need (not a model of the old format)."""
        return self.tails is not None

    def meta(self, pid: str) -> Meta | None:
        tail = self.tails.get(pid) if self.tails is not None else None
        return None if tail is None else Meta.of(tail)

    def decode(self, entries: list[list[Any]]) -> list[tuple[str, float]]:
        tails = self.tails if self.tails is not None else {}
        for e in entries:
            tails[e[0]] = e[2:]
        return [(e[0], e[1]) for e in entries]


def load(
    store: Any,
    shop: str,
    products: Iterable[str],
    owned: Iterable[str],
    groups: Iterable[str],
    legacy_keys: Iterable[str],
) -> View:
    """One read of HEAD and the neighbourhoods of ``products`` (the seeds, the devices); a second for the
    group shards of ``groups`` when HEAD does not hold them. ``owned``: what accessories must fit.
    Without HEAD (a model of the old format), a second read of ``legacy_keys``."""
    looked = list(dict.fromkeys(products))
    got = store.load(shop, [HEAD, *(f"{NEIGHBOURHOOD}{p}" for p in looked)])
    view = View(reads=1)
    head = got.get(HEAD)
    if not (isinstance(head, dict) and head.get("v") == FORMAT):
        old = store.load(shop, list(legacy_keys))
        view.reads += 1
        view.items = len(got) + len(old)
        view.lists = {k: [(str(e[0]), float(e[1])) for e in v] for k, v in old.items() if isinstance(v, list)}
        return view
    view.tails = {}
    view.items = len(got)
    view.lists["POPULAR"] = view.decode(head.get("popular", []))
    view.lists["TRENDING"] = view.decode(head.get("trending", []))
    view.lists["NEW"] = view.decode(head.get("new", []))
    wanted = list(dict.fromkeys(groups))
    found = head.get("groups")
    if found is None and head.get("gs") and wanted:
        shards = int(head["gs"])
        keys = sorted({shard_of(k, shards) for k in wanted})
        more = store.load(shop, [f"{GROUP_SHARD}{n}" for n in keys])
        view.reads += 1
        view.items += len(more)
        found = {k: v for item in more.values() for k, v in item.get("groups", {}).items()}
    for k in wanted:
        if found and k in found:
            view.lists[k] = view.decode(found[k])
    owned_set = set(owned)
    complete = owned_set <= set(looked)
    for pid in looked:
        item = got.get(f"{NEIGHBOURHOOD}{pid}")
        if not item:
            continue  # no co-purchase list and nothing fits it
        if "t" in item:
            view.titles[pid] = str(item["t"])
        if item.get("p") is not None:
            view.prices[pid] = float(item["p"])
        if item.get("co"):
            view.lists[f"CO#{pid}"] = view.decode(item["co"])
        if item.get("fits"):
            view.lists[f"FITS#{pid}"] = view.decode(item["fits"])
        if pid in owned_set:
            view.fits.update(e[0] for e in item.get("fits", []))
            view.fits.update(item.get("fa", []))
            if item.get("fx"):
                complete = False
    view.fits_complete = complete
    return view
