"""Emma's CDK app: one stack (`EmmaStack`) made of one construct per feature.

`build_app()` is what `infra/app.py` (run by `npx cdk synth|deploy`) and the infra tests use, so the
checked-in cdk.json, cdk-nag and the tests all see the same app.
"""

from emma_infra.main import STACK_NAME, build_app
from emma_infra.stack import EmmaStack

__all__ = ["STACK_NAME", "EmmaStack", "build_app"]
