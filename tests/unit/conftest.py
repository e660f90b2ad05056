"""Unit tests are pure: the network is blocked for each of them (socket creation fails).

The X-Ray SDK opens its UDP emitter socket when first imported (Powertools' Tracer imports it even
when tracing is disabled); it sends nothing, so it is imported once here, before sockets are blocked.
"""

import aws_xray_sdk.core  # noqa: F401
import pytest
from pytest_socket import disable_socket, enable_socket


@pytest.fixture(autouse=True)
def _no_network():
    disable_socket(allow_unix_socket=True)
    yield
    enable_socket()
