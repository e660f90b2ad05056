"""One home for every DynamoDB key: emma.adapters.keys declares each item type, its key builders produce
exactly the stored strings, docs/data-model.md is rendered from it, and no adapter builds a key itself."""

from __future__ import annotations

import ast
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from emma.adapters import keys
from emma.adapters.keys import ITEM_TYPES
from emma.resources import TABLES
from emma.rules.state import Listing, Timer, member_key
from emma_local import data_model
from emma_local.data_model import adapter_classes, key_pattern, method_source

ROOT = Path(__file__).resolve().parents[3]
ADAPTERS = ROOT / "layers" / "core" / "emma" / "adapters"
AT = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
TIMER = Timer("shop1", "p1", "absence", AT, "t1", AT)
MEMBER = Listing("shop1", "vip", "p_1", member_key("Anna@Example.de", "c1", "p_1"))

# ---- the builders produce today's strings (the items in DynamoDB stay byte for byte what they were) ----


def test_key_builders_produce_the_stored_strings():
    assert keys.profile_pk("shop1", "p1") == "S#shop1#P#p1"
    assert keys.profile_id_of("S#shop1#P#p1") == "p1"
    assert keys.log_sk(42) == "LOG#000042"
    assert keys.merged_log_sk("p2", "LOG#000042") == "LOG#M#p2#LOG#000042"
    assert keys.LOG_PREFIX == "LOG#"
    assert keys.message_sk("k1") == "MSG#k1" and keys.MESSAGE_PREFIX == "MSG#"
    assert keys.journey_sk("welcome") == "JOURNEY#welcome" and keys.JOURNEY_PREFIX == "JOURNEY#"
    assert keys.alias_pk("shop1", "email", "a@b.c") == "S#shop1#A#email#a@b.c"
    assert keys.event_pk("shop1", "e1") == "S#shop1#E#e1"
    assert keys.link_pk("shop1", "abc") == "S#shop1#L#abc"
    assert keys.marker_sk("m1") == "RM#m1"
    assert keys.suppression_pk("shop1", "ab12") == "S#shop1#SUP#ab12" and keys.SUPPRESSION_SK == "SUPPRESS"
    assert keys.privacy_job_pk("shop1", "j1") == "S#shop1#PRIV#j1" and keys.PRIVACY_JOB_SK == "JOB"
    assert keys.audit_pk("shop1", "2026-03") == "S#shop1#AUDIT#2026-03"
    assert keys.audit_sk(AT, "x") == "2026-03-01T12:30:00.000000Z#x"
    assert keys.privacy_queue_sk(AT, "shop1", "j1") == "2026-03-01T12:30:00.000000Z#shop1#j1"
    assert keys.counter_pk("shop1", 3) == "S#shop1#SEGSIZE#3"
    assert (
        keys.member_pk("shop1", "vip", 3) == "S#shop1#SEGMEM#vip#3"
        and keys.members_prefix("shop1") == "S#shop1#SEGMEM#"
    )
    assert keys.member_sk(MEMBER) == "anna@example.de#p_1"
    assert keys.stats_pk("shop1") == "S#shop1#PSTATS"
    assert keys.prior_pk("shop1") == "S#shop1#PRIOR"
    assert keys.product_pk("shop1", "x1") == "S#shop1#PRODUCT#x1"
    assert keys.model_pk("shop1") == "S#shop1#RECO" and keys.model_sk("CO#x1") == "CO#x1"
    assert keys.deferral_pk(2) == keys.deferral_pk("2") == "MSGDUE#2"
    assert keys.deferral_sk(AT, "k1") == "2026-03-01T12:30:00.000000Z#k1"
    assert keys.due_until(AT) == "2026-03-01T12:30:00.000000Z~"
    assert keys.timer_pk(15) == "DUE#15"
    assert keys.timer_sk(TIMER) == TIMER.key
    assert (keys.CURSOR_PK, keys.CURSOR_SK) == ("CURSOR", "CURSOR")
    constants = (keys.PROFILE_SK, keys.DERIVED_SK, keys.CAPS_SK, keys.ALIAS_SK, keys.EVENT_SK, keys.LINK_SK)
    assert constants == ("PROFILE", "DERIVED", "CAPS", "ALIAS", "EVENT", "LINK")
    constants = (keys.SIZES_SK, keys.STATS_SK, keys.PRIOR_SK, keys.PRODUCT_SK)
    assert constants == ("SIZES", "STATS", "PRIOR", "PRODUCT")
    # the deferral shard: sha256 of the message key, mod 4, as before
    assert [keys.deferral_shard(k) for k in ("a", "b", "c", "d", "e")] == [
        int(__import__("hashlib").sha256(k.encode()).hexdigest(), 16) % 4 for k in "abcde"
    ]


# Real arguments for each item type's builders: what they build must match the documented pattern.
EXAMPLES: dict[str, tuple[tuple, tuple]] = {
    "profile": (("shop1", "p1"), ()),
    "event log entry": (("shop1", "p1"), (7,)),
    "merged event log entry": (("shop1", "p1"), ("p2", "LOG#000007")),
    "event id archive": (("shop1", "p1"), (date(2026, 12, 6),)),
    "erased event ids": (("shop1", 171), ()),
    "alias": (("shop1", "email", "a@b.c"), ()),
    "idempotency record": (("shop1", "e1"), ()),
    "derived state": (("shop1", "p1"), ()),
    "rules marker": (("shop1", "p1"), ("m1",)),
    "segment size counters": (("shop1", 5), ()),
    "segment member": (("shop1", "vip", MEMBER.shard), (MEMBER,)),
    "shop prediction counters": (("shop1",), ()),
    "shop prediction histogram cell": (("shop1",), (1434, 1437)),
    "prediction prior": (("shop1",), ()),
    "journey state": (("shop1", "p1"), ("welcome",)),
    "message log entry": (("shop1", "p1"), ("k1",)),
    "frequency cap": (("shop1", "p1"), ()),
    "tracked link": (("shop1", "abc"), ()),
    "coupon": (("shop1", "EMMA-7K2P-Q9XD"), ()),
    "pool code": (("shop1", "default"), ("POS-001",)),
    "pool claim": (("shop1", "default"), ("cart-coupon:3f9a0c1d2e4b5a6978c0d1e2",)),
    "pool counter": (("shop1", "default"), ()),
    "pool used code": (("shop1", "default"), ("POS-001",)),
    "uplift estimate": (("shop1",), ()),
    "product": (("shop1", "x1"), ()),
    "product sku": (("shop1", "SKU-1"), ()),
    "import job": (("shop1",), ("j1",)),
    "campaign state": (("shop1", "weekly"), ()),
    "campaign run": (("shop1", "weekly"), ("2026-12-07",)),
    "campaign recipients": (("shop1", "weekly", "2026-12-07"), ("1#20261207T080000#03#00002",)),
    "campaign shard selection": (("shop1", "weekly", "2026-12-07"), (3,)),
    "recommendation list": (("shop1",), ("POPULAR",)),
    "deferred message": ((1,), (AT, "k1")),
    "due timer": ((TIMER.shard,), (TIMER,)),
    "scheduler cursor": ((), ()),
    "erasure suppression": (("shop1", "ab12"), ()),
    "privacy job": (("shop1", "j1"), ()),
    "audit entry": (("shop1", "2026-03"), (AT, "x")),
    "queued privacy job": ((), (AT, "shop1", "j1")),
    "analytics: message touch": (("shop1", "p1"), ("0123456789abcdef01234567",)),
    "analytics: experiment assignment": (("shop1", "p1"), ("winback", "ab")),
    "analytics: order credit": (("shop1", "p1"), ("1001",)),
    "analytics: journey progress": (("shop1", "p1"), ("winback",)),
    "analytics counters": (("shop1", "message", 3), ("2026-11-02", "winback|ab|winback-coupon|a|email")),
    "analytics: daily shop snapshot": (("shop1",), ("2026-11-02",)),
}


def _regex(pattern: str) -> re.Pattern[str]:
    """A documented pattern as a regex: each <...> (nested ones too) stands for any non-empty text."""
    parts, depth, literal = [], 0, ""
    for char in pattern:
        if char == "<":
            if depth == 0:
                parts.append(re.escape(literal))
                literal = ""
            depth += 1
        elif char == ">" and depth:
            depth -= 1
            if depth == 0:
                parts.append(".+")
        elif depth == 0:
            literal += char
    parts.append(re.escape(literal))
    return re.compile("".join(parts))


def _build(part, args) -> str:
    return part if isinstance(part, str) else part(*args)


@pytest.mark.parametrize("item", ITEM_TYPES, ids=lambda i: i.name)
def test_key_builders_produce_the_documented_patterns(item):
    pk_args, sk_args = EXAMPLES[item.name]
    for part, override, args in ((item.pk, item.pk_pattern, pk_args), (item.sk, item.sk_pattern, sk_args)):
        pattern = key_pattern(part, override)
        assert _regex(pattern).fullmatch(_build(part, args)), (item.name, pattern, _build(part, args))


def test_every_item_type_has_an_example_and_a_unique_name():
    names = [i.name for i in ITEM_TYPES]
    assert len(names) == len(set(names))
    assert set(names) == set(EXAMPLES)


def test_no_two_item_types_share_a_key_pattern():
    patterns = [(i.table.name, key_pattern(i.pk, i.pk_pattern), key_pattern(i.sk, i.sk_pattern)) for i in ITEM_TYPES]
    assert len(patterns) == len(set(patterns))


@pytest.mark.parametrize("item", ITEM_TYPES, ids=lambda i: i.name)
def test_item_types_name_real_adapter_methods_a_known_table_and_a_ttl_the_table_has(item):
    classes = adapter_classes()
    assert item.written_by and item.read_by
    for method in item.written_by + item.read_by:
        method_source(method, classes)  # raises for a method that does not exist
    assert item.table in TABLES
    if item.ttl:
        assert item.table.ttl_attribute in item.attributes, "an item with a TTL carries the TTL attribute"
    else:
        assert item.table.ttl_attribute not in item.attributes


def test_the_data_model_document_is_current_and_shows_every_item_type():
    text = data_model.render()
    for item in ITEM_TYPES:
        assert f"### {item.name}\n" in text
        assert f"`{key_pattern(item.pk, item.pk_pattern)}`" in text
        assert f"`{key_pattern(item.sk, item.sk_pattern)}`" in text
    assert (ROOT / "docs" / "data-model.md").read_text(encoding="utf-8") == text, "run `emma schema`"


# ---- no adapter builds a key itself ----------------------------------------------------------------

KEY_FIELDS = {"pk", "sk", ":pk", ":sk", ":prefix"}  # dict entries holding a key (items, Key=, queries)
KEY_ARGS = {"key", "_get", "_query_prefix", "_query_schedule"}  # calls taking keys as arguments


def _literal_fragments() -> set[str]:
    """The literal parts of every key pattern drawn from a builder or constant ("S#", "#P#", "PROFILE",
    "MSGDUE#", ...): adapter code holding one of them is building a key by hand."""
    found = set()
    for item in ITEM_TYPES:
        for part, override in ((item.pk, item.pk_pattern), (item.sk, item.sk_pattern)):
            if override is None:
                found |= {f for f in re.split(r"<[^<>]*>", key_pattern(part)) if re.search("[A-Za-z]", f)}
    return found


def _through_keys(node: ast.AST) -> bool:
    """``keys.something`` or ``keys.something(...)``: built by the keys module."""
    target = node.func if isinstance(node, ast.Call) else node
    return isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "keys"


def _hand_built(node: ast.AST) -> ast.AST | None:
    """The first f-string, string constant, string operation or str.format/join in ``node``, outside
    calls into the keys module and subscript indexes (``item["sk"]["S"]`` passes a stored key on)."""
    if _through_keys(node):
        return None
    if isinstance(node, ast.JoinedStr | ast.BinOp):
        return node
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("format", "join"):
        return node
    if isinstance(node, ast.Subscript):
        return _hand_built(node.value)
    for child in ast.iter_child_nodes(node):
        found = _hand_built(child)
        if found is not None:
            return found
    return None


def key_violations(source: str, filename: str = "<adapter>") -> list[str]:
    """Where ``source`` builds a DynamoDB key outside emma.adapters.keys."""
    tree = ast.parse(source)
    fragments = _literal_fragments()
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found: list[str] = []

    def report(node: ast.AST, what: str) -> None:
        found.append(f"{filename}:{node.lineno}: {what}: {ast.unparse(node)[:80]}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if isinstance(k, ast.Constant) and k.value in KEY_FIELDS and (bad := _hand_built(v)) is not None:
                    report(bad, f"{k.value!r} built by hand")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in KEY_ARGS and not _through_keys(node):
                for arg in node.args:
                    if (bad := _hand_built(arg)) is not None:
                        report(bad, f"key argument of {name}() built by hand")
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                named = isinstance(target, ast.Name) and re.fullmatch(r"pk|sk|prefix|\w+_(pk|sk)", target.id)
                if named and (bad := _hand_built(node.value)) is not None:
                    report(bad, f"{target.id} built by hand")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            hits = sorted(f for f in fragments if f in node.value)
            if hits:
                report(node, f"key text {hits[0]!r}")
    return sorted(set(found))


def test_no_adapter_builds_a_key_outside_the_keys_module():
    found = []
    for path in sorted(ADAPTERS.glob("*.py")):
        if path.name != "keys.py":
            found += key_violations(path.read_text(encoding="utf-8"), path.name)
    assert not found, "build keys with emma.adapters.keys:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "snippet",
    [
        # each one as the adapters had it before the keys module
        'item = {"pk": _s(f"S#{shop}#L#{code}"), "sk": _s("LINK")}',
        'item = self._get(f"S#{shop}#PRIOR", "PRIOR")',
        'keys = [{"pk": _s(profile_pk(shop, pid)), "sk": _s("DERIVED")} for pid in ids]',
        'values = {":pk": _s(f"MSGDUE#{shard}"), ":now": _s(stamp(now) + "~")}',
        'item = {"pk": _s(pk), "sk": _s(f"{stamp(due_at)}#{request.key}")}',
        'items = self._query_prefix(profile_pk(shop, profile_id), "MSG#")',
        'loser = got["pk"]["S"].rsplit("#P#", 1)[1]',
        "sk = SK_PREFIX + journey",
        'def product_pk(shop, product_id):\n    return f"S#{shop}#PRODUCT#{product_id}"',
        'Key = {"pk": _s(model_pk(shop)), "sk": _s(k + "#" + suffix)}',
    ],
)
def test_the_check_finds_keys_built_by_hand(snippet):
    assert key_violations(snippet)


def test_the_check_lets_keys_from_the_keys_module_and_stored_keys_pass():
    snippet = """
wanted = [key(keys.profile_pk(shop, pid), keys.PROFILE_SK) for pid in ids]
moved = {**item, **key(keys.profile_pk(shop, to), keys.merged_log_sk(source, item["sk"]["S"]))}
gone = {"DeleteRequest": {"Key": {"pk": item["pk"], "sk": item["sk"]}}}
values = {":pk": string(keys.deferral_pk(shard)), ":now": string(keys.due_until(now))}
names = {f"#f{i}": name for i, name in enumerate(fields)}
"""
    assert key_violations(snippet) == []
