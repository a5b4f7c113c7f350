"""The sub-processor registry: who else holds members' personal data, for what, where and on
which transfer basis. Data, not code (services/erasure/subprocessors.yaml), validated whole
at start so that a malformed entry stops the service rather than being listed."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

REGISTRY_FILE = Path(__file__).resolve().parent / "subprocessors.yaml"

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Url = Annotated[str, StringConstraints(pattern=r"^https://\S+$", max_length=300)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,39}$")]


class Subprocessor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Text
    purpose: Text
    data_categories: list[Slug] = Field(min_length=1)
    location: Text
    transfer_basis: Text
    dpa_url: Url
    erasure_target: Slug
    source: Url  # where the transfer basis was read


class SubprocessorRegistry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    last_changed: date
    subprocessors: list[Subprocessor] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> SubprocessorRegistry:
        for field in ("name", "erasure_target"):
            values = [getattr(s, field) for s in self.subprocessors]
            if len(set(values)) != len(values):
                raise ValueError(f"each sub-processor needs its own {field}")
        return self

    @property
    def erasure_targets(self) -> set[str]:
        return {s.erasure_target for s in self.subprocessors}


def load_subprocessors(path: Path = REGISTRY_FILE) -> SubprocessorRegistry:
    return SubprocessorRegistry.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
