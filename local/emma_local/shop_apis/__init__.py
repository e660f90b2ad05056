"""Local stand-ins for the shops' coupon APIs: each one a pure request handler
``handle(method, path, headers, body) -> (status, headers, body)`` over in-memory state, implementing the
documented request and response shapes of its platform (errors and rate limiting included), plus a
``redeem`` helper that returns the platform's order webhook body carrying a created code. Unit tests call
``handle`` in-process; the local runtime can serve them over HTTP."""
