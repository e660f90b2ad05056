"""What the privacy routes answer (`PrivacyJob.view()`) is what the OpenAPI document says (`PrivacyJobAnswer`):
every documented field is there, every field shown is documented (found by the bench's schemathesis run: an
erasure's answer lacked the documented, required export_location)."""

from datetime import UTC, datetime

import pytest

from emma.privacy.model import PrivacyJob
from ingest.schemas import PrivacyJobAnswer, PrivacyJobView

AT = datetime(2026, 12, 6, 11, 0, tzinfo=UTC)


def _job(job_id: str, kind: str, **fields) -> PrivacyJob:
    common = {"shop": "s", "actor": "key:1", "subject": "h", "created_at": AT, "updated_at": AT}
    return PrivacyJob(job_id=job_id, kind=kind, **(common | fields))


@pytest.mark.parametrize(
    "job",
    [
        _job("j1", "erase", status="done", finished_at=AT, steps=["stopped", "counted"], counts={"profile": 1}),
        _job(
            "j2", "export", status="done", finished_at=AT, export_location="s3://bucket/exports/s/j2.json", notify=True
        ),
        _job("j3", "erase_shop", actor="shopify:shop/redact", queued=True, refs=["r"], cursor={"t": 1}),
    ],
    ids=["erase", "export", "erase_shop"],
)
def test_the_answer_is_what_the_document_says(job):
    shown = job.view()
    PrivacyJobAnswer.model_validate({"job": shown, "status_url": f"/v1/privacy/jobs/{job.job_id}"})
    assert set(shown) == set(PrivacyJobView.model_fields)
    assert "export_location" not in shown and "plan" not in shown and "refs" not in shown  # never shown
