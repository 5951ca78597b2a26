"""Waivers: approved, time-limited exceptions for one control on selected resources.

A file is a YAML mapping with a `waivers` list. A waiver that does not meet the four-eyes and
expiry rules is not applied; it becomes an error result of the waiver control instead, so an
invalid exception can never turn a failure green.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from regops.model import Control, Outcome, Result

WAIVER_CONTROL = Control(
    id="GOV-001",
    title="Waivers are approved by a second person, ticketed and time-limited",
    layer="regulatory",
    severity="high",
    stages=("system", "acceptance", "production"),
    kinds=("waiver",),
    frameworks={"pci-dss": ("12.5.2",), "dora": ("Art. 9(4)(e)",), "iso-27001": ("A.5.1", "A.8.32")},
    rationale="An exception to a control is itself a change that needs four-eyes approval and an end date.",
)


class WaiverFileError(Exception):
    """A waiver file cannot be used; the message names the file and the line."""


class WaiverFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Each waiver is validated on its own, so its error can name the waiver's own line.
    waivers: list[Any]


class WaiverEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    control: str = Field(min_length=1)
    resources: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    tags: dict[str, str] = Field(default_factory=dict)
    justification: str = Field(min_length=10)
    requested_by: str = Field(min_length=1)
    approved_by: str | None = None
    ticket: str = Field(min_length=1)
    approved_on: date | None = None
    expires: date | None = None


@dataclass(frozen=True)
class Waiver:
    entry: WaiverEntry
    file: str
    line: int
    problems: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"waiver:{self.file}:{self.line}"

    @property
    def valid(self) -> bool:
        return not self.problems

    def matches(self, control_id: str, resource_id: str | None, tags: Mapping[str, str]) -> bool:
        if not self.valid or control_id != self.entry.control or resource_id is None:
            return False
        # An id is its own pattern too: Terraform's `name["key"]` would read as a glob's class.
        if not any(
            resource_id == pattern or fnmatch.fnmatchcase(resource_id, pattern)
            for pattern in self.entry.resources
        ):
            return False
        return all(tags.get(key) == value for key, value in self.entry.tags.items())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.entry.model_dump(mode="json"),
            "problems": list(self.problems),
        }


def _problems(entry: WaiverEntry, today: date, max_days: int) -> tuple[str, ...]:
    problems = []
    approver = (entry.approved_by or "").strip().lower()
    if not approver:
        problems.append("not approved (approved_by is empty)")
    elif approver == entry.requested_by.strip().lower():
        problems.append(f"approved by its own requester {entry.requested_by}")
    if entry.approved_on is not None and entry.approved_on > today:
        problems.append(f"approved on {entry.approved_on.isoformat()}, after today {today.isoformat()}")
    if entry.approved_on is not None and entry.expires is not None and entry.approved_on > entry.expires:
        problems.append(
            f"approved on {entry.approved_on.isoformat()}, after it expires on {entry.expires.isoformat()}"
        )
    if entry.expires is None:
        problems.append("has no expiry date")
    elif entry.expires < today:
        problems.append(f"expired on {entry.expires.isoformat()}")
    else:
        # From the earlier of approval and today: a later approval date must not shorten the span.
        start = min(entry.approved_on or today, today)
        days = (entry.expires - start).days
        if days > max_days:
            problems.append(f"runs {days} days from {start.isoformat()}; at most {max_days} allowed")
    return tuple(problems)


def load_waivers(path: Path, *, today: date, max_days: int) -> list[Waiver]:
    """The waivers of one file; raises WaiverFileError naming the line of the first problem."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text)
        document = yaml.load(text, Loader=_safe_loader())
    except OSError as exc:
        raise WaiverFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise WaiverFileError(f"{path}:{line}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise WaiverFileError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if document is None:
        return []
    if not isinstance(document, dict) or not isinstance(document.get("waivers"), list):
        raise WaiverFileError(f"{path}:1: expected a mapping with a `waivers` list")
    try:
        WaiverFile.model_validate(document)
    except ValidationError as exc:
        raise WaiverFileError(f"{path}:{_field_line(root, exc, 1)}: {_details(exc)}") from None
    items = _item_nodes(root)
    waivers = []
    for index, raw in enumerate(document["waivers"]):
        line = items[index].start_mark.line + 1 if index < len(items) else 1
        if not isinstance(raw, dict):
            raise WaiverFileError(f"{path}:{line}: a waiver must be a mapping")
        try:
            entry = WaiverEntry(**{str(k): v for k, v in raw.items()})
        except ValidationError as exc:
            raise WaiverFileError(f"{path}:{_field_line(items[index], exc, line)}: {_details(exc)}") from None
        waivers.append(Waiver(entry, str(path), line, _problems(entry, today, max_days)))
    return waivers


def _safe_loader() -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        def construct_yaml_timestamp(self, node: Any) -> Any:
            try:
                return super().construct_yaml_timestamp(node)
            except ValueError:
                # An impossible date (2027-02-30) stays text, so validation names its field and line.
                return self.construct_scalar(node)

    Loader.add_constructor("tag:yaml.org,2002:timestamp", Loader.construct_yaml_timestamp)
    return Loader


def _details(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'waiver'}: {e['msg']}" for e in error.errors())


def _item_nodes(root: Any) -> list[Any]:
    for key, value in getattr(root, "value", []):
        if getattr(key, "value", None) == "waivers":
            return list(getattr(value, "value", []))
    return []


def _field_line(item: Any, error: ValidationError, default: int) -> int:
    """The line of the first offending field, so the message points at the right row."""
    first = error.errors()[0]["loc"]
    for key, value in getattr(item, "value", []):
        if first and getattr(key, "value", None) == first[0]:
            return int(value.start_mark.line) + 1
    return default


@dataclass
class WaiverBook:
    """Every waiver of a run, with what was applied."""

    waivers: Sequence[Waiver]

    def match(self, control_id: str, resource_id: str | None, tags: Mapping[str, str]) -> Waiver | None:
        for waiver in self.waivers:
            if waiver.matches(control_id, resource_id, tags):
                return waiver
        return None

    def reject_unknown_controls(self, known: Iterable[str]) -> None:
        """Makes invalid every waiver for a control that is not among `known`: it would waive
        nothing, yet pass GOV-001. Ids are case-sensitive, as with --control."""
        ids = set(known)
        folded = {control.casefold(): control for control in ids}
        checked = []
        for waiver in self.waivers:
            control = waiver.entry.control
            if control not in ids:
                near = folded.get(control.casefold())
                hint = f" (ids are case-sensitive: {near})" if near else ""
                problem = f"names control {control}, which this run does not know{hint}"
                if problem not in waiver.problems:
                    waiver = replace(waiver, problems=(*waiver.problems, problem))
            checked.append(waiver)
        self.waivers = checked

    def results(self) -> list[Result]:
        """One GOV-001 result per waiver: passed when valid, error when it must not be applied."""
        return [
            Result(
                control_id=WAIVER_CONTROL.id,
                resource_id=waiver.id,
                outcome=Outcome.PASSED if waiver.valid else Outcome.ERROR,
                message="" if waiver.valid else f"{waiver.id}: {'; '.join(waiver.problems)}",
                nodeid=f"regops::waivers::{waiver.id}",
            )
            for waiver in self.waivers
        ]
