"""Every DynamoDB item Emma stores, declared once: its table, how its partition and sort keys are built,
its attributes, its TTL, and which adapter methods write and read it.

The adapters build every key with the functions and constants here (tests/unit/adapters/test_keys.py
refuses a key built anywhere else), and `emma schema` renders ``ITEM_TYPES`` into docs/data-model.md.
Everything about one customer shares the partition ``S#<shop>#P#<profile id>``: a profile read is one
query, and a GDPR erasure is one query plus deletes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from emma.predict.prior import CELL_SEPARATOR, cell_key
from emma.resources import CATALOG_TABLE, PROFILES_TABLE, SCHEDULE_TABLE, TableDef
from emma.rules.state import COUNTER_SHARDS, MEMBER_SHARDS, SHARDS, Listing, Timer, stamp

# ---- how long items live (the tables' TTL attribute, expires_at) ------------------------------------

MESSAGE_TTL = timedelta(days=400)
LINK_TTL = timedelta(days=180)
DEFERRAL_TTL = timedelta(days=30)
MARKER_TTL = timedelta(days=14)  # SQS keeps a message at most 14 days: no re-delivery after that
TIMER_TTL = timedelta(days=30)


def shop_prefix(shop: str) -> str:
    """What every key of a shop starts with (a whole-shop erasure scans for it)."""
    return f"S#{shop}#"


# ---- profiles table: the customer's partition ---------------------------------------------------------


def profile_pk(shop: str, profile_id: str) -> str:
    return f"S#{shop}#P#{profile_id}"


def profile_id_of(pk: str) -> str:
    """The profile id in a partition key made by ``profile_pk``."""
    return pk.rsplit("#P#", 1)[1]


PROFILE_SK = "PROFILE"


def activity_shop(shop: str) -> str:
    """The activity index's partition key on a profile item (resources.ACTIVITY_INDEX)."""
    return f"S#{shop}"


def active_day(at: datetime) -> str:
    """The activity index's sort key: the UTC day of the customer's newest activity (a profile's index entry
    changes at most once a day, so the index costs a write a day per active customer, not one per event)."""
    return at.astimezone(UTC).strftime("%Y-%m-%d")


DERIVED_SK = "DERIVED"
CAPS_SK = "CAPS"
SEEN_PREFIX = "SEEN#"  # a profile's archive of event ids, one item per day of receipt (emma.ingest.seen)


def seen_sk(day: date) -> str:
    return f"{SEEN_PREFIX}{day.isoformat()}"


LOG_PREFIX = "LOG#"  # the sort keys of the event log, its own entries and those moved in from merges


def log_sk(slot: int) -> str:
    return f"{LOG_PREFIX}{slot:06d}"


def log_commit_sk(slot: int) -> str:
    """The log entry of one commit's events (written by the publisher from the commit's outbox)."""
    return f"{LOG_PREFIX}C{slot:06d}"


def merged_log_sk(from_profile: str, moved_sk: str) -> str:
    return f"{LOG_PREFIX}M#{from_profile}#{moved_sk}"


def message_sk(message_key: str) -> str:
    return f"MSG#{message_key}"


MESSAGE_PREFIX = message_sk("")


def journey_sk(journey_id: str) -> str:
    return f"JOURNEY#{journey_id}"


JOURNEY_PREFIX = journey_sk("")


def marker_sk(marker_id: str) -> str:
    """A rules marker lives in the partition of the profile its input named (an erasure finds it there)."""
    return f"RM#{marker_id}"


ANALYTICS_PREFIX = "AN#"  # analytics' items in the customer's partition (emma.analytics)


def touch_sk(message_ref: str) -> str:
    return f"{ANALYTICS_PREFIX}M#{message_ref}"


def assignment_sk(journey: str, step: str) -> str:
    return f"{ANALYTICS_PREFIX}X#{journey}|{step}"


def order_credit_sk(order_id: str) -> str:
    return f"{ANALYTICS_PREFIX}O#{order_id}"


def progress_sk(journey: str) -> str:
    return f"{ANALYTICS_PREFIX}J#{journey}"


# ---- profiles table: per shop ----------------------------------------------------------------------


def alias_pk(shop: str, kind: str, value: str) -> str:
    return f"S#{shop}#A#{kind}#{value}"


ALIAS_SK = "ALIAS"


def event_pk(shop: str, event_id: str) -> str:
    return f"S#{shop}#E#{event_id}"


EVENT_SK = "EVENT"


def link_pk(shop: str, code: str) -> str:
    return f"S#{shop}#L#{code}"


LINK_SK = "LINK"


def coupon_pk(shop: str, code: str) -> str:
    """A coupon code's record: the code case-folded (WooCommerce stores codes in lower case)."""
    return f"S#{shop}#C#{code.casefold()}"


COUPON_SK = "COUPON"


def pool_pk(shop: str, pool: str) -> str:
    return f"S#{shop}#POOL#{pool}"


POOL_CODE_PREFIX = "CODE#"
POOL_CLAIM_PREFIX = "CLAIM#"
POOL_USED_PREFIX = "USED#"
POOL_META_SK = "META"


def uplift_pk(shop: str) -> str:
    return f"S#{shop}#UPLIFT"


UPLIFT_SK = "UPLIFT"


def pool_code_sk(code: str) -> str:
    return f"{POOL_CODE_PREFIX}{code.casefold()}"


def pool_used_sk(code: str) -> str:
    return f"{POOL_USED_PREFIX}{code.casefold()}"


def pool_claim_sk(reference: str) -> str:
    return f"{POOL_CLAIM_PREFIX}{reference}"


def counter_pk(shop: str, shard: int) -> str:
    return f"S#{shop}#SEGSIZE#{shard}"


SIZES_SK = "SIZES"


def members_prefix(shop: str) -> str:
    """What the partition keys of every segment's member list of a shop start with."""
    return f"S#{shop}#SEGMEM#"


def member_pk(shop: str, segment: str, shard: int) -> str:
    """One shard of a segment's member list (emma.rules.state.member_shard of the profile id)."""
    return f"{members_prefix(shop)}{segment}#{shard}"


def member_sk(listing: Listing) -> str:
    """``Listing.key``: the searchable text (email, else customer id, else profile id; lower-cased), then the
    profile id (emma.rules.state.member_key), so that a prefix of it is a search and a shard sorts by it."""
    return listing.key


def stats_pk(shop: str) -> str:
    return f"S#{shop}#PSTATS"


STATS_SK = "STATS"
STATS_CELL = CELL_SEPARATOR  # a histogram counter's name: <cell item's sk>|<attribute>
stats_cell_sk = cell_key  # a histogram cell's item: H#<first fortnight>#<last fortnight>


def stats_attribute(name: str) -> tuple[str, str]:
    """Where a prediction counter lives: (sort key, attribute). Histogram cells (``H#<first>#<last>|k3``) have
    an item each, so that an update writes a few hundred bytes, not the whole histogram; the rest is STATS."""
    sk, sep, attr = name.partition(STATS_CELL)
    return (sk, attr) if sep else (STATS_SK, name)


def stats_name(sk: str, attr: str) -> str:
    """The counter's name back from its item and attribute (``stats_attribute``'s inverse)."""
    return attr if sk == STATS_SK else f"{sk}{STATS_CELL}{attr}"


def prior_pk(shop: str) -> str:
    return f"S#{shop}#PRIOR"


PRIOR_SK = "PRIOR"


ANALYTICS_SHARDS = 4  # counter items per (kind, day, key), by a hash of the profile id: none runs hot
ANALYTICS_COUNTER_TTL = timedelta(days=800)  # two years of daily counters: a 400-day report a year back


def analytics_shard(profile_id: str) -> int:
    return int(hashlib.sha256(profile_id.encode()).hexdigest(), 16) % ANALYTICS_SHARDS


def analytics_pk(shop: str, kind: str, shard: int | str) -> str:
    """Counters of one kind (message, journey, shop, arm) of a shop, one partition per shard."""
    return f"S#{shop}#AN#{kind}#{shard}"


def analytics_counter_sk(day: str, counter_key: str) -> str:
    """Daily counters sort by day: a date range is one key range. Arms (no day) sort by their key."""
    return f"{day}#{counter_key}" if day else counter_key


def arms_prefix(journey: str) -> str:
    """The sort-key prefix of one journey's experiment arms."""
    return f"{journey}|"


def snapshot_pk(shop: str) -> str:
    return f"S#{shop}#AN#snapshot"


def snapshot_sk(day: str) -> str:
    return day


def suppression_pk(shop: str, address_hash: str) -> str:
    return f"S#{shop}#SUP#{address_hash}"


ERASED_IDS_SK = "IDS"


def erased_ids_pk(shop: str, shard: int) -> str:
    """The event ids of erased customers one of whose identities falls in ``shard`` (0-255; erased_shard)."""
    return f"S#{shop}#XID#{shard:02x}"


SUPPRESSION_SK = "SUPPRESS"


def privacy_job_pk(shop: str, job_id: str) -> str:
    return f"S#{shop}#PRIV#{job_id}"


PRIVACY_JOB_SK = "JOB"


def audit_pk(shop: str, month: str) -> str:
    """The shop's audit trail, one partition per month (YYYY-MM)."""
    return f"S#{shop}#AUDIT#{month}"


def audit_sk(at: datetime, entry_id: str) -> str:
    return f"{stamp(at)}#{entry_id}"


# ---- catalog table ----------------------------------------------------------------------------------


def product_pk(shop: str, product_id: str) -> str:
    return f"S#{shop}#PRODUCT#{product_id}"


PRODUCT_SK = "PRODUCT"


def import_job_pk(shop: str) -> str:
    return f"S#{shop}#IMPORT"


def import_job_sk(job: str) -> str:
    return f"JOB#{job}"


def campaign_pk(shop: str, campaign: str) -> str:
    return f"S#{shop}#CAMPAIGN#{campaign}"


def campaign_run_sk(run: str) -> str:
    return f"RUN#{run}"


CAMPAIGN_STATE_SK = "CAMPAIGN"
CAMPAIGN_RUN_TTL = timedelta(days=400)
CAMPAIGN_CHUNK_TTL = timedelta(days=30)  # a run's recipients: long enough for any run, paused ones too


def campaign_run_pk(shop: str, campaign: str, run: str) -> str:
    return f"S#{shop}#CAMPAIGN#{campaign}#RUN#{run}"


def chunk_sk(position: str) -> str:
    """A run's recipient chunk at its position (emma.campaigns.runs.Chunk.position: phase#send at#shard#seq)."""
    return f"C#{position}"


def selection_sk(shard: int | None) -> str:
    return "SEL#" if shard is None else f"SEL#{shard:02d}"


def sku_pk(shop: str, sku: str) -> str:
    return f"S#{shop}#SKU#{sku}"


SKU_SK = "SKU"


def sku_of(pk: str) -> str:
    """The SKU of a product sku item's partition key (S#<shop>#SKU#<sku>; shop ids have no '#')."""
    return pk.split("#SKU#", 1)[1]


def model_pk(shop: str) -> str:
    return f"S#{shop}#RECO"


def model_sk(list_key: str) -> str:
    """A list of the recommendation model, by its key in ``ShopModel.lists`` (POPULAR, CO#<product>, ...)."""
    return list_key


# ---- schedule table ---------------------------------------------------------------------------------

DEFERRAL_SHARDS = 4


def deferral_shard(message_key: str) -> int:
    return int(hashlib.sha256(message_key.encode()).hexdigest(), 16) % DEFERRAL_SHARDS


def deferral_pk(shard: int | str) -> str:
    return f"MSGDUE#{shard}"


def deferral_sk(due_at: datetime, message_key: str) -> str:
    return f"{stamp(due_at)}#{message_key}"


def timer_pk(shard: int) -> str:
    return f"DUE#{shard}"


def timer_sk(timer: Timer) -> str:
    """``Timer.key``: it starts with the due time, so a shard's due timers are one range query."""
    return timer.key


def due_until(now: datetime) -> str:
    """The sort-key bound of ``sk <= :now`` over a shard of timers or deferrals: all due by ``now``."""
    return stamp(now) + "~"


def due_after(since: datetime) -> str:
    """The lower sort-key bound of a range over a shard of timers: only those due after ``since`` (every key
    due at ``since`` sorts below it: ``#`` follows the time)."""
    return stamp(since) + "~"


CURSOR_PK = "CURSOR"
CURSOR_SK = "CURSOR"

PRIVACY_QUEUE_PK = "PRIVACY"


def privacy_queue_sk(queued_at: datetime, shop: str, job_id: str) -> str:
    return f"{stamp(queued_at)}#{shop}#{job_id}"


# ---- the item types -----------------------------------------------------------------------------------

KeyPart = Callable[..., str] | str

# What an item means for a customer's privacy (export and erasure: emma.privacy; adapters/privacy.py).
PRIVACY_CLASSES: Mapping[str, str] = {
    "customer": "one customer's data: exported, and deleted by an erasure",
    "scrubbed": "names one customer's profile: exported; an erasure removes the profile id and keeps the bare "
    "record (a retried delivery of the event stays a duplicate instead of re-creating the customer)",
    "aggregate": "counts over many customers, no personal data",
    "shop": "the shop's own data or Emma's bookkeeping, no personal data",
    "hashed": "kept after an erasure: salted hashes, times and counts, nothing readable",
    "pseudonymous": "profile ids among many, nothing else about them, deleted by the table's TTL within 30 days; an "
    "erasure leaves it (once the profile is gone its id names nobody, and the dispatcher skips it)",
}


@dataclass(frozen=True)
class ItemType:
    """One kind of item. ``pk`` and ``sk`` are the key builders above (or a constant); ``pk_pattern``
    and ``sk_pattern`` replace the pattern drawn from a builder's parameters where that cannot show it.
    ``written_by`` (writes, updates or deletes it) and ``read_by`` name adapter methods (Class.method of
    a module in emma.adapters). ``privacy`` says what an export and an erasure do with it (PRIVACY_CLASSES)."""

    def __post_init__(self) -> None:
        if self.privacy not in PRIVACY_CLASSES:
            raise ValueError(f"item type {self.name!r}: privacy {self.privacy!r} is not one of {list(PRIVACY_CLASSES)}")

    name: str
    table: TableDef
    pk: KeyPart
    sk: KeyPart
    description: str
    attributes: Mapping[str, str]
    written_by: tuple[str, ...]
    read_by: tuple[str, ...]
    privacy: str  # a key of PRIVACY_CLASSES
    ttl: str | None = None  # when the table's TTL attribute lets DynamoDB delete it
    pk_pattern: str | None = None
    sk_pattern: str | None = None


PROFILE = ItemType(
    name="profile",
    table=PROFILES_TABLE,
    privacy="customer",
    pk=profile_pk,
    sk=PROFILE_SK,
    description="The unified profile. A profile merged into another stays as a tombstone naming the winner.",
    attributes={
        "shop": "the shop (scans filter on it)",
        "profile_id": "the profile id",
        "version": "optimistic lock: each commit writes version + 1 on condition of the version it read",
        "updated_at": "ISO time of the last change",
        "doc": "the profile (emma.profiles.model.Profile) as JSON compressed with zlib (binary); written before: "
        "a JSON string (dynamodb.profile_of reads both)",
        "merged_into": "only on a tombstone: the profile it was merged into",
        "activity_shop": "the activity index's partition key, S#<shop> (keys.activity_shop); not on tombstones",
        "active_day": "the activity index's sort key: UTC day of the customer's newest activity (keys.active_day)",
        "outbox": "only when this write stored events: them, stamped, as a JSON array compressed with zlib "
        "(binary); the table's stream hands it to the publisher function, which logs and publishes them",
        "outbox_v": "with outbox: the version that wrote it (an image whose outbox_v is not its version holds an "
        "earlier write's outbox)",
        "outbox_seq": "with outbox: the log sequence number of its first event",
        "outbox_log_days": "with outbox: how long the shop keeps its event log (the log entries' TTL)",
        "seen": "the ids of the events it absorbed in the last 72 hours (and the newest 16): 8 bytes each, a 6-byte "
        "hash of shop and event id and the hour of receipt (emma.ingest.seen); older ones are in its archive",
        "seen_until": "ISO time: events that occurred up to then may be in the archive (event id archive)",
    },
    written_by=("DynamoProfileRepository.commit",),
    read_by=(
        "DynamoProfileRepository.outbox_from_image",
        "DynamoProfileRepository.get_profiles",
        "DynamoRulesStore.load",
        "DynamoShopHistory.profiles",
        "DynamoPrivacyStore.inactive",
    ),
)
EVENT_LOG = ItemType(
    name="event log entry",
    table=PROFILES_TABLE,
    privacy="customer",
    pk=profile_pk,
    sk=log_sk,
    description=(
        "The profile's event log, two rings of EMMA_EVENT_LOG_CAP (500 by default) slots, six digits, a new entry "
        "overwriting the oldest: LOG#<seq % cap> an event (a backfill's, or the events of a store without a "
        "stream), LOG#C<version % cap> the events one commit stored (written by the publisher from the outbox: one "
        "write for a whole request's events)."
    ),
    attributes={
        "seq": "the profile's event sequence number (of a commit's entry: its first event's)",
        "event_id": "an event's entry: the canonical event's id",
        "type": "an event's entry: the event type",
        "occurred_at": "ISO time of the event (a commit's entry: of its latest); the log is read newest first",
        "event": "an event's entry: the canonical event, JSON compressed with zlib (binary)",
        "events": "a commit's entry: its canonical events, a JSON array compressed with zlib (binary)",
        "count": "a commit's entry: how many events it holds",
        "version": "a commit's entry: the profile version the commit wrote",
        "expires_at": "TTL, epoch seconds",
    },
    ttl="EMMA_EVENT_LOG_TTL_DAYS (400 by default) after the event was received",
    written_by=(
        "DynamoProfileRepository.write_log",
        "DynamoProfileRepository.commit",
        "DynamoProfileRepository.move_log",
    ),
    read_by=("DynamoProfileRepository.read_log", "DynamoProfileRepository.move_log"),
)
SEEN_ARCHIVE = ItemType(
    name="event id archive",
    table=PROFILES_TABLE,
    privacy="scrubbed",
    pk=profile_pk,
    sk=seen_sk,
    description=(
        "Event ids the profile absorbed and received on that day, moved off the profile item once older than 72 "
        "hours (emma.ingest.seen): read only for an event that occurred before the profile's seen_until."
    ),
    attributes={"ids": "a binary set of 6-byte hashes of shop and event id", "expires_at": "TTL, epoch seconds"},
    ttl="EMMA_IDEMPOTENCY_TTL_DAYS (35 by default) after the day",
    written_by=("DynamoProfileRepository.archive_seen",),
    read_by=("DynamoProfileRepository.seen_in_archive",),
    sk_pattern="SEEN#<day of receipt, YYYY-MM-DD>",
)
MERGED_LOG = ItemType(
    name="merged event log entry",
    table=PROFILES_TABLE,
    privacy="customer",
    pk=profile_pk,
    sk=merged_log_sk,
    description=(
        "An entry of a merged-away profile's log, moved (copied, then deleted there) into the winner's "
        "partition; moved_sk is its sort key in the loser's partition."
    ),
    attributes={
        "seq": "as in the event log entry",
        "event_id": "as in the event log entry",
        "type": "as in the event log entry",
        "occurred_at": "as in the event log entry",
        "event": "as in the event log entry",
        "expires_at": "TTL, epoch seconds (kept from the entry)",
    },
    ttl="kept from the moved entry",
    written_by=("DynamoProfileRepository.move_log",),
    read_by=("DynamoProfileRepository.read_log", "DynamoProfileRepository.move_log"),
)
ALIAS = ItemType(
    name="alias",
    table=PROFILES_TABLE,
    privacy="customer",
    pk=alias_pk,
    sk=ALIAS_SK,
    description=(
        "An identity (kind: cid for the shop's customer id, email or anon) pointing at its profile. Claimed in the "
        "profile's commit on condition that it is free or already this profile's."
    ),
    attributes={"profile_id": "the profile the identity belongs to", "updated_at": "ISO time of the claim"},
    written_by=("DynamoProfileRepository.commit", "DynamoProfileRepository.repoint_aliases"),
    read_by=("DynamoProfileRepository.lookup",),
)
IDEMPOTENCY = ItemType(
    name="idempotency record",
    table=PROFILES_TABLE,
    privacy="scrubbed",
    pk=event_pk,
    sk=EVENT_SK,
    description=(
        "An event seen: written on condition that it does not exist, in the same transaction as the profile "
        "(or the product: catalog events keep theirs here too), so an event is applied once."
    ),
    attributes={
        "profile_id": "the profile the event was applied to (catalog events: absent, or empty once published)",
        "stored_at": "ISO time the event was stored",
        "published": "true once the event is on the bus; true at once when the profile's write carries the event "
        "in its outbox (the table's stream publishes it) and for a backfill (never published)",
        "repeat": "only when true: the event repeated something already counted",
        "lease_at": "ISO time a republish claimed it (a lease against two republishers)",
        "expires_at": "TTL, epoch seconds",
    },
    ttl="EMMA_IDEMPOTENCY_TTL_DAYS (35 by default) after the event was received",
    written_by=(
        "DynamoProfileRepository.commit",
        "DynamoProfileRepository.mark_published",
        "DynamoProfileRepository.claim_republish",
        "DynamoCatalog.upsert_product",
    ),
    read_by=("DynamoProfileRepository.lookup",),
)
DERIVED = ItemType(
    name="derived state",
    table=PROFILES_TABLE,
    privacy="customer",
    pk=profile_pk,
    sk=DERIVED_SK,
    description=(
        "The rules function's conclusions about the profile: segments, lifecycle stage, RFM, predictions, "
        "trigger state and arms, next review."
    ),
    attributes={
        "version": "optimistic lock, as on the profile",
        "doc": "JSON (emma.rules.state.Derived), deflated with a preset dictionary (binary; emma.adapters.rules_store."
        "derived_of reads it, and the JSON text written before)",
        "outbox": "the events a timer's evaluation concluded, until published (JSON deflated as doc, binary)",
        "erased_by": "only while an erasure runs: the privacy job that took the customer out of the segment counts",
    },
    written_by=("DynamoRulesStore.commit", "DynamoRulesStore.published", "DynamoPrivacyStore.put_job"),
    read_by=("DynamoRulesStore.load", "DynamoRulesStore.derived"),
)
MARKER = ItemType(
    name="rules marker",
    table=PROFILES_TABLE,
    privacy="customer",
    pk=profile_pk,
    sk=marker_sk,
    description=(
        "An event evaluated by the rules function (a timer leaves none), written with the derived "
        "state; its outbox holds the events to publish, so a re-delivery only finishes publishing. It lives in "
        "the partition of the profile the input named (after a merge, possibly a merged-away one)."
    ),
    attributes={
        "published": "true once the outbox is on the bus",
        "outbox": "JSON list of the events the evaluation emitted (emptied once published)",
        "expires_at": "TTL, epoch seconds",
    },
    ttl=f"{MARKER_TTL.days} days after the evaluation",
    written_by=("DynamoRulesStore.commit", "DynamoRulesStore.mark_published"),
    read_by=("DynamoRulesStore.load",),
)
SEGMENT_SIZES = ItemType(
    name="segment size counters",
    table=PROFILES_TABLE,
    privacy="aggregate",
    pk=counter_pk,
    sk=SIZES_SK,
    description=(
        f"Members per segment, spread over {COUNTER_SHARDS} shards (0..{COUNTER_SHARDS - 1}, by a hash of "
        "the profile id) so that no counter item is hot; a size is the sum over the shards."
    ),
    attributes={"seg_<segment id>": "number: ADDed as profiles enter (+1) and leave (-1)"},
    written_by=("DynamoRulesStore.commit",),
    read_by=("DynamoRulesStore.segment_sizes",),
)
SEGMENT_MEMBER = ItemType(
    name="segment member",
    table=PROFILES_TABLE,
    privacy="customer",
    pk=member_pk,
    sk=member_sk,
    description=(
        f"A customer's entry in a segment's member list, spread over {MEMBER_SHARDS} shards (0..{MEMBER_SHARDS - 1}, "
        "by a hash of the profile id), each sorted by the customer's email: written when they enter the segment, "
        "deleted when they leave, in the rules commit that records it. The derived state names the sort key "
        "written (member_keys), so a leave deletes what the entry wrote and an erasure finds it although it "
        "holds the email in its key."
    ),
    attributes={
        "segment": "the segment id",
        "profile_id": "the profile",
        "email": "the customer's primary email when the entry was written, if any",
        "customer_id": "the shop's customer id when the entry was written, if any",
        "since": "ISO time the customer entered (absent: entered before member lists were kept)",
    },
    written_by=("DynamoRulesStore.commit",),
    read_by=("DynamoRulesStore.segment_members", "DynamoPrivacyStore.holdings"),
    sk_pattern="<email, else customer id, else profile id; lower-cased>#<profile id>",
)
SHOP_STATS = ItemType(
    name="shop prediction counters",
    table=PROFILES_TABLE,
    privacy="aggregate",
    pk=stats_pk,
    sk=STATS_SK,
    description="The shop's counters the prediction prior is fitted from: customers with an order and repeat "
    "intervals (the histogram's cells have items of their own, under the same partition key), and, from versions "
    "before the histogram, customers by first-order month cohort and repeat count (cohort_YYYY_MM_k, taken "
    "back as each customer moves to the histogram).",
    attributes={"<counter>": "number: ADDed by each commit's stats delta"},
    written_by=("DynamoRulesStore.commit",),
    read_by=("DynamoRulesStore.shop_stats",),
)
SHOP_STATS_CELL = ItemType(
    name="shop prediction histogram cell",
    table=PROFILES_TABLE,
    privacy="aggregate",
    pk=stats_pk,
    sk=stats_cell_sk,
    description="One cell of the histogram the purchase and spend models are fitted from: the shop's customers "
    "whose first and last purchase occasions fall in these two fortnights (since the epoch), by repeat "
    "occasions and mean repeat value. A cell per item, so that an order's update writes a few hundred bytes.",
    attributes={
        "k<repeats>": "number: customers by repeat occasions (12: 12 or more)",
        "xs": "number: the repeats of the customers with 12 or more, summed",
        "v<repeats>_<value bucket>": "number: customers with a paid repeat by repeats and mean repeat occasion "
        "value (10 buckets per unit of ln(value); 200: 1.00)",
        "vx_<value bucket>": "number: the repeats of those with 12 or more, summed",
    },
    written_by=("DynamoRulesStore.commit",),
    read_by=("DynamoRulesStore.shop_stats",),
)
PRIOR = ItemType(
    name="prediction prior",
    table=PROFILES_TABLE,
    privacy="shop",
    pk=prior_pk,
    sk=PRIOR_SK,
    description="The shop's fitted prediction prior.",
    attributes={"doc": "the prior as JSON", "fitted_at": "ISO time of the fit"},
    written_by=("DynamoRulesStore.put_prior",),
    read_by=("DynamoRulesStore.prior",),
)
JOURNEY_STATE = ItemType(
    name="journey state",
    table=PROFILES_TABLE,
    privacy="customer",
    pk=profile_pk,
    sk=journey_sk,
    description="The customer in one journey: status, execution, current step, the awaited event and its task token.",
    attributes={
        "v": "optimistic lock: each put writes v + 1 on condition of the v it read",
        "state": "JSON (emma.journeys.state.JourneyState, without its version)",
    },
    written_by=("DynamoJourneyStore.put",),
    read_by=("DynamoJourneyStore.get", "DynamoJourneyStore.list"),
)
MESSAGE = ItemType(
    name="message log entry",
    table=PROFILES_TABLE,
    privacy="customer",
    pk=profile_pk,
    sk=message_sk,
    description=(
        "One message request and what became of it: claimed by conditional update (status, lease), then "
        "each stage's decisions appended; a message is never sent twice."
    ),
    attributes={
        "shop": "the shop",
        "profile_id": "the profile",
        "key": "the message key (the request's idempotency key)",
        "status": "processing, sending, sent, skipped, deferred, failed or unknown",
        "template": "the template id",
        "journey": "the journey that asked, if any",
        "requested_at": "ISO time of the request",
        "updated_at": "ISO time of the last change",
        "attempts": "number of claims",
        "lease_until": "ISO time the current worker's lease ends",
        "not_before": "ISO time a deferred message is due",
        "request": "the request as the journey asked for it (JSON)",
        "decisions": "list of JSON decisions (stage, outcome, reason)",
        "channel": "the channel chosen",
        "locale": "the locale rendered",
        "subject": "the subject (or push title) sent",
        "preview": "the start of the body sent",
        "provider_id": "the provider's message id",
        "coupon": "the coupon code the message carried (named before it is sent: an erasure finds its record)",
        "incentive": "JSON: the incentive decision (policy, arm, p, band) of a template with a coupon",
        "links": "JSON list of the codes of the tracked short links the message carried (an erasure deletes them)",
        "recommended": "JSON list of the products the message showed (product_id, url)",
        "content": "JSON list of the content blocks the message carried (block_id, url, topics)",
        "expires_at": "TTL, epoch seconds",
    },
    ttl=f"{MESSAGE_TTL.days} days after the last claim",
    written_by=("DynamoMessageLog.claim", "DynamoMessageLog.update"),
    read_by=("DynamoMessageLog.get", "DynamoMessageLog.claim", "DynamoMessageLog.recent"),
)
CAPS = ItemType(
    name="frequency cap",
    table=PROFILES_TABLE,
    privacy="customer",
    pk=profile_pk,
    sk=CAPS_SK,
    description=(
        "The marketing sends of the longest cap window, in one item: a slot is reserved by a version-checked "
        "write, so two workers cannot both take the last one."
    ),
    attributes={"sends": "map: message key -> ISO time sent", "v": "version (conditional write)"},
    written_by=("DynamoCapStore.reserve", "DynamoCapStore.release"),
    read_by=("DynamoCapStore.recent_sends", "DynamoCapStore.reserve", "DynamoCapStore.release"),
)
LINK = ItemType(
    name="tracked link",
    table=PROFILES_TABLE,
    privacy="customer",
    pk=link_pk,
    sk=LINK_SK,
    description="A tracked short link of an SMS or push message.",
    attributes={
        "link": "the link as JSON (its target and what a click is attributed to)",
        "expires_at": "TTL, epoch seconds",
    },
    ttl=f"{LINK_TTL.days} days after it was made",
    written_by=("DynamoLinks.save",),
    read_by=("DynamoLinks.get",),
)
COUPON = ItemType(
    name="coupon",
    table=PROFILES_TABLE,
    privacy="customer",
    pk=coupon_pk,
    sk=COUPON_SK,
    description=(
        "A coupon code Emma had the shop create (or took from a pool) for one message: a redemption names the "
        "code, this item names the message and the customer. The message log names the code, so an erasure finds it."
    ),
    attributes={
        "shop": "the shop",
        "profile_id": "the customer the code was made for",
        "doc": "JSON: code, message_key, template, kind, provider, provider_id, issued_at, ends_at",
    },
    written_by=("DynamoCoupons.save",),
    read_by=("DynamoCoupons.get", "DynamoCodePool.add"),
)
POOL_CODE = ItemType(
    name="pool code",
    table=PROFILES_TABLE,
    privacy="shop",
    pk=pool_pk,
    sk=pool_code_sk,
    description="A code of a pool the shop uploaded, not handed out yet (a claim deletes it).",
    attributes={"code": "the code as uploaded", "ends_at": "ISO time the shop's code stops working, if known"},
    written_by=("DynamoCodePool.add", "DynamoCodePool.claim"),
    read_by=("DynamoCodePool.claim", "DynamoCodePool.add"),
)
POOL_CLAIM = ItemType(
    name="pool claim",
    table=PROFILES_TABLE,
    privacy="shop",
    pk=pool_pk,
    sk=pool_claim_sk,
    description="Which code of a pool one message got (reference: template and message ref, a hash): a retry gets "
    "the same code.",
    attributes={"code": "the code", "claimed_at": "ISO time", "ends_at": "ISO time the code stops working, if known"},
    written_by=("DynamoCodePool.claim",),
    read_by=("DynamoCodePool.claim",),
)
POOL_USED = ItemType(
    name="pool used code",
    table=PROFILES_TABLE,
    privacy="shop",
    pk=pool_pk,
    sk=pool_used_sk,
    description="A code of a pool that was handed out: an upload never adds it again (the code's own record, "
    "which names the customer, goes with an erasure; this one names nobody).",
    attributes={"used_at": "ISO time it was handed out"},
    written_by=("DynamoCodePool.claim",),
    read_by=("DynamoCodePool.add",),
)
POOL_META = ItemType(
    name="pool counter",
    table=PROFILES_TABLE,
    privacy="shop",
    pk=pool_pk,
    sk=POOL_META_SK,
    description="How many codes a pool has left: set by a count at each upload, decremented by each claim.",
    attributes={"remaining": "number of codes left"},
    written_by=("DynamoCodePool.add", "DynamoCodePool.claim"),
    read_by=("DynamoCodePool.remaining",),
)
UPLIFT = ItemType(
    name="uplift estimate",
    table=PROFILES_TABLE,
    privacy="aggregate",
    pk=uplift_pk,
    sk=UPLIFT_SK,
    description="Per template with a coupon and per band of P(buy): the conversions the coupon adds and whether it "
    "pays (emma.offers.uplift), from the incentive arms' counters; written by the hourly snapshot job.",
    attributes={"doc": "JSON: template -> UpliftTable", "computed_at": "ISO time of the estimate"},
    written_by=("DynamoUpliftTables.save",),
    read_by=("DynamoUpliftTables.get",),
)
CAMPAIGN_STATE = ItemType(
    name="campaign state",
    table=PROFILES_TABLE,
    privacy="shop",
    pk=campaign_pk,
    sk=CAMPAIGN_STATE_SK,
    description="Whether a campaign's recurrence goes on for the shop (a start turns it on, a cancel off).",
    attributes={"doc": "emma.campaigns.runs.CampaignState as JSON"},
    written_by=("DynamoCampaignRuns.put_campaign_state",),
    read_by=("DynamoCampaignRuns.campaign_state",),
)
CAMPAIGN_RUN = ItemType(
    name="campaign run",
    table=PROFILES_TABLE,
    privacy="aggregate",
    pk=campaign_pk,
    sk=campaign_run_sk,
    description=(
        "One run of a campaign (its day): status, the audience's counts, how far the waves got (the chunk and "
        "offset), the A/B decision. Written on condition of its version (a pause during a wave is not lost)."
    ),
    attributes={
        "doc": "emma.campaigns.runs.RunState as JSON",
        "status": "the run's status (what the dispatcher reads before each of its messages)",
        "version": "incremented by every write, the condition of the next",
        "expires_at": "TTL, epoch seconds",
    },
    ttl=f"{CAMPAIGN_RUN_TTL.days} days after it was created",
    written_by=("DynamoCampaignRuns.create", "DynamoCampaignRuns.save"),
    read_by=("DynamoCampaignRuns.get", "DynamoCampaignRuns.runs", "DynamoCampaignRuns.status"),
)
CAMPAIGN_CHUNK = ItemType(
    name="campaign recipients",
    table=PROFILES_TABLE,
    privacy="pseudonymous",
    pk=campaign_run_pk,
    sk=chunk_sk,
    sk_pattern="C#<phase>#<send at, YYYYmmddTHHMMSS UTC>#<shard>#<seq>",
    description=(
        "Up to 400 recipients of a run due at one time (one phase: the A/B sample first), decided when the run "
        "began; the waves hand them to the dispatcher in sort-key order."
    ),
    attributes={"doc": "emma.campaigns.runs.Chunk as JSON: (profile id, variant) pairs", "expires_at": "TTL"},
    ttl=f"{CAMPAIGN_CHUNK_TTL.days} days after it was written",
    written_by=("DynamoCampaignRuns.put_chunks",),
    read_by=("DynamoCampaignRuns.chunks_from",),
)
CAMPAIGN_SELECTION = ItemType(
    name="campaign shard selection",
    table=PROFILES_TABLE,
    privacy="aggregate",
    pk=campaign_run_pk,
    sk=selection_sk,
    sk_pattern="SEL#<shard, two digits>",
    description="What deciding one member-list shard of a run's audience counted (summed on the run).",
    attributes={"doc": "emma.campaigns.runs.Selection as JSON", "expires_at": "TTL"},
    ttl=f"{CAMPAIGN_CHUNK_TTL.days} days after it was written",
    written_by=("DynamoCampaignRuns.put_selection",),
    read_by=("DynamoCampaignRuns.selections",),
)
PRODUCT = ItemType(
    name="product",
    table=CATALOG_TABLE,
    privacy="shop",
    pk=product_pk,
    sk=PRODUCT_SK,
    description=(
        "A catalog product: each catalog event merges the fields it carries (a partial update never blanks "
        "what is known); an update older than the stored one is not applied."
    ),
    attributes={
        "<product field>": "every non-empty field of emma.events.model's product (product_id, title, price, ...)",
        "variants": "the variants, when the event carries them",
        "shop": "the shop (scans filter on it)",
        "updated_at": "ISO time of the newest update applied (the condition for the next)",
        "created_at": "ISO time of the first update",
    },
    written_by=("DynamoCatalog.upsert_product",),
    read_by=(
        "DynamoCatalog.get_product",
        "DynamoCatalog.get_products",
        "DynamoShopHistory.shops",
        "DynamoShopHistory.products",
    ),
)
IMPORT_JOB = ItemType(
    name="import job",
    table=PROFILES_TABLE,
    privacy="shop",
    pk=import_job_pk,
    sk=import_job_sk,
    description=(
        "An import of a file from the imports bucket (the import state machine): where it stands, what it stored, "
        "the first problems of a file that could not be imported (FILE:LINE: reason; lines, never their content)."
    ),
    attributes={
        "<field>": "every field of emma.imports.ports.ImportJob: counters as numbers (added to while it runs), "
        "the rest as strings (lists and maps as JSON)",
        "expires_at": "TTL, epoch seconds",
    },
    ttl="90 days after it started",
    written_by=("DynamoImportJobs.start", "DynamoImportJobs.update"),
    read_by=("DynamoImportJobs.get",),
)
PRODUCT_SKU = ItemType(
    name="product sku",
    table=CATALOG_TABLE,
    privacy="shop",
    pk=sku_pk,
    sk=SKU_SK,
    description=(
        "The product a SKU belongs to, written with the product: exports without product ids (Shopify's orders "
        "CSV) name their line items by SKU, and an import finds the catalog's product through it."
    ),
    attributes={"product_id": "the catalog product with this SKU (the newest product written with it)"},
    written_by=("DynamoCatalog.upsert_product",),
    read_by=("DynamoCatalog.product_ids_by_sku",),
)
MODEL_LIST = ItemType(
    name="recommendation list",
    table=CATALOG_TABLE,
    privacy="shop",
    pk=model_pk,
    sk=model_sk,
    description=(
        "A packed item of the shop's recommendation model (emma.recommend.layout, format 2), rebuilt daily: HEAD "
        "(the shop-wide lists and the tops of every category, brand and tag list, or the number of group shards), "
        "G#<n> (a group shard), N#<product> (a product's title, price, co-purchase and fits lists); every entry "
        "carries what the request's filters need. Items no longer built are deleted, the one-item-per-list format "
        "of before included (read until the next build replaces it: POPULAR, CO#<product>, ... with attribute v)."
    ),
    attributes={"z": "the item's lists, JSON compressed with zlib (binary)", "built_at": "ISO time of the build"},
    written_by=("DynamoModelStore.save",),
    read_by=("DynamoModelStore.load", "DynamoModelStore.save"),
    sk_pattern="<HEAD, G#<n> or N#<product>; before format 2: a list key such as POPULAR or CO#<product>>",
)
DEFERRAL = ItemType(
    name="deferred message",
    table=SCHEDULE_TABLE,
    privacy="customer",
    pk=deferral_pk,
    sk=deferral_sk,
    description=(
        f"A message request deferred (quiet hours, ...), back on the messages queue when due; {DEFERRAL_SHARDS} "
        f"shards (0..{DEFERRAL_SHARDS - 1}, by a hash of the message key), each sorted by due time."
    ),
    attributes={"request": "the message request (JSON)", "expires_at": "TTL, epoch seconds"},
    ttl=f"{DEFERRAL_TTL.days} days after due",
    written_by=("DynamoDeferrals.defer", "DynamoDeferrals.remove"),
    read_by=("DynamoDeferrals.due",),
    sk_pattern="<due time, UTC>#<message key>",
)
TIMER = ItemType(
    name="due timer",
    table=SCHEDULE_TABLE,
    privacy="customer",
    pk=timer_pk,
    sk=timer_sk,
    description=(
        f"A timer of the rules function (absence trigger, segment review); {SHARDS} shards (0..{SHARDS - 1}, "
        "by a hash of the profile id), each sorted by due time; re-arming writes a new timer. Written before the "
        "rules commit that names it; never deleted once due: the scheduled job reads a range from its cursor, and "
        "a timer expires."
    ),
    attributes={
        "shop": "the shop",
        "profile_id": "the profile",
        "kind": "absence or review",
        "due_at": "ISO due time",
        "trigger_id": "the trigger (absence timers)",
        "armed_at": "ISO time it was armed, if any",
        "first_due_at": "put again after its evaluation failed: when it first came due",
        "attempt": "put again after its evaluation failed: the failed evaluations before",
        "expires_at": "TTL, epoch seconds",
    },
    ttl=f"{TIMER_TTL.days} days after due",
    written_by=("DynamoRulesStore.put_timers", "DynamoRulesStore.commit"),
    read_by=("DynamoRulesStore.due_timers",),
    sk_pattern="<due time, UTC>#<shop>#<profile id>#<kind>#<trigger id>#<armed at>",
)
SUPPRESSION = ItemType(
    name="erasure suppression",
    table=PROFILES_TABLE,
    privacy="hashed",
    pk=suppression_pk,
    sk=SUPPRESSION_SK,
    description=(
        "An email address or phone number of an erased customer, as a salted hash (HMAC-SHA256 with the shop's "
        "privacy salt): a later event with the same address does not re-create marketing consent unless the "
        "customer confirms it again by double opt-in."
    ),
    attributes={"kind": "email or phone", "at": "ISO time of the erasure"},
    written_by=("DynamoPrivacyStore.suppress", "DynamoPrivacyStore.erase"),
    read_by=("DynamoPrivacyStore.suppressed", "DynamoPrivacyStore.holdings"),
)
ERASED_IDS = ItemType(
    name="erased event ids",
    table=PROFILES_TABLE,
    privacy="scrubbed",
    pk=erased_ids_pk,
    sk=ERASED_IDS_SK,
    description=(
        "The event ids erased customers' profiles had absorbed (emma.ingest.seen), in 256 shards, each id in the "
        "shard of every identity of its customer (a byte of the identity's hash: emma.ingest.seen.erased_shard): a "
        "delivery retried after the erasure is still a duplicate (it does not re-create the customer), a new "
        "customer's request reads one shard, and the item names nobody."
    ),
    attributes={"ids": "a binary set of 6-byte hashes of shop and event id", "expires_at": "TTL, epoch seconds"},
    ttl="EMMA_IDEMPOTENCY_TTL_DAYS (35 by default) after the last erasure that added to it",
    written_by=("DynamoPrivacyStore.erase",),
    read_by=("DynamoProfileRepository.erased_ids",),
)
PRIVACY_JOB = ItemType(
    name="privacy job",
    table=PROFILES_TABLE,
    privacy="hashed",
    pk=privacy_job_pk,
    sk=PRIVACY_JOB_SK,
    description=(
        "An export or erasure (one customer, or a whole shop). The job id is a salted hash of the shop and the "
        "reference asked for, so a retried request finds its job. While an erasure runs, its plan names the "
        "customer (profile ids, identities); a finished job keeps only counts."
    ),
    attributes={
        "kind": "export, erase or erase_shop",
        "status": "pending, running, done or failed",
        "doc": "the job as JSON (emma.privacy.model.PrivacyJob): plan while running, counts when done",
        "updated_at": "ISO time of the last change",
    },
    written_by=("DynamoPrivacyStore.put_job",),
    read_by=("DynamoPrivacyStore.get_job",),
)
AUDIT = ItemType(
    name="audit entry",
    table=PROFILES_TABLE,
    privacy="hashed",
    pk=audit_pk,
    sk=audit_sk,
    description=(
        "One export, erasure or consent change made through the admin API or a compliance webhook: who (the "
        "admin key's id or the platform), when, what, and the subject as a salted hash. Not erased with the "
        "customer."
    ),
    attributes={
        "action": "export, erase, erase_shop, data_request, consent",
        "actor": "admin key id (the first 12 hex digits of its SHA-256), shopify:<topic>, cli or retention",
        "subject": "salted hash of the profile reference",
        "detail": "JSON: counts, status, job id",
        "at": "ISO time",
    },
    written_by=("DynamoPrivacyStore.audit",),
    read_by=("DynamoPrivacyStore.audit_log",),
    sk_pattern="<time, UTC>#<entry id>",
)
PRIVACY_QUEUE = ItemType(
    name="queued privacy job",
    table=SCHEDULE_TABLE,
    privacy="shop",
    pk=PRIVACY_QUEUE_PK,
    sk=privacy_queue_sk,
    description="A privacy job left for the scheduled job to finish (compliance webhooks, long erasures).",
    attributes={"shop": "the shop", "job_id": "the job"},
    written_by=("DynamoPrivacyStore.enqueue", "DynamoPrivacyStore.dequeue", "DynamoPrivacyStore.drop"),
    read_by=("DynamoPrivacyStore.queued",),
    sk_pattern="<queued at, UTC>#<shop>#<job id>",
)
CURSOR = ItemType(
    name="scheduler cursor",
    table=SCHEDULE_TABLE,
    privacy="shop",
    pk=CURSOR_PK,
    sk=CURSOR_SK,
    description="Up to when the scheduled job has looked for due timers.",
    attributes={
        "at": "ISO time",
        "range": "true: due timers are read by range from it (without: written by a version that deleted them)",
    },
    written_by=("DynamoRulesStore.set_cursor",),
    read_by=("DynamoRulesStore.cursor",),
)

_ANALYTICS_DOC = {
    "doc": "the item as JSON (emma.analytics.model), with the ids of the events it counted (hashed, newest 64)",
    "v": "version: each write is conditioned on the version read",
    "expires_at": "TTL, epoch seconds",
}
_ANALYTICS_WRITER = ("DynamoAnalyticsStore.commit",)
ANALYTICS_TOUCH = ItemType(
    name="analytics: message touch",
    table=PROFILES_TABLE,
    privacy="customer",
    pk=profile_pk,
    sk=touch_sk,
    description="A message as analytics counts it for its customer: what it was (journey, step, template, variant, "
    "channel), its send, delivery, first and newest opens and clicks (the touches attribution reads).",
    attributes=_ANALYTICS_DOC,
    ttl=f"{MESSAGE_TTL.days} days after the last change",
    written_by=_ANALYTICS_WRITER,
    read_by=("DynamoAnalyticsStore.touch", "DynamoAnalyticsStore.customer"),
)
ANALYTICS_ASSIGNMENT = ItemType(
    name="analytics: experiment assignment",
    table=PROFILES_TABLE,
    privacy="customer",
    pk=profile_pk,
    sk=assignment_sk,
    description="The variant of a journey's split the customer was given, when, and their orders, revenue and "
    "unsubscribe since (within the shop's experiment window).",
    attributes=_ANALYTICS_DOC,
    ttl=f"{MESSAGE_TTL.days} days after the last change",
    written_by=_ANALYTICS_WRITER,
    read_by=("DynamoAnalyticsStore.assignment", "DynamoAnalyticsStore.customer"),
    sk_pattern="AN#X#<journey>|<split step>",
)
ANALYTICS_ORDER = ItemType(
    name="analytics: order credit",
    table=PROFILES_TABLE,
    privacy="customer",
    pk=profile_pk,
    sk=order_credit_sk,
    description="What an order credited to messages and experiments (the counter deltas), so that a cancellation "
    "or refund takes back exactly that.",
    attributes=_ANALYTICS_DOC,
    ttl=f"{MESSAGE_TTL.days} days after the last change",
    written_by=_ANALYTICS_WRITER,
    read_by=("DynamoAnalyticsStore.customer",),
)
ANALYTICS_PROGRESS = ItemType(
    name="analytics: journey progress",
    table=PROFILES_TABLE,
    privacy="customer",
    pk=profile_pk,
    sk=progress_sk,
    description="The journey events already counted for the customer in one journey (exactly once).",
    attributes=_ANALYTICS_DOC,
    ttl=f"{MESSAGE_TTL.days} days after the last change",
    written_by=_ANALYTICS_WRITER,
    read_by=("DynamoAnalyticsStore.progress", "DynamoAnalyticsStore.customer"),
)
ANALYTICS_COUNTERS = ItemType(
    name="analytics counters",
    table=PROFILES_TABLE,
    privacy="aggregate",
    pk=analytics_pk,
    sk=analytics_counter_sk,
    description=(
        f"Counters per shop, kind (message, journey, shop, arm), day and key, spread over {ANALYTICS_SHARDS} "
        "shards by a hash of the profile id; a report sums the shards. Keys: message = journey|step|template|"
        "variant|channel, journey = journey|step, shop = ''; arms are cumulative, their sort key is the key alone: "
        "journey|step|variant."
    ),
    attributes={"c_<counter>": "number, ADDed (emma.analytics.model: the counters of each kind)", "expires_at": "TTL"},
    ttl=f"{ANALYTICS_COUNTER_TTL.days} days after the day (arms: never)",
    written_by=_ANALYTICS_WRITER,
    read_by=("DynamoAnalyticsStore.counters", "DynamoAnalyticsStore.arms"),
    pk_pattern="S#<shop>#AN#<kind>#<shard>",
    sk_pattern="<day>#<key>",
)
ANALYTICS_SNAPSHOT = ItemType(
    name="analytics: daily shop snapshot",
    table=PROFILES_TABLE,
    privacy="aggregate",
    pk=snapshot_pk,
    sk=snapshot_sk,
    description="The shop's KPIs of one day (customers known, reachable per channel, segment sizes), rewritten "
    "every hour for the shop's current day, so that trends are read, not computed from the customers.",
    attributes={"c_<kpi>": "number", "taken_at": "ISO time"},
    written_by=("DynamoAnalyticsStore.put_snapshot",),
    read_by=("DynamoAnalyticsStore.snapshots",),
)

ITEM_TYPES: tuple[ItemType, ...] = (
    COUPON,
    POOL_CODE,
    POOL_CLAIM,
    POOL_USED,
    POOL_META,
    UPLIFT,
    PROFILE,
    EVENT_LOG,
    MERGED_LOG,
    SEEN_ARCHIVE,
    ERASED_IDS,
    ALIAS,
    IDEMPOTENCY,
    DERIVED,
    MARKER,
    SEGMENT_SIZES,
    SEGMENT_MEMBER,
    SHOP_STATS,
    SHOP_STATS_CELL,
    PRIOR,
    JOURNEY_STATE,
    MESSAGE,
    CAPS,
    LINK,
    PRODUCT,
    PRODUCT_SKU,
    IMPORT_JOB,
    CAMPAIGN_STATE,
    CAMPAIGN_RUN,
    CAMPAIGN_CHUNK,
    CAMPAIGN_SELECTION,
    MODEL_LIST,
    DEFERRAL,
    TIMER,
    CURSOR,
    SUPPRESSION,
    PRIVACY_JOB,
    AUDIT,
    PRIVACY_QUEUE,
    ANALYTICS_TOUCH,
    ANALYTICS_ASSIGNMENT,
    ANALYTICS_ORDER,
    ANALYTICS_PROGRESS,
    ANALYTICS_COUNTERS,
    ANALYTICS_SNAPSHOT,
)
