"""Shopify events delivered through Amazon EventBridge (partner event source) via an SQS queue."""
