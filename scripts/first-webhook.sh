#!/usr/bin/env bash
# Send a signed Shopify orders/create webhook to a running `emma dev`, then read the profile.
# Usage: scripts/first-webhook.sh [base URL]   (default http://127.0.0.1:8787)
set -euo pipefail
API=${1:-http://127.0.0.1:8787}
BODY=events/shopify/orders_create.json
SECRET=shpss_local_elektro_emma            # the shop's Shopify secret from config/emma.local.example.toml
SIG=$(openssl dgst -sha256 -hmac "$SECRET" -binary "$BODY" | base64)   # or: .venv/bin/emma sign shopify $BODY --secret $SECRET

curl -sS "$API/webhooks/shopify/elektro-emma" \
  -H 'Content-Type: application/json' \
  -H 'X-Shopify-Topic: orders/create' \
  -H "X-Shopify-Webhook-Id: first-webhook-$(date +%s)" \
  -H "X-Shopify-Hmac-Sha256: $SIG" \
  --data-binary @"$BODY"
echo
curl -sS "$API/v1/profiles/lena.schmidt@example.de?history=5" -H 'Authorization: Bearer ak_local_elektro_emma'
echo
