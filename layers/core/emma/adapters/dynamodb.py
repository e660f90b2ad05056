"""DynamoDB adapters: the only code that touches the tables. Botocore errors become domain errors.

Profiles table (one partition per customer, see docs/data-model.md):
    pk = S#<shop>#P#<profile id>   sk = PROFILE            the profile (JSON in ``doc``), ``version``
                                   sk = LOG#<slot>         event log ring (``seq % log_cap``), TTL'd,
                                                           the event as zlib-compressed JSON
                                   sk = LOG#M#<id>#<slot>  log entries moved in from a merged profile
    pk = S#<shop>#A#<kind>#<value> sk = ALIAS              identity -> profile id
    pk = S#<shop>#E#<event id>     sk = EVENT              idempotency record, TTL'd
Catalog table:
    pk = S#<shop>#PRODUCT#<id>     sk = PRODUCT            the product, newest update wins
    pk = S#<shop>#E#<event id>     sk = EVENT              idempotency record, TTL'd
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from emma.adapters.limits import MAX_BATCH_GET_KEYS, MAX_BATCH_WRITE_ITEMS, check_batch_write, check_transaction
from emma.errors import StoreError
from emma.events.model import CanonicalEvent, CatalogEvent
from emma.ports import AliasKey, Commit, CommitConflict, IdempotencyRecord
from emma.profiles.model import Profile

PROFILE_SK = "PROFILE"
_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
_RETRYABLE_CONFLICTS = {"TransactionConflict", "TransactionInProgressException"}


def product_pk(shop: str, product_id: str) -> str:
    return f"S#{shop}#PRODUCT#{product_id}"


def profile_pk(shop: str, profile_id: str) -> str:
    return f"S#{shop}#P#{profile_id}"


def alias_pk(shop: str, alias: AliasKey) -> str:
    return f"S#{shop}#A#{alias.kind}#{alias.value}"


def event_pk(shop: str, event_id: str) -> str:
    return f"S#{shop}#E#{event_id}"


def _alias_item(shop: str, alias: AliasKey, profile_id: str, now: str) -> dict[str, Any]:
    return {"pk": _s(alias_pk(shop, alias)), "sk": _s("ALIAS"), "profile_id": _s(profile_id), "updated_at": _s(now)}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int | float) -> dict[str, str]:
    return {"N": str(value)}


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


def _wrap(exc: Exception, what: str) -> StoreError:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "?")
        return StoreError(f"DynamoDB {what} failed: {code}")
    return StoreError(f"DynamoDB {what} failed: {type(exc).__name__}")


def conditional_failed(exc: ClientError) -> bool:
    """A condition expression did not hold (as opposed to any other DynamoDB error)."""
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Table:
    def __init__(self, client: Any, table: str, sleep=time.sleep) -> None:
        self._client = client
        self._table = table
        self._sleep = sleep

    def _get(self, pk: str, sk: str, *, consistent: bool = True) -> dict[str, Any] | None:
        try:
            return self._client.get_item(
                TableName=self._table, ConsistentRead=consistent, Key={"pk": _s(pk), "sk": _s(sk)}
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise _wrap(exc, "GetItem") from exc

    def _batch_get(self, keys: list[dict[str, Any]], *, consistent: bool = True) -> list[dict[str, Any]]:
        """At most 100 keys a request; the keys DynamoDB leaves unprocessed (throttled, or beyond the
        16 MB an answer holds) are asked again, for as long as each answer makes progress."""
        items: list[dict[str, Any]] = []
        for chunk in _chunks(keys, MAX_BATCH_GET_KEYS):
            request = {self._table: {"Keys": list(chunk), "ConsistentRead": consistent}}
            stalled = 0
            while request:
                try:
                    resp = self._client.batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError) as exc:
                    raise _wrap(exc, "BatchGetItem") from exc
                found = resp.get("Responses", {}).get(self._table, [])
                items.extend(found)
                request = resp.get("UnprocessedKeys") or {}
                if not request:
                    break
                stalled = 0 if found else stalled + 1
                if stalled >= 6:
                    raise StoreError("DynamoDB BatchGetItem left keys unprocessed after retries")
                self._sleep(0.02 * 2**stalled)
        return items

    def _query_prefix(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        return self._query_all(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": _s(pk), ":prefix": _s(prefix)},
        )

    def _query_all(self, **kwargs: Any) -> list[dict[str, Any]]:
        """Every page of a Query."""
        items: list[dict[str, Any]] = []
        while True:
            try:
                resp = self._client.query(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise _wrap(exc, "Query") from exc
            items.extend(resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return items
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def _batch_write(self, requests: list[dict[str, Any]], table: str | None = None) -> None:
        """25 requests a BatchWriteItem (each item at most 400 KB, so a request stays under 16 MB)."""
        table = table or self._table
        for chunk in _chunks(requests, MAX_BATCH_WRITE_ITEMS):
            check_batch_write(chunk)
            pending = {table: list(chunk)}
            for attempt in range(6):
                try:
                    resp = self._client.batch_write_item(RequestItems=pending)
                except (ClientError, BotoCoreError) as exc:
                    raise _wrap(exc, "BatchWriteItem") from exc
                pending = resp.get("UnprocessedItems") or {}
                if not pending:
                    break
                self._sleep(0.02 * 2**attempt)
            else:
                raise StoreError("DynamoDB BatchWriteItem left items unprocessed after retries")


class DynamoProfileRepository(_Table):
    def __init__(
        self,
        client: Any,
        table: str,
        *,
        log_cap: int = 500,
        log_ttl_days: int = 400,
        idempotency_ttl_days: int = 35,
        sleep=time.sleep,
    ) -> None:
        super().__init__(client, table, sleep)
        self.log_cap = log_cap
        self.log_ttl = timedelta(days=log_ttl_days)
        self.idempotency_ttl = timedelta(days=idempotency_ttl_days)

    # ---- reads ----------------------------------------------------------------------------

    def lookup(self, shop, aliases, event_ids):
        keys = [{"pk": _s(alias_pk(shop, a)), "sk": _s("ALIAS")} for a in aliases]
        keys += [{"pk": _s(event_pk(shop, e)), "sk": _s("EVENT")} for e in dict.fromkeys(event_ids)]
        if not keys:
            return {}, {}
        by_pk = {item["pk"]["S"]: item for item in self._batch_get(keys)}
        pointed = {a: by_pk[alias_pk(shop, a)]["profile_id"]["S"] for a in aliases if alias_pk(shop, a) in by_pk}
        seen = {}
        for event_id in event_ids:
            item = by_pk.get(event_pk(shop, event_id))
            if item is not None:
                seen[event_id] = IdempotencyRecord(
                    event_id=event_id,
                    profile_id=item.get("profile_id", {}).get("S"),
                    stored_at=datetime.fromisoformat(item["stored_at"]["S"]),
                    published=item.get("published", {}).get("BOOL", False),
                    repeat=item.get("repeat", {}).get("BOOL", False),
                )
        return pointed, seen

    def get_profiles(self, shop, profile_ids):
        if not profile_ids:
            return {}
        keys = [{"pk": _s(profile_pk(shop, pid)), "sk": _s(PROFILE_SK)} for pid in dict.fromkeys(profile_ids)]
        found = {}
        for item in self._batch_get(keys):
            profile = Profile.model_validate_json(item["doc"]["S"])
            found[profile.profile_id] = profile
        return found

    def read_log(self, shop, profile_id, limit):
        entries = self._query_prefix(profile_pk(shop, profile_id), "LOG#")
        entries.sort(key=lambda i: (i["occurred_at"]["S"], i["sk"]["S"]), reverse=True)
        return [json.loads(zlib.decompress(i["event"]["B"])) for i in entries[:limit]]

    # ---- writes ---------------------------------------------------------------------------

    def _profile_item(self, shop: str, profile: Profile) -> dict[str, Any]:
        item = {
            "pk": _s(profile_pk(shop, profile.profile_id)),
            "sk": _s(PROFILE_SK),
            "shop": _s(shop),
            "profile_id": _s(profile.profile_id),
            "version": _n(profile.version),
            "updated_at": _s(profile.updated_at.isoformat()),
            "doc": _s(profile.model_dump_json()),
        }
        if profile.merged_into:
            item["merged_into"] = _s(profile.merged_into)
        return item

    def _version_condition(self, expected: int | None) -> dict[str, Any]:
        if expected is None:
            return {"ConditionExpression": "attribute_not_exists(pk)"}
        return {"ConditionExpression": "version = :v", "ExpressionAttributeValues": {":v": _n(expected)}}

    def commit(self, commit: Commit) -> None:
        items, kinds = self.transaction(commit)
        check_transaction(items)  # the service cuts commits to fit; a request that does not is a fault
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == "TransactionCanceledException":
                raise self._conflict(exc, kinds) from exc
            if error.get("Code") in _RETRYABLE_CONFLICTS:
                raise CommitConflict(stale=True) from exc
            raise _wrap(exc, "TransactWriteItems") from exc
        except BotoCoreError as exc:
            raise _wrap(exc, "TransactWriteItems") from exc

    def transaction(self, commit: Commit) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
        """The TransactWriteItems of a commit, and what each item is (to read cancellation reasons).
        Pure: the in-memory twin checks these very items against DynamoDB's limits."""
        shop, profile = commit.shop, commit.profile
        pid = profile.profile_id
        items: list[dict[str, Any]] = []
        kinds: list[tuple[str, str]] = []  # what each transaction item is, to read cancellation reasons
        items.append(
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._profile_item(shop, profile),
                    **self._version_condition(commit.expected_version),
                }
            }
        )
        kinds.append(("profile", pid))
        for tomb, version in commit.tombstones:
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": self._profile_item(shop, tomb),
                        **self._version_condition(version),
                    }
                }
            )
            kinds.append(("profile", tomb.profile_id))
        now = profile.updated_at.isoformat()
        for alias in commit.claim_aliases:
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": _alias_item(shop, alias, pid, now),
                        "ConditionExpression": "attribute_not_exists(pk) OR profile_id = :pid",
                        "ExpressionAttributeValues": {":pid": _s(pid)},
                    }
                }
            )
            kinds.append(("alias", alias.value))
        for alias in commit.repoint_aliases:
            items.append({"Put": {"TableName": self._table, "Item": _alias_item(shop, alias, pid, now)}})
            kinds.append(("repoint", alias.value))
        for offset, event in enumerate(commit.events):
            seq = commit.first_seq + offset
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            "pk": _s(event_pk(shop, event.id)),
                            "sk": _s("EVENT"),
                            "profile_id": _s(pid),
                            "stored_at": _s(now),
                            "published": {"BOOL": False},
                            **({"repeat": {"BOOL": True}} if event.repeat else {}),
                            "expires_at": _n(_epoch(event.received_at + self.idempotency_ttl)),
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
            kinds.append(("event", event.id))
            items.append({"Put": {"TableName": self._table, "Item": self._log_item(shop, pid, seq, event)}})
            kinds.append(("log", event.id))
        return items, kinds

    @staticmethod
    def _conflict(exc: ClientError, kinds: list[tuple[str, str]]) -> CommitConflict:
        reasons = exc.response.get("CancellationReasons") or []
        if not reasons:  # no detail: treat as a stale read, the caller re-reads and retries
            return CommitConflict(stale=True)
        duplicates, stale, taken = [], False, False
        for (kind, ident), reason in zip(kinds, reasons, strict=False):
            code = reason.get("Code", "None")
            if code in ("None", None):
                continue
            if code == "ConditionalCheckFailed":
                if kind == "event":
                    duplicates.append(ident)
                elif kind == "alias":
                    taken = True
                else:
                    stale = True
            elif code in ("TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"):
                stale = True
            else:
                raise StoreError(f"DynamoDB transaction cancelled: {code} on {kind}")
        return CommitConflict(duplicates=duplicates, stale=stale, alias_taken=taken)

    def _log_item(self, shop: str, pid: str, seq: int, event: CanonicalEvent) -> dict[str, Any]:
        return {
            "pk": _s(profile_pk(shop, pid)),
            "sk": _s(f"LOG#{seq % self.log_cap:06d}"),
            "seq": _n(seq),
            "event_id": _s(event.id),
            "type": _s(str(event.type)),
            "occurred_at": _s(event.occurred_at.isoformat()),
            # zlib: a typical event is 1-1.5 KB of JSON and ~0.5 KB compressed, which halves the
            # write units of the entry (1 KB units, doubled inside a transaction).
            "event": {"B": zlib.compress(event.model_dump_json().encode(), 6)},
            "expires_at": _n(_epoch(event.received_at + self.log_ttl)),
        }

    def mark_published(self, shop, records):
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": _s(event_pk(shop, r.event_id)),
                        "sk": _s("EVENT"),
                        "profile_id": _s(r.profile_id or ""),
                        "stored_at": _s(r.stored_at.isoformat()),
                        "published": {"BOOL": True},
                        **({"repeat": {"BOOL": True}} if r.repeat else {}),
                        "expires_at": _n(_epoch(r.stored_at + self.idempotency_ttl)),
                    }
                }
            }
            for r in records
        ]
        self._batch_write(requests)

    def claim_republish(self, shop, event_id, now, lease_seconds):
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": _s(event_pk(shop, event_id)), "sk": _s("EVENT")},
                UpdateExpression="SET lease_at = :now",
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(lease_at) OR lease_at < :cut)",
                ExpressionAttributeValues={
                    ":now": _s(now.isoformat()),
                    ":cut": _s((now - timedelta(seconds=lease_seconds)).isoformat()),
                },
            )
        except ClientError as exc:
            if conditional_failed(exc):
                return False
            raise _wrap(exc, "UpdateItem") from exc
        return True

    def repoint_aliases(self, shop, aliases, profile_id):
        now = datetime.now(UTC).isoformat()
        self._batch_write([{"PutRequest": {"Item": _alias_item(shop, a, profile_id, now)}} for a in aliases])

    def move_log(self, shop, from_profile, to_profile):
        source_pk = profile_pk(shop, from_profile)
        items = self._query_prefix(source_pk, "LOG#")
        puts = [
            {
                "PutRequest": {
                    "Item": {
                        **item,
                        "pk": _s(profile_pk(shop, to_profile)),
                        "sk": _s(f"LOG#M#{from_profile}#{item['sk']['S']}"),
                    }
                }
            }
            for item in items
        ]
        self._batch_write(puts)  # copy first: a crash in between leaves a copy, never a loss
        self._batch_write([{"DeleteRequest": {"Key": {"pk": item["pk"], "sk": item["sk"]}}} for item in items])
        return len(items)


class DynamoCatalog(_Table):
    """Products in the catalog table; their idempotency records go to the profiles table, beside
    every other event's, in the same transaction (so one lookup, publish flag and lease serve all)."""

    def __init__(
        self, client: Any, table: str, idempotency_table: str, *, idempotency_ttl_days: int = 35, sleep=time.sleep
    ) -> None:
        super().__init__(client, table, sleep)
        self._idempotency_table = idempotency_table
        self.idempotency_ttl = timedelta(days=idempotency_ttl_days)

    def _idempotency_put(self, event: CatalogEvent) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._idempotency_table,
                "Item": {
                    "pk": _s(event_pk(event.shop, event.id)),
                    "sk": _s("EVENT"),
                    "stored_at": _s(event.received_at.isoformat()),
                    "published": {"BOOL": False},
                    "expires_at": _n(_epoch(event.received_at + self.idempotency_ttl)),
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def upsert_product(self, event: CatalogEvent) -> bool:
        """Merge the fields this event carries into the product (a partial update, such as Shopware's
        product.written with only an id, never blanks what is known); a late, older update is
        recorded as seen but not applied."""
        product = event.properties.product
        at = event.occurred_at.isoformat()
        fields = {k: v for k, v in product.model_dump(mode="json").items() if v not in (None, [], ())}
        if event.properties.variants:
            fields["variants"] = list(event.properties.variants)
        fields.update(shop=event.shop, updated_at=at)
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":f{i}": _SERIALIZER.serialize(_dynamo_value(v)) for i, v in enumerate(fields.values())}
        update = {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": _s(product_pk(event.shop, product.product_id)), "sk": _s("PRODUCT")},
                "UpdateExpression": "SET "
                + ", ".join(f"{n} = {v}" for n, v in zip(names, values, strict=True))
                + ", created_at = if_not_exists(created_at, :at)",
                "ConditionExpression": "attribute_not_exists(updated_at) OR updated_at <= :at",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {**values, ":at": _s(at)},
            }
        }
        try:
            self._client.transact_write_items(TransactItems=[self._idempotency_put(event), update])
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise _wrap(exc, "TransactWriteItems") from exc
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons") or []]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return False  # seen this event before
            if len(reasons) < 2 or reasons[1] != "ConditionalCheckFailed":
                raise StoreError(f"DynamoDB transaction cancelled: {reasons}") from exc  # transient: retry
        # The stored product is newer than this (late) update: record the event, keep the product.
        try:
            self._client.transact_write_items(TransactItems=[self._idempotency_put(event)])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                return False
            raise _wrap(exc, "TransactWriteItems") from exc
        return True

    def get_products(self, shop: str, product_ids) -> dict[str, dict[str, Any]]:
        """Many products in one BatchGetItem (eventually consistent: recommendations may lag a
        second behind a stock change); unknown ids are left out."""
        keys = [{"pk": _s(product_pk(shop, pid)), "sk": _s("PRODUCT")} for pid in dict.fromkeys(product_ids)]
        items = self._batch_get(keys, consistent=False) if keys else []
        out = {}
        for item in items:
            product = plain_item(item)
            out[str(product["product_id"])] = product
        return out

    def get_product(self, shop, product_id):
        try:
            resp = self._client.get_item(
                TableName=self._table,
                ConsistentRead=True,
                Key={"pk": _s(product_pk(shop, product_id)), "sk": _s("PRODUCT")},
            )
        except (ClientError, BotoCoreError) as exc:
            raise _wrap(exc, "GetItem") from exc
        item = resp.get("Item")
        if item is None:
            return None
        return plain_item(item)


def _dynamo_value(value: Any) -> Any:
    """JSON values as DynamoDB accepts them (numbers as Decimal)."""
    if isinstance(value, float | int) and not isinstance(value, bool):
        return Decimal(str(value))
    if isinstance(value, list):
        return [_dynamo_value(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def plain_item(item: dict[str, Any]) -> dict[str, Any]:
    """A stored item as plain Python values, without its keys (catalog products)."""
    return {k: _plain(_DESERIALIZER.deserialize(v)) for k, v in item.items() if k not in ("pk", "sk")}
