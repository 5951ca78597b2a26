"""The frameworks a control may reference: one data file per framework, with every requirement.

`framework_data/<key>.yaml` lists a framework's requirement ids and titles. A control that
references an id its framework does not have is a collection error. Requirements whose id or
title could not be confirmed against the primary text carry `verified: false`, and every report
shows them as unverified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

# `--framework cis` selects every CIS benchmark.
FRAMEWORK_GROUPS: Final[dict[str, tuple[str, ...]]] = {
    "cis": ("cis-aws", "cis-azure", "cis-gcp"),
}


class _RequirementEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    verified: bool = True


class _FrameworkFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    title: str
    publisher: str
    version: str
    note: str | None = None
    requirements: list[_RequirementEntry] = Field(min_length=1)


@dataclass(frozen=True)
class Requirement:
    id: str
    title: str
    verified: bool = True


@dataclass(frozen=True)
class Framework:
    key: str
    title: str
    publisher: str
    version: str
    note: str | None
    requirements: tuple[Requirement, ...]
    ids: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", frozenset(r.id for r in self.requirements))

    def has(self, requirement_id: str) -> bool:
        return requirement_id in self.ids


class FrameworkDataError(Exception):
    """A framework data file shipped with the package is broken: a packaging bug."""


# libyaml's safe loader where PyYAML was built with it: the same documents, read ten times faster
# (every run reads all framework files).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def load_frameworks() -> dict[str, Framework]:
    found: dict[str, Framework] = {}
    folder = resources.files("regops").joinpath("framework_data")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        try:
            data = _FrameworkFile(**yaml.load(entry.read_text(encoding="utf-8"), Loader=_SAFE_LOADER))
        except (yaml.YAMLError, TypeError, ValidationError) as exc:
            raise FrameworkDataError(f"framework_data/{entry.name}: {exc}") from None
        if data.key != entry.name.removesuffix(".yaml"):
            raise FrameworkDataError(f"framework_data/{entry.name}: key {data.key!r} differs from the name")
        ids = [r.id for r in data.requirements]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise FrameworkDataError(f"framework_data/{entry.name}: duplicate ids {duplicates}")
        found[data.key] = Framework(
            key=data.key,
            title=data.title,
            publisher=data.publisher,
            version=data.version,
            note=data.note,
            requirements=tuple(Requirement(r.id, r.title, r.verified) for r in data.requirements),
        )
    return found


def framework_titles() -> dict[str, str]:
    return {key: framework.title for key, framework in load_frameworks().items()}


def expand_framework(name: str) -> tuple[str, ...]:
    """The framework keys a `--framework` value selects; empty when the name is unknown."""
    name = name.strip().lower()
    if name in load_frameworks():
        return (name,)
    return FRAMEWORK_GROUPS.get(name, ())
