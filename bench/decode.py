"""The decompression path alone: ``ingest.http.decode_body`` on the benchmark's tracker batch, as
RudderStack's SDKs send it (gzip, level 6), per request and per canonical event; a large batch; and
how much CPU a gzip bomb costs before it is refused. Section 1's ``batch_gzip`` case measures the
whole handler with the same bodies; this isolates the part the encoding adds, which is too small
to see through section 1's run-to-run noise."""

from __future__ import annotations

import gzip
import json
import time
import timeit
from typing import Any

from bench.payloads import TrackerBatches


def measure(repeat: int = 5, number: int = 5000) -> dict[str, Any]:
    from emma.errors import PayloadTooLarge
    from emma.sources.common import MAX_BODY_BYTES
    from ingest.http import decode_body

    batches = TrackerBatches()
    plain = batches.request("decode", 0).body
    compressed = gzip.compress(plain, 6)

    def best(fn, n: int) -> float:
        return min(timeit.repeat(fn, number=n, repeat=repeat)) / n

    gzip_s = best(lambda: decode_body(compressed, "gzip"), number)
    identity_s = best(lambda: decode_body(plain, ""), number)
    big = json.dumps({"batch": json.loads(plain)["batch"] * 75}).encode()  # 1,500 calls, about 1 MB
    big_gz = gzip.compress(big, 6)
    big_s = best(lambda: decode_body(big_gz, "gzip"), max(1, number // 200))
    bomb = gzip.compress(b" " * (64 * 1024 * 1024), 9)
    started = time.process_time()
    try:
        decode_body(bomb, "gzip")
        raise RuntimeError("the gzip bomb was not refused")
    except PayloadTooLarge:
        bomb_s = time.process_time() - started
    calls = batches.calls
    return {
        "batch_bytes": len(plain),
        "batch_gzip_bytes": len(compressed),
        "calls_per_batch": calls,
        "gzip_us_per_request": gzip_s * 1e6,
        "gzip_us_per_call": gzip_s * 1e6 / calls,
        "identity_us_per_request": identity_s * 1e6,
        "large_batch": {
            "calls": 75 * calls,
            "bytes": len(big),
            "gzip_bytes": len(big_gz),
            "gzip_ms": big_s * 1e3,
        },
        "bomb": {"gzip_bytes": len(bomb), "decompressed_bytes": 64 * 1024 * 1024, "refused_after_cpu_ms": bomb_s * 1e3},
        "limit_bytes": MAX_BODY_BYTES,
    }
