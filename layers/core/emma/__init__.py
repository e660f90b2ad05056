"""Emma's shared core: canonical events, sources, profiles, ports and adapters (the Lambda layer)."""

__version__ = "0.1.0"
