"""The two Lambda layers every function uses: Emma's core package and its third-party dependencies."""

from __future__ import annotations

from aws_cdk import AssetHashType
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from emma_infra.bundling import build_dependency_layer, stage_core_layer
from emma_infra.runtime import LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME


class Layers(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        core_dir, core_digest = stage_core_layer()
        deps_dir, deps_key = build_dependency_layer()
        # The asset hashes are the digests the directories are named after: no re-hashing ~100 MB of
        # wheels on every synth, and a new layer version exactly when the inputs change.
        self.core = self._layer("Core", "Emma core package (layers/core/emma)", str(core_dir), core_digest)
        self.dependencies = self._layer(
            "Dependencies", "Emma third-party dependencies (requirements/lambda.lock)", str(deps_dir), deps_key
        )

    @property
    def all(self) -> list[lambda_.ILayerVersion]:
        return [self.dependencies, self.core]

    def _layer(self, construct_id: str, description: str, path: str, digest: str) -> lambda_.LayerVersion:
        return lambda_.LayerVersion(
            self,
            construct_id,
            code=lambda_.Code.from_asset(path, asset_hash=digest, asset_hash_type=AssetHashType.CUSTOM),
            compatible_runtimes=[LAMBDA_RUNTIME],
            compatible_architectures=[LAMBDA_ARCHITECTURE],
            description=description,
        )
