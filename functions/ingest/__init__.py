"""The ingest Lambda: tracker calls, shop webhooks and profile reads behind API Gateway (HTTP API)."""
