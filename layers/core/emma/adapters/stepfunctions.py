"""What Emma's Step Functions adapters (journeys, imports, campaigns) share: a call that treats the error codes
meaning "already so" as done, and an execution's ARN from its state machine's."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emma.errors import TransientError


def execution_arn(machine_arn: str, name: str) -> str:
    """arn:aws:states:<region>:<account>:stateMachine:<machine> -> ...:execution:<machine>:<name>."""
    return machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


def settle(operation: str, method: Any, settled: tuple[str, ...], **kwargs: Any) -> dict[str, Any] | None:
    """Call ``method``: its answer; None when AWS answered one of the ``settled`` error codes (nothing left to do:
    the execution exists already, has ended, ...); TransientError otherwise."""
    try:
        return dict(method(**kwargs))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in settled:
            return None
        raise TransientError(f"{operation} failed: {code}") from exc
    except BotoCoreError as exc:
        raise TransientError(f"{operation} failed: {type(exc).__name__}") from exc
