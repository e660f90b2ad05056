#!/usr/bin/env python3
"""CDK entry point (cdk.json: `.venv/bin/python infra/app.py`); see docs/deploy.md."""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# emma_infra (beside this file) and the emma package (layers/core), even without the editable install.
for path in (REPO_ROOT / "infra", REPO_ROOT / "layers" / "core"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from emma_infra.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
