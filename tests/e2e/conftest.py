"""End to end: the local runtime (moto server + real handlers) over real HTTP."""

import socket

import pytest

from emma_local.config import load_config
from emma_local.runtime import LocalRuntime


@pytest.fixture(scope="module")
def runtime():
    rt = LocalRuntime(load_config(), port=0, log_level="ERROR", environments=3).start()
    yield rt
    rt.stop()


@pytest.fixture
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
