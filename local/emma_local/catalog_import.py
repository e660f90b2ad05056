"""`emma catalog import FILE`: send a product catalog (CSV, JSON or JSON Lines) to PUT /v1/catalog/products.

The whole file is validated first, with the same model the API uses (emma.events.model.ProductInfo):
any bad row ends the command with exit code 2 and one ``emma: FILE:LINE: message`` per problem, and
nothing is sent. Then the products go out in batches (at most 100 and about 200 KB each) with a
progress bar on stderr. The API derives each event id from the product's content, so running the
same import again is safe: unchanged products count as duplicates.

CSV: a header row naming the columns (any order, any subset as long as product_id is there):
product_id, name, category, brand, price, currency, url, in_stock, tags, compatible_with, partner,
sku. Lists (tags, compatible_with) are separated by ``|``; in_stock is true/false, yes/no, 1/0,
ja/nein or empty (unknown). A header with semicolons and no commas (a German spreadsheet export) is read with
``;``, and a price like ``49,90`` means 49.90.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from emma.events.model import ProductInfo
from emma_local.http_retry import with_retries

COLUMNS = (
    "product_id",
    "name",
    "category",
    "brand",
    "price",
    "currency",
    "url",
    "in_stock",
    "tags",
    "compatible_with",
    "partner",
    "sku",
)
LIST_COLUMNS = frozenset({"tags", "compatible_with"})
LIST_SEPARATOR = "|"
TRUE, FALSE = frozenset({"true", "yes", "1", "ja"}), frozenset({"false", "no", "0", "nein"})
MAX_BATCH = 100  # the API's limit per request
MAX_BATCH_BYTES = 200_000  # the API refuses bodies over 256 KB
MAX_PRINTED_PROBLEMS = 50
RETRY_DELAYS = (0.5, 1.0, 2.0)
ROUTE = "/v1/catalog/products"
_COMMA_DECIMAL = re.compile(r"^-?\d+,\d{1,4}$")
_ITEM_REF = re.compile(r"products\[(\d+)\]")


@dataclass(frozen=True)
class Row:
    where: str  # the line number, or "item N" in a JSON array
    product: dict[str, Any]  # validated, as sent


class CatalogFileError(Exception):
    """The file cannot be imported; problems are (where, message), where is "" for the whole file."""

    def __init__(self, path: str, problems: list[tuple[str, str]]) -> None:
        super().__init__(f"{path}: {len(problems)} problem(s)")
        self.path = path
        self.problems = problems

    def lines(self) -> list[str]:
        out = [f"emma: {self.path}:{w}: {m}" if w else f"emma: {self.path}: {m}" for w, m in self.problems]
        if len(out) > MAX_PRINTED_PROBLEMS:
            out = [*out[:MAX_PRINTED_PROBLEMS], f"emma: {self.path}: ... and {len(out) - MAX_PRINTED_PROBLEMS} more"]
        return out


class ImportFailed(Exception):
    pass


# ---- reading ----------------------------------------------------------------------------------


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _validate(item: Any) -> tuple[dict[str, Any] | None, list[str]]:
    """The product as the API wants it, or what is wrong with it (field: message)."""
    if not isinstance(item, dict):
        return None, [f"expected an object with product fields, got {type(item).__name__}"]
    item = {k: (_split(v) if k in LIST_COLUMNS and isinstance(v, str) else v) for k, v in item.items()}
    try:
        product = ProductInfo.model_validate(item)
    except ValidationError as exc:
        return None, [f"{_loc(tuple(e.get('loc', ()))) or 'product'}: {e.get('msg')}" for e in exc.errors()]
    return product.model_dump(mode="json", exclude_none=True, exclude_defaults=True), []


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(LIST_SEPARATOR) if part.strip()]


def _bool(value: str) -> bool:
    low = value.strip().lower()
    if low in TRUE:
        return True
    if low in FALSE:
        return False
    raise ValueError(f"in_stock: expected true/false, yes/no or 1/0, got {value!r}")


def _csv_items(text: str) -> Iterator[tuple[str, Any, list[str]]]:
    """(line, item or None, problems) per data row; header problems come as line 1 and stop the file."""
    first = text.split("\n", 1)[0]
    delimiter = ";" if ";" in first and "," not in first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield str(start), None, [f"unreadable CSV: {exc}"]
            return
        if not any(cell.strip() for cell in record):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in record]
            problems = [f"unknown column {c!r} (columns: {', '.join(COLUMNS)})" for c in header if c not in COLUMNS]
            problems += [f"column {c!r} appears twice" for c in sorted({c for c in header if header.count(c) > 1})]
            if "product_id" not in header:
                problems.append("the header has no product_id column")
            if problems:
                yield str(start), None, problems
                return
            continue
        if len(record) != len(header):
            yield str(start), None, [f"{len(record)} fields, the header has {len(header)}"]
            continue
        item: dict[str, Any] = {}
        problems = []
        for column, cell in zip(header, record, strict=True):
            value = cell.strip()
            if not value:
                continue
            if column in LIST_COLUMNS:
                item[column] = _split(value)
            elif column == "in_stock":
                try:
                    item[column] = _bool(value)
                except ValueError as exc:
                    problems.append(str(exc))
            elif column == "price" and _COMMA_DECIMAL.match(value):
                item[column] = value.replace(",", ".")
            else:
                item[column] = value
        yield str(start), (None if problems else item), problems


def _json_items(text: str) -> Iterator[tuple[str, Any, list[str]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        yield str(exc.lineno), None, [f"invalid JSON: {exc.msg} (column {exc.colno})"]
        return
    if isinstance(data, dict) and isinstance(data.get("products"), list):
        data = data["products"]
    if not isinstance(data, list):
        yield "", None, ['expected a JSON list of products or {"products": [...]}']
        return
    for i, item in enumerate(data):
        yield f"item {i}", item, []


def _jsonl_items(text: str) -> Iterator[tuple[str, Any, list[str]]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield str(number), json.loads(line), []
        except json.JSONDecodeError as exc:
            yield str(number), None, [f"invalid JSON: {exc.msg} (column {exc.colno})"]


def _reader(path: Path) -> Callable[[str], Iterator[tuple[str, Any, list[str]]]]:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return _jsonl_items
    if suffix == ".json":
        return _json_items
    return _csv_items


def read_products(path: Path, name: str | None = None) -> list[Row]:
    """Every product in the file, validated, or CatalogFileError naming every bad line."""
    name = name or str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CatalogFileError(name, [("", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    rows: list[Row] = []
    problems: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for where, item, found in _reader(path)(text):
        if found:
            problems += [(where, p) for p in found]
            continue
        product, found = _validate(item)
        if product is None:
            problems += [(where, p) for p in found]
            continue
        pid = product["product_id"]
        if pid in seen:
            other = seen[pid] if seen[pid].startswith("item") else f"line {seen[pid]}"
            problems.append((where, f"product_id {pid!r} appears twice (also {other})"))
            continue
        seen[pid] = where
        rows.append(Row(where, product))
    if problems:
        raise CatalogFileError(name, problems)
    if not rows:
        raise CatalogFileError(name, [("", "no products in the file")])
    return rows


def batches(rows: list[Row], size: int, max_bytes: int = MAX_BATCH_BYTES) -> Iterator[list[Row]]:
    batch: list[Row] = []
    used = 0
    for row in rows:
        cost = len(json.dumps(row.product, ensure_ascii=False).encode("utf-8")) + 2
        if batch and (len(batch) >= size or used + cost > max_bytes):
            yield batch
            batch, used = [], 0
        batch.append(row)
        used += cost
    if batch:
        yield batch


# ---- progress ---------------------------------------------------------------------------------


class Progress:
    """``[#####.....] 1200/10000 products  45/s`` on a stream: redrawn in place with \\r on a
    terminal, otherwise one line per ~10 % (logs of CI jobs and cron stay short)."""

    def __init__(
        self,
        total: int,
        stream: TextIO,
        *,
        tty: bool | None = None,
        width: int = 20,
        unit: str = "products",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = max(total, 0)
        self.done = 0
        self._stream = stream
        self._tty = stream.isatty() if tty is None else tty
        self._width = width
        self._unit = unit
        self._clock = clock
        self._started = clock()
        self._last_draw = float("-inf")
        self._last_step = 0
        self._drawn = False
        self._line_len = 0

    def line(self) -> str:
        fraction = self.done / self.total if self.total else 1.0
        filled = min(self._width, int(fraction * self._width))
        elapsed = self._clock() - self._started
        rate = f"{self.done / elapsed:.0f}/s" if elapsed > 0 else "-/s"
        return f"[{'#' * filled}{'.' * (self._width - filled)}] {self.done}/{self.total} {self._unit}  {rate}"

    def update(self, n: int) -> None:
        self.done = min(self.total, self.done + n)
        finished = self.done >= self.total
        if self._tty:
            now = self._clock()
            if finished or now - self._last_draw >= 0.1:
                text = self.line()
                self._stream.write("\r" + text + " " * max(0, self._line_len - len(text)))
                self._stream.flush()
                self._line_len, self._last_draw, self._drawn = len(text), now, True
            return
        step = self.done * 10 // self.total if self.total else 10
        if step > self._last_step or (finished and not self._drawn):
            self._last_step = step
            self._stream.write(self.line() + "\n")
            self._stream.flush()
            self._drawn = True

    def close(self) -> None:
        if self._tty and self._drawn:
            self._stream.write("\n")
            self._stream.flush()


# ---- sending ----------------------------------------------------------------------------------


def _message(resp: Any) -> str:
    try:
        body = resp.json()
    except ValueError:
        return (resp.text or resp.reason or "").strip()[:500]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body)
    return str(body)[:500]


def _locate(message: str, batch: list[Row], path: str) -> str:
    """The API names products[i] of the request; the user wants FILE:LINE."""

    def repl(match: re.Match[str]) -> str:
        i = int(match.group(1))
        return f"{path}:{batch[i].where}" if i < len(batch) else match.group(0)

    return _ITEM_REF.sub(repl, message)


def send_batch(
    session: Any,
    url: str,
    admin_key: str,
    shop: str,
    batch: list[Row],
    path: str,
    *,
    timeout: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    body = json.dumps({"products": [row.product for row in batch]}, ensure_ascii=False).encode("utf-8")
    headers = {"authorization": f"Bearer {admin_key}", "content-type": "application/json"}
    resp = with_retries(
        lambda: session.put(url, params={"shop": shop}, data=body, headers=headers, timeout=timeout),
        delays=RETRY_DELAYS,
        sleep=sleep,
        unreachable=lambda exc: ImportFailed(f"PUT {url}: {type(exc).__name__}: {exc}"),
    )
    if resp.status_code != 200:
        raise ImportFailed(f"PUT {url}: {resp.status_code} {_locate(_message(resp), batch, path)}")
    try:
        answer = resp.json()
    except ValueError:
        raise ImportFailed(f"PUT {url}: 200 but the answer is not JSON: {resp.text[:200]!r}") from None
    return answer


def run_import(
    file: Path,
    *,
    shop: str,
    api: str,
    admin_key: str | None,
    batch: int = MAX_BATCH,
    dry_run: bool = False,
    session: Any = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    tty: bool | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """0: imported; 1: the API refused or could not be reached; 2: bad arguments or a bad file."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    admin_key = admin_key or os.environ.get("EMMA_ADMIN_KEY")
    if not 1 <= batch <= MAX_BATCH:
        print(f"emma: --batch must be 1 to {MAX_BATCH}, got {batch}", file=err)
        return 2
    if not admin_key and not dry_run:
        print("emma: give the shop's admin key with --admin-key or EMMA_ADMIN_KEY", file=err)
        return 2
    try:
        rows = read_products(file)
    except FileNotFoundError:
        print(f"emma: {file}: no such file", file=err)
        return 2
    except IsADirectoryError:
        print(f"emma: {file}: is a directory", file=err)
        return 2
    except CatalogFileError as exc:
        for line in exc.lines():
            print(line, file=err)
        print(f"emma: {file}: nothing was sent", file=err)
        return 2
    chunks = list(batches(rows, batch))
    if dry_run:
        print(f"{file}: {len(rows)} valid products, {len(chunks)} request(s); nothing sent (--dry-run)", file=out)
        return 0
    if session is None:
        import requests

        session = requests.Session()
    url = api.rstrip("/") + ROUTE
    started = clock()
    stored = duplicates = sent = 0
    progress = Progress(len(rows), err, tty=tty, clock=clock)
    try:
        for chunk in chunks:
            answer = send_batch(session, url, admin_key or "", shop, chunk, str(file), sleep=sleep)
            stored += int(answer.get("stored", 0))
            duplicates += int(answer.get("duplicates", 0))
            sent += len(chunk)
            progress.update(len(chunk))
    except ImportFailed as exc:
        progress.close()
        print(f"emma: {exc}", file=err)
        if sent:
            print(
                f"emma: {sent} of {len(rows)} products were imported before the error; running the import again "
                "is safe (they count as duplicates)",
                file=err,
            )
        return 1
    progress.close()
    seconds = clock() - started
    print(
        f"Imported {len(rows)} products from {file} into {shop}: {stored} stored, {duplicates} duplicates "
        f"in {seconds:.1f} s",
        file=out,
    )
    return 0
