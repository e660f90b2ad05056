"""Where things are in the repository. The app works from any current directory."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = REPO_ROOT / "functions"
CORE_PACKAGE_DIR = REPO_ROOT / "layers" / "core" / "emma"
LAMBDA_LOCK_FILE = REPO_ROOT / "requirements" / "lambda.lock"
LAYER_CACHE_DIR = REPO_ROOT / ".cache" / "layers"  # gitignored; survives `rm -rf cdk.out`
CDK_JSON = REPO_ROOT / "cdk.json"
OPENAPI_DOCUMENT = REPO_ROOT / "docs" / "openapi.json"  # generated from the ingest routes (`emma schema`)
DEFINITIONS_ROOT = REPO_ROOT  # triggers/, segments/ and journeys/*.yaml, bundled as JSON at synth time
