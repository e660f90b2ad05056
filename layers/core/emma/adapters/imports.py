"""Imports of files (emma.imports.files): the jobs' records in the profiles table, the files in the imports bucket."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from botocore.exceptions import BotoCoreError, ClientError

from emma.adapters import keys
from emma.adapters.ddb import Table, conditional_failed, epoch, key, number, string, wrap_error
from emma.adapters.stepfunctions import execution_arn, settle
from emma.imports.ports import FileChanged, ImportJob

JOB_TTL = timedelta(days=90)
_COUNTERS = frozenset(name for name, field in ImportJob.model_fields.items() if field.annotation in (int, "int"))
_JSON = frozenset({"unproven", "errors", "scored_with"})


def _value(name: str, value: Any) -> dict[str, Any]:
    if name in _COUNTERS:
        return number(int(value))
    if name in _JSON:
        return string(json.dumps(value))
    if isinstance(value, datetime):
        return string(value.isoformat())
    if value is None:
        return {"NULL": True}
    return string(str(value))


class _Stream:
    """An object's body whose read errors (a connection lost mid-file) are StoreError: retried as transient."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def read(self, size: int = -1) -> bytes:
        try:
            return self._body.read(size if size >= 0 else None)  # type: ignore[no-any-return]
        except (ClientError, BotoCoreError, OSError) as exc:
            raise wrap_error(exc, "GetObject (reading)") from exc

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DynamoImportJobs(Table):
    def start(self, job: ImportJob) -> None:
        item = {
            **key(keys.import_job_pk(job.shop), keys.import_job_sk(job.job)),
            **{name: _value(name, value) for name, value in job.model_dump().items()},
            "expires_at": number(epoch(job.started_at + JOB_TTL)),
        }
        try:
            self._client.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if conditional_failed(exc):
                return  # the same file started again: the job it already is
            raise wrap_error(exc, "PutItem") from exc
        except BotoCoreError as exc:
            raise wrap_error(exc, "PutItem") from exc

    def update(self, shop: str, job: str, fields: dict[str, object], add: dict[str, int] | None = None) -> None:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets, adds = [], []
        for i, (name, value) in enumerate({**fields, "updated_at": datetime.now(UTC)}.items()):
            names[f"#s{i}"], values[f":s{i}"] = name, _value(name, value)
            sets.append(f"#s{i} = :s{i}")
        for i, (name, value) in enumerate((add or {}).items()):
            names[f"#a{i}"], values[f":a{i}"] = name, number(int(value))
            adds.append(f"#a{i} :a{i}")
        expression = "SET " + ", ".join(sets) + (" ADD " + ", ".join(adds) if adds else "")
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key(keys.import_job_pk(shop), keys.import_job_sk(job)),
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if conditional_failed(exc):
                return  # a job whose record expired (or was never started): nothing to update
            raise wrap_error(exc, "UpdateItem") from exc
        except BotoCoreError as exc:
            raise wrap_error(exc, "UpdateItem") from exc

    def get(self, shop: str, job: str) -> ImportJob | None:
        item = self._get(keys.import_job_pk(shop), keys.import_job_sk(job))
        if item is None:
            return None
        data: dict[str, Any] = {}
        for name in ImportJob.model_fields:
            value = item.get(name)
            if value is None or "NULL" in value:
                continue
            if "N" in value:
                data[name] = int(value["N"])
            elif name in _JSON:
                data[name] = json.loads(value["S"])
            else:
                data[name] = value["S"]
        return ImportJob.model_validate(data)


class S3ImportFiles:
    """The imports bucket."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def open(self, key: str, etag: str | None = None) -> BinaryIO:
        try:
            found = self._client.get_object(Bucket=self._bucket, Key=key, **({"IfMatch": etag} if etag else {}))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "PreconditionFailed":
                raise FileChanged("the file was uploaded again since the import started: start it again") from exc
            raise wrap_error(exc, "GetObject") from exc
        except BotoCoreError as exc:
            raise wrap_error(exc, "GetObject") from exc
        return _Stream(found["Body"])  # type: ignore[return-value]

    def read(self, key: str) -> bytes:
        with self.open(key) as body:
            return body.read()

    def put(self, key: str, body: bytes) -> None:
        try:
            self._client.put_object(Bucket=self._bucket, Key=key, Body=body)
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "PutObject") from exc

    def keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
                found += [o["Key"] for o in page.get("Contents", [])]
        except (ClientError, BotoCoreError) as exc:
            raise wrap_error(exc, "ListObjectsV2") from exc
        return sorted(found)

    def etag(self, key: str) -> str | None:
        try:
            return str(self._client.head_object(Bucket=self._bucket, Key=key)["ETag"]).strip('"')
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise wrap_error(exc, "HeadObject") from exc
        except BotoCoreError as exc:
            raise wrap_error(exc, "HeadObject") from exc

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # DeleteObjects takes 1,000 keys a request
            chunk = [{"Key": k} for k in keys[start : start + 1000]]
            try:
                self._client.delete_objects(Bucket=self._bucket, Delete={"Objects": chunk, "Quiet": True})
            except (ClientError, BotoCoreError) as exc:
                raise wrap_error(exc, "DeleteObjects") from exc

    def upload_url(self, key: str, seconds: int) -> str:
        """A presigned PUT for the shop's file (the admin API hands it out; the file never passes Lambda)."""
        return str(
            self._client.generate_presigned_url(
                "put_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=seconds
            )
        )


class StepFunctionsImportRuns:
    """One execution of the import state machine per job, named ``import-<job>``."""

    def __init__(self, client: Any, machine_arn: str) -> None:
        self._client = client
        self._machine = machine_arn

    def _execution_arn(self, job: str) -> str:
        return execution_arn(self._machine, f"import-{job}")

    def start(self, job: str, payload: dict[str, object]) -> None:
        # ExecutionAlreadyExists: started before (with this or another input): the job runs once
        settle(
            "StartExecution",
            self._client.start_execution,
            ("ExecutionAlreadyExists",),
            stateMachineArn=self._machine,
            name=f"import-{job}",
            input=json.dumps(payload, default=str),
        )

    def status(self, job: str) -> dict[str, object] | None:
        try:
            found = self._client.describe_execution(executionArn=self._execution_arn(job))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return None
            raise wrap_error(exc, "DescribeExecution") from exc
        except BotoCoreError as exc:
            raise wrap_error(exc, "DescribeExecution") from exc
        return {"status": found["status"], "error": found.get("error"), "cause": found.get("cause")}
