"""The Lambda runtime and architecture, in one place: the functions, both layers and the pip
platform tags of the dependency layer all follow from these two values.

Python 3.14 is the newest Python runtime aws-cdk-lib 2.275 knows (cdk-nag AwsSolutions-L1 asks for
the newest) and every package pinned in requirements/lambda.lock has cp314 manylinux aarch64 wheels
(pydantic-core, wrapt) or is pure Python (aws-lambda-powertools 3.37 declares 3.14 support).
To move runtimes, change LAMBDA_RUNTIME: the layer cache key includes the Python version.
"""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_

LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_14
LAMBDA_ARCHITECTURE = lambda_.Architecture.ARM_64

# pip's view of the same target: `--python-version` and the manylinux tags of the Lambda arm64 hosts
# (Amazon Linux 2023, glibc 2.34).
PYTHON_VERSION = LAMBDA_RUNTIME.name.removeprefix("python")  # "3.14"
PIP_PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
