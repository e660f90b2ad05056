"""The boto3 client configurations, named by who waits for the answer."""

from __future__ import annotations

import threading
from collections.abc import Callable
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


# Creating a client loads its service's model (JSON) and endpoint rules: tens of ms on a cold start. One lock
# for all lazy clients: botocore sessions are not meant to create clients from several threads at once.
_CREATING = threading.Lock()


class LazyClient:
    """A boto3 client created on first use (its first attribute read): for a part that a request may not
    need (the ingest path's EventBridge client: webhooks and tracker calls publish through the profiles
    table's stream, only catalog events are published directly). Otherwise the client itself."""

    def __init__(self, create: Callable[[], Any]) -> None:
        self._create = create
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:  # only for what the instance does not have: the client's API
        client = self._client
        if client is None:
            with _CREATING:
                if self._client is None:
                    self._client = self._create()
                client = self._client
        return getattr(client, name)
