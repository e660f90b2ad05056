"""The composition root: settings + boto3 clients -> adapters -> domain services, one module per
function family. The only place where domain packages meet adapters (handlers -> wiring -> domain ->
ports <- adapters); nothing in a domain package imports from here.

Everything is built lazily by the handlers on their first invocation (never at import time), so
importing a handler costs only imports, and tests or the local runtime point boto3 at the emulator
with AWS_ENDPOINT_URL before anything is built.
"""
