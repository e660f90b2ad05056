"""The boto3 client configurations, named by who waits for the answer."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

# Webhook senders and trackers give up after a few seconds (Shopify: 5 s): fail fast, let them retry.
REQUEST_PATH = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 3, "mode": "standard"})
# Queue consumers and the journey steps: a failed record is retried by SQS or Step Functions anyway,
# but a few patient attempts here save a whole redelivery.
CONSUMER = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 4, "mode": "standard"})
# The daily model build scans whole tables: long reads, many retries, nobody waiting.
BATCH_JOB = Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 6, "mode": "standard"})


def session_or_default(session: Any | None) -> Any:
    """The given boto3 session (tests, the local runtime, benchmarks) or a new default one."""
    return session or boto3.session.Session()
