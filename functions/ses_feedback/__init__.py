"""SES sending events (deliveries, opens, clicks, bounces, complaints) via EventBridge and an SQS queue."""
