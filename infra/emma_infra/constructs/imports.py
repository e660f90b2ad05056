"""`Imports`: a shop's history imported from a file on managed services (emma.imports.machine).

* The imports bucket (`Data.imports_bucket`): the ingest API hands out presigned PUT URLs for
  ``<shop>/uploads/<uuid>/<file>`` (POST /v1/imports/uploads); the import writes its parts, what each part
  touched and the chunks to conclude under ``jobs/<shop>/<job>/`` and deletes all of it, the upload too,
  when it finishes. What is left expires with the bucket's lifecycle rule.
* The imports function (functions/imports): the machine's tasks (check, store, plan, conclude, ... finish).
* The import state machine (Standard, `IMPORT_MACHINE_NAME`): the ASL of `import_machine()`, the same the local
  runtime runs, with ``${ImportsFunctionArn}`` and ``${ImportsBucket}`` filled in by CloudFormation
  (DefinitionSubstitutions). Its Distributed Maps read their items from the bucket (S3 ListObjectsV2 over a
  job's parts, S3 GetObject of its chunks) and run each item as a child workflow execution of the machine itself.
* The ingest API starts imports (POST /v1/imports: states:StartExecution, the execution named
  ``import-<job>``) and reports them (GET /v1/imports/{job}: states:DescribeExecution).

No cycle: like the journeys' machines, the import machine has a fixed name, and the ARNs the ingest API and the
machine's own role need are built from it instead of referencing the machine.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, ArnFormat, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from emma.imports.machine import BUCKET, FUNCTION, import_machine
from emma.resources import IMPORT_MACHINE_ENV, IMPORT_MACHINE_NAME, IMPORTS_BUCKET, IMPORTS_FUNCTION
from emma_infra.constructs.functions import EmmaFunction, Platform
from emma_infra.constructs.journeys import logged_machine
from emma_infra.sizing import IMPORTS_FUNCTION_OPTIONS

# The DefinitionSubstitutions keys of the machine's placeholders: "${ImportsFunctionArn}" -> "ImportsFunctionArn".
FUNCTION_KEY = FUNCTION.removeprefix("${").removesuffix("}")
BUCKET_KEY = BUCKET.removeprefix("${").removesuffix("}")
# Where an import writes beside the uploaded file (emma.imports.files.prefix: jobs/<shop>/<job>/), the only
# objects the machine's ItemReaders read.
JOBS_PREFIX = "jobs/"
# Where the ingest API's presigned uploads go (<shop>/uploads/<uuid>/<file>, functions/ingest/routes/imports.py).
UPLOADS_PATTERN = "*/uploads/*"
# The executions the ingest API starts, one per job (emma.adapters.imports.StepFunctionsImportRuns).
EXECUTION_PREFIX = "import-"


class Imports(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, platform: Platform, api: EmmaFunction) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.bucket = platform.data.imports_bucket
        self.machine_arn = stack.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=IMPORT_MACHINE_NAME,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.environment = {**platform.data.imports_environment, IMPORT_MACHINE_ENV: self.machine_arn}

        self.function = EmmaFunction(
            self,
            "Function",
            folder=IMPORTS_FUNCTION,
            platform=platform,
            description="Emma imports: the import state machine's tasks (a file checked, stored, concluded)",
            options=IMPORTS_FUNCTION_OPTIONS,
            environment=self.environment,
        )
        self._allow_function(self.function)
        self.state_machine = self._state_machine()
        self._allow_api(api)

    def _execution_arn(self, resource_name: str) -> str:
        return Stack.of(self).format_arn(
            service="states",
            resource="execution",
            resource_name=resource_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def _allow_function(self, function: EmmaFunction) -> None:
        """The tasks read the uploaded file and the job's objects, write the job's objects, delete both when the
        import finishes (DeleteObjects: s3:DeleteObject per key) and list a job's objects (s3:ListBucket, which
        also makes a missing object NoSuchKey instead of AccessDenied)."""
        policy = iam.Policy(
            function,
            "ImportFiles",
            roles=[function.role],
            statements=[
                iam.PolicyStatement(
                    sid="ReadAndDeleteImports",
                    actions=["s3:GetObject", "s3:DeleteObject"],
                    resources=[self.bucket.arn_for_objects("*")],
                ),
                iam.PolicyStatement(
                    sid="WriteImportParts",
                    actions=["s3:PutObject"],
                    resources=[self.bucket.arn_for_objects(f"{JOBS_PREFIX}*")],
                ),
                iam.PolicyStatement(sid="ListImports", actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn]),
            ],
        )
        function.function.node.add_dependency(policy)
        Validations.of(policy).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{IMPORTS_BUCKET.logical_id}.Arn>/*]",  # its fixed logical id
                reason="The uploaded files (<shop>/uploads/<uuid>/<file>) and the parts, results and chunks of each "
                "import (jobs/<shop>/<job>/...) are named at run time; the bucket holds nothing but imports, which "
                "this function reads and, once an import finished, deletes.",
            ),
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{IMPORTS_BUCKET.logical_id}.Arn>/{JOBS_PREFIX}*]",
                reason="The function writes only the parts, results and chunks of an import (jobs/<shop>/<job>/...), "
                "named at run time from the shop and the job; never the shops' uploads.",
            ),
        )

    def _state_machine(self) -> sfn.StateMachine:
        machine = logged_machine(
            self,
            "Machine",
            IMPORT_MACHINE_NAME,
            import_machine(),
            {FUNCTION_KEY: self.function.function.function_arn, BUCKET_KEY: self.bucket.bucket_name},
        )
        # In the role's default policy, which the machine waits for: its first execution has all of them.
        for statement in self._machine_statements():
            machine.add_to_role_policy(statement)
        Validations.of(machine.role).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{IMPORTS_BUCKET.logical_id}.Arn>/{JOBS_PREFIX}*]",
                reason="The Conclude and Rescore Distributed Maps read their items from the chunks file of the job "
                "(jobs/<shop>/<job>/chunks.json, S3 GetObject ItemReader), whose key is only known at run time.",
            ),
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
                f"execution:{IMPORT_MACHINE_NAME}:*]",
                reason="Distributed Map: Step Functions describes and stops the machine's own executions (as the "
                "policy CDK generates for a DistributedMap); their names (import-<job>) are only known at run time.",
            ),
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
                f"execution:{IMPORT_MACHINE_NAME}/*]",
                reason="Distributed Map: the child workflow executions of the machine's map runs "
                f"({IMPORT_MACHINE_NAME}/<map run label>:<id>), named by Step Functions at run time, which it "
                "describes, stops and redrives (AWS's documented policy for Distributed Map states).",
            ),
        )
        return machine

    def _machine_statements(self) -> list[iam.PolicyStatement]:
        """What the machine's role may do besides logging and tracing (which CDK grants)."""
        children = self._execution_arn(f"{IMPORT_MACHINE_NAME}/*")
        return [
            # Exactly the (unqualified) function the tasks name: no grant_invoke, which adds "<arn>:*".
            iam.PolicyStatement(
                sid="InvokeImportsFunction",
                actions=["lambda:InvokeFunction"],
                resources=[self.function.function.function_arn],
            ),
            # The ItemReaders: S3 ListObjectsV2 over a job's parts (Store), S3 GetObject of its chunks (Conclude,
            # Rescore). Only under jobs/: the machine never reads a shop's upload itself.
            iam.PolicyStatement(
                sid="ListImportParts",
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{JOBS_PREFIX}*"]}},
            ),
            iam.PolicyStatement(
                sid="ReadImportChunks",
                actions=["s3:GetObject"],
                resources=[self.bucket.arn_for_objects(f"{JOBS_PREFIX}*")],
            ),
            # Distributed Map: each item runs as a child workflow execution of this machine.
            iam.PolicyStatement(
                sid="StartChildWorkflows", actions=["states:StartExecution"], resources=[self.machine_arn]
            ),
            iam.PolicyStatement(
                sid="ControlChildWorkflows",
                actions=["states:DescribeExecution", "states:StopExecution"],
                resources=[self._execution_arn(f"{IMPORT_MACHINE_NAME}:*"), children],
            ),
            # A failed import redriven (its map runs' failed items again, the stored ones answer duplicates).
            iam.PolicyStatement(sid="RedriveChildWorkflows", actions=["states:RedriveExecution"], resources=[children]),
        ]

    def _allow_api(self, api: EmmaFunction) -> None:
        """The ingest API: where the bucket and the machine are (ImportSettings), presigned uploads and the check
        that an upload exists (HeadObject), starting a job's execution and reading its status."""
        for key, value in self.environment.items():
            api.function.add_environment(key, value)
        policy = iam.Policy(
            api,
            "StartImports",
            roles=[api.role],
            statements=[
                # The presigned PUT is signed with the function's role: the upload is allowed if the role may.
                # HeadObject is s3:GetObject. Uploads only: never a job's parts.
                iam.PolicyStatement(
                    sid="UploadImports",
                    actions=["s3:PutObject", "s3:GetObject"],
                    resources=[self.bucket.arn_for_objects(UPLOADS_PATTERN)],
                ),
                # Without it S3 answers a HeadObject of a key that was never uploaded with 403, not 404.
                iam.PolicyStatement(
                    sid="TellMissingUploads", actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn]
                ),
                iam.PolicyStatement(
                    sid="StartImports", actions=["states:StartExecution"], resources=[self.machine_arn]
                ),
                iam.PolicyStatement(
                    sid="DescribeImports",
                    actions=["states:DescribeExecution"],
                    resources=[self._execution_arn(f"{IMPORT_MACHINE_NAME}:{EXECUTION_PREFIX}*")],
                ),
            ],
        )
        # The first POST /v1/imports after a deploy may already start an execution: the machine and this first.
        api.function.node.add_dependency(policy, self.state_machine)
        Validations.of(policy).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{IMPORTS_BUCKET.logical_id}.Arn>/{UPLOADS_PATTERN}]",
                reason="A shop's uploads (<shop>/uploads/<uuid>/<file>), named at run time: the ingest API presigns "
                "their PUT and checks that they exist (HeadObject) before starting an import; nothing else.",
            ),
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
                f"execution:{IMPORT_MACHINE_NAME}:{EXECUTION_PREFIX}*]",
                reason="One execution of the import state machine per import job (import-<job>, the job named at "
                "run time from the shop, the kind and the file): GET /v1/imports/{job} describes it.",
            ),
        )
