"""`EmmaFunction`: how every Emma Lambda function is built.

One folder of functions/ per function (its code asset holds only that folder), the core and
dependency layers, arm64, the newest Python runtime, X-Ray tracing, an explicit log group with
retention, a role of its own that can write to that log group only (no AWSLambdaBasicExecutionRole,
whose logs:CreateLogGroup on "*" the function does not need), and by default `events:PutEvents` on
the bus. `FunctionOptions` sizes it and says what else it may use: by default (the ingest path) every
table and the shop secrets; the rules functions only their two tables plus the definitions layer; the
recommendations build one table read-only, one read/write, and not the bus; the ingest API and the
privacy schedule the exports bucket too, and stopping the journeys' executions (granted by `Journeys`,
built after the functions: see `EmmaStack`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Acknowledgment, ArnFormat, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from emma.resources import EXPORTS_BUCKET, SHOP_SECRET_PREFIX, TABLES, TableDef
from emma_infra.constructs.bus import Bus
from emma_infra.constructs.data import Data
from emma_infra.constructs.definitions import Definitions
from emma_infra.paths import FUNCTIONS_DIR
from emma_infra.runtime import LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME

LOG_RETENTION = logs.RetentionDays.ONE_MONTH
METRICS_NAMESPACE = "Emma"


def function_code(folder: str) -> lambda_.Code:
    """functions/ as the asset root (so `<folder>.handler` imports), holding only ``folder``."""
    if not (FUNCTIONS_DIR / folder / "handler.py").is_file():
        raise FileNotFoundError(f"no handler at functions/{folder}/handler.py")
    others = sorted(p.name for p in FUNCTIONS_DIR.iterdir() if p.name != folder)
    return lambda_.Code.from_asset(str(FUNCTIONS_DIR), exclude=[*others, "__pycache__", "*.pyc"])


@dataclass(frozen=True)
class Platform:
    """What every function is wired to."""

    layers: Sequence[lambda_.ILayerVersion]
    data: Data
    bus: Bus
    definitions: Definitions


@dataclass(frozen=True)
class FunctionOptions:
    """Sizing and access of one function; the defaults are the ingest path's."""

    memory_size: int = 1024  # more memory = more CPU: faster cold starts and parsing on arm64
    timeout_seconds: int = 10
    tables: tuple[TableDef, ...] = TABLES  # read/write, and their names in the environment
    read_tables: tuple[TableDef, ...] = ()  # read only, and their names in the environment
    shop_secrets: bool = True  # read emma/shops/* (the shop directory)
    definitions: bool = False  # the definitions layer and EMMA_DEFINITIONS (the rules functions)
    bus: bool = True  # events:PutEvents on Emma's bus, and its name in the environment
    publish: bool = True  # with bus: events:PutEvents (False: the bus's name only, which the settings require)
    scan: bool = True  # dynamodb:Scan on `tables` and `read_tables` (False: every other read and write)
    exports: bool = False  # s3:GetObject/PutObject on the exports bucket, and its name in the environment
    stop_executions: bool = False  # states:StopExecution on the journeys' executions (granted by `Journeys`)
    activity_index: bool = False  # dynamodb:Query on the profiles' activity index (retention), by its name

    def __post_init__(self) -> None:
        both = sorted({t.logical_id for t in self.tables} & {t.logical_id for t in self.read_tables})
        if both:
            raise ValueError(f"FunctionOptions: {both} listed both in tables (read/write) and read_tables")


class EmmaFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        folder: str,
        platform: Platform,
        description: str,
        options: FunctionOptions | None = None,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        options = options or FunctionOptions()
        self.folder = folder
        self.options = options
        self.log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Emma {folder} function",
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=LAMBDA_RUNTIME,
            architecture=LAMBDA_ARCHITECTURE,
            handler=f"{folder}.handler.lambda_handler",
            code=function_code(folder),
            layers=[*platform.layers, *([platform.definitions.layer] if options.definitions else [])],
            memory_size=options.memory_size,
            timeout=Duration.seconds(options.timeout_seconds),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            role=self.role,
            environment={
                **platform.data.environment_for([*options.tables, *options.read_tables]),
                **(platform.bus.environment if options.bus else {}),
                **({"EMMA_SHOP_SECRET_PREFIX": SHOP_SECRET_PREFIX} if options.shop_secrets else {}),
                **(platform.data.exports_environment if options.exports else {}),
                **(platform.definitions.environment if options.definitions else {}),
                "POWERTOOLS_SERVICE_NAME": f"emma-{folder.replace('_', '-')}",
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "LOG_LEVEL": "INFO",
                **(environment or {}),
            },
        )
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="Active X-Ray tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, "
                "which support no resource-level permissions (resource must be '*').",
            )
        )
        platform.data.grant_read_write(self.function, options.tables, scan=options.scan)
        platform.data.grant_read(self.function, options.read_tables, scan=options.scan)
        if options.bus and options.publish:
            platform.bus.grant_put_events(self.function)
        if options.shop_secrets:
            self._allow_shop_secrets()
        if options.exports:
            self._allow_exports(platform.data)
        if options.activity_index:
            platform.data.grant_activity_index(self.function)

    def _allow_exports(self, data: Data) -> None:
        """Write and read the exports bucket's objects (emma.adapters.privacy.S3Exports)."""
        policy = iam.Policy(self, "Exports", roles=[self.role], statements=data.export_statements())
        self.function.node.add_dependency(policy)
        Validations.of(policy).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{EXPORTS_BUCKET.logical_id}.Arn>/*]",  # its fixed logical id
                reason="One export object per privacy job (<shop>/<job id>.json), named at run time; the "
                "bucket holds nothing but exports, which this function writes and serves.",
            )
        )

    def _allow_shop_secrets(self) -> None:
        """Read the per-shop secrets (emma/shops/<shop>): the shop directory lists and batch-reads them."""
        shop_secrets = Stack.of(self).format_arn(
            service="secretsmanager",
            resource="secret",
            resource_name=f"{SHOP_SECRET_PREFIX}*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        policy = iam.Policy(
            self,
            "ShopSecrets",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    sid="ReadShopSecrets",
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[shop_secrets],
                ),
                iam.PolicyStatement(
                    sid="FindShopSecrets",
                    actions=["secretsmanager:ListSecrets", "secretsmanager:BatchGetSecretValue"],
                    resources=["*"],
                ),
            ],
        )
        # Run before the function can be invoked: the first request already reads the shop secrets.
        self.function.node.add_dependency(policy)
        Validations.of(policy).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:"
                f"<AWS::AccountId>:secret:{SHOP_SECRET_PREFIX}*]",
                reason=f"One secret per shop, created by operators after deployment as {SHOP_SECRET_PREFIX}<shop>; "
                "the trailing wildcard also covers the random suffix Secrets Manager appends to secret ARNs.",
            ),
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="secretsmanager:ListSecrets and secretsmanager:BatchGetSecretValue support no "
                "resource-level permissions; the values themselves stay limited to "
                f"{SHOP_SECRET_PREFIX}* by the GetSecretValue statement, which BatchGetSecretValue also requires.",
            ),
        )
