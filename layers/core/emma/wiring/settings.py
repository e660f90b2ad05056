"""emma.config.IngestSettings read from the environment without pydantic_settings: for the ingest API's first
request, which builds nothing else from emma.config (importing pydantic_settings costs a cold start tens of ms).

The fields are IngestSettings' own (emma.settings_fields, declared once for both) and are read the way
pydantic_settings reads them for IngestSettings (the variable, else the field's name, in any case; values as
given; no .env file):
the same values, and the same validation errors with the same messages ("... validation error(s) for
IngestSettings"). A unit test compares the two, field by field and error by error
(tests/unit/functions/test_ingest_first_request.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import ConfigDict

from emma.settings_fields import IngestFields


class IngestEnvSettings(IngestFields):
    """IngestSettings' fields and checks, validated from a mapping (``read_ingest_settings``)."""

    # BaseSettings' own defaults that apply (validate_default, arbitrary_types_allowed) with IngestSettings'
    # config; the title names IngestSettings in validation errors.
    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        validate_default=True,
        arbitrary_types_allowed=True,
        title="IngestSettings",
    )


def read_ingest_settings(environ: Mapping[str, str] | None = None) -> IngestEnvSettings:
    """The settings from ``environ`` (default: the process's environment), as IngestSettings() reads them:
    each field from its variable (EMMA_PROFILES_TABLE), else from one named like the field (profiles_table:
    populate_by_name), either in any case (the last of several spellings wins); the text is validated."""
    found = {name.lower(): value for name, value in (os.environ if environ is None else environ).items()}
    data: dict[str, str] = {}
    for name, field in IngestEnvSettings.model_fields.items():
        for key in (str(field.validation_alias), name):
            if key.lower() in found:
                data[key] = found[key.lower()]
                break
    return IngestEnvSettings.model_validate(data)
