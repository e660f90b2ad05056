"""What the profiles table's stream does in AWS, for code run against moto in-process (the adapters' tests,
the benchmarks that drive the ingest service directly): the publisher function's relay after each ingest."""

from __future__ import annotations

import base64

from emma.adapters.dynamodb import DynamoProfileRepository, outbox_from_image
from emma.ingest.outbox import OutboxRelay
from emma.resources import OUTBOX_STREAM


def _base64(value):
    return base64.b64encode(value).decode() if isinstance(value, bytes | bytearray) else str(value)


def relayed(service, session, table, publisher, log_cap=500):
    """``service`` whose every ingest is followed by what the profiles table's stream does in AWS: the
    publisher function's relay of each stored outbox (its log entries into the table, its events to
    ``publisher``), in the stream's order. moto in-process answers no DynamoDB Streams API call (the local
    runtime's emulator does: emma_local.pump.StreamPump), so the records are read from moto's shard."""
    import json

    from moto.dynamodb.models import dynamodb_backends
    from moto.events.models import EventPattern

    relay = OutboxRelay(publisher, DynamoProfileRepository(session.client("dynamodb"), table, log_cap=log_cap))
    pattern = EventPattern.load(json.dumps(OUTBOX_STREAM.filter_pattern))
    account = session.client("sts").get_caller_identity()["Account"]
    shard = dynamodb_backends[account][session.region_name].get_table(table).stream_shard
    position = len(shard.items)
    ingest = service.ingest

    def ingest_and_relay(*args, **kwargs):
        nonlocal position
        try:
            return ingest(*args, **kwargs)
        finally:
            records = [json.loads(json.dumps(r.to_json(), default=_base64)) for r in shard.items[position:]]
            position = len(shard.items)
            matching = [r for r in records if pattern.matches_event(r)]
            outboxes = [outbox_from_image(r["dynamodb"].get("NewImage") or {}) for r in matching]
            relay.relay([o for o in outboxes if o is not None])

    service.ingest = ingest_and_relay
    return service
