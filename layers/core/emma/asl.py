"""What Emma's task state machines (emma.imports.machine, emma.campaigns.machine) share in their ASL: the Lambda
task resource and the retry of Lambda's and Emma's transient errors with backoff. Build-time code: the CDK app and
the local runtime build the machines; no Lambda function imports it."""

from __future__ import annotations

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
RETRY = [
    {
        "ErrorEquals": [
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
            "Lambda.TooManyRequestsException",
            "TransientError",
            "StoreError",
            "ConcurrencyConflict",
        ],
        "IntervalSeconds": 2,
        "MaxAttempts": 6,
        "BackoffRate": 2.0,
        "JitterStrategy": "FULL",
    }
]
