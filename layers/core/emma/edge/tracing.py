"""The handlers' tracer: Powertools' X-Ray Tracer where tracing is on, a no-op one where it is off.

Powertools' ``Tracer()`` imports the X-Ray SDK (``aws_xray_sdk.core``, ~0.2 s of a cold start) even
when tracing is disabled. Where tracing is off (``POWERTOOLS_TRACE_DISABLED``, outside Lambda, the SAM
or Chalice local emulators: the same conditions as Powertools' own ``Tracer._is_tracer_disabled``),
``tracer()`` hands out a ``NoTracer`` instead, whose decorators return the function they are given and
whose other methods do nothing, and the SDK is never imported. Deployed functions run with X-Ray
tracing active and get the real Tracer.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.functions import strtobool

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

F = TypeVar("F", bound=Callable[..., Any])


def tracing_enabled() -> bool:
    """Whether Powertools would trace: not disabled by ``POWERTOOLS_TRACE_DISABLED``, in Lambda
    (``LAMBDA_TASK_ROOT`` set) and not in the SAM CLI's or Chalice's local emulator."""
    if strtobool(os.getenv(constants.TRACER_DISABLED_ENV, "false")):
        return False
    in_lambda = bool(os.getenv(constants.LAMBDA_TASK_ROOT_ENV))
    emulated = bool(os.getenv(constants.SAM_LOCAL_ENV) or os.getenv(constants.CHALICE_LOCAL_ENV))
    return in_lambda and not emulated


class NoTracer:
    """What the handlers use of Powertools' Tracer, doing nothing: tracing is off."""

    disabled = True

    def capture_lambda_handler(self, lambda_handler: F | None = None, **_options: Any) -> Any:
        """``@capture_lambda_handler`` and ``@capture_lambda_handler(capture_response=False)`` alike."""
        return lambda_handler if lambda_handler is not None else _identity

    def capture_method(self, method: F | None = None, **_options: Any) -> Any:
        """``@capture_method`` and ``@capture_method(capture_response=False)`` alike."""
        return method if method is not None else _identity

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str | None = None) -> None:
        pass

    def patch(self, modules: Any = None) -> None:
        pass

    def ignore_endpoint(self, hostname: str | None = None, urls: list[str] | None = None) -> None:
        pass


def _identity(function: F) -> F:
    return function


def tracer() -> Tracer | NoTracer:
    """Powertools' Tracer where tracing is on (imported only then), else a ``NoTracer``."""
    if not tracing_enabled():
        return NoTracer()
    from aws_lambda_powertools import Tracer

    return Tracer()
