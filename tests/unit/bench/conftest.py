"""What the benches' unit tests share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import pytest
from moto import mock_aws


@contextmanager
def moto_session() -> Iterator[boto3.Session]:
    """In-process moto with test credentials and no endpoint of a real emulator in the environment, for a
    module-scoped fixture (which cannot use the monkeypatch fixture): a boto3 session on it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "eu-central-1")
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        with mock_aws():
            yield boto3.Session(region_name="eu-central-1")
