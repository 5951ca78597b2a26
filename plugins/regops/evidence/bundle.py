"""The evidence bundle: one folder per run that an auditor can check with sha256sum."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources as package_files
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from regops.jsontext import JSONStream, json_chunks
from regops.model import Control, Outcome, Result, SourceReport

EVIDENCE_SCHEMA = "regops.evidence/v1"
MANIFEST = "MANIFEST.sha256"

# CI systems' own identifiers, recorded so a bundle can be traced to the pipeline run.
CI_VARIABLES = (
    "CI",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
    "GITHUB_REPOSITORY",
    "GITHUB_SHA",
    "GITHUB_REF",
    "GITHUB_WORKFLOW",
    "CI_PIPELINE_ID",
    "CI_JOB_ID",
    "CI_PROJECT_PATH",
    "CI_COMMIT_SHA",
    "BUILD_BUILDID",
    "BUILD_SOURCEVERSION",
    "SYSTEM_TEAMPROJECT",
    "JENKINS_URL",
    "BUILD_NUMBER",
    "BUILD_TAG",
)


def new_run_id(now: datetime) -> str:
    """Sorts by time (to the millisecond) and stays unique with a random suffix."""
    return f"{now.strftime('%Y%m%dT%H%M%S')}.{now.microsecond // 1000:03d}Z-{secrets.token_hex(3)}"


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def git_commit(directory: Path) -> str | None:
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = completed.stdout.strip()
    return commit if completed.returncode == 0 and commit else None


def ci_identifiers(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    return {name: environ[name] for name in CI_VARIABLES if environ.get(name)}


@dataclass
class RunInfo:
    id: str
    stage: str
    started_at: datetime
    tool_version: str
    pytest_version: str
    command_line: list[str]
    suite_commit: str | None = None
    iac_commit: str | None = None
    ci: dict[str, str] = field(default_factory=dict)
    finished_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "stage": self.stage,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at) if self.finished_at else None,
            "tool": {"name": "regops", "version": self.tool_version},
            "python_version": platform.python_version(),
            "pytest_version": self.pytest_version,
            "suite_commit": self.suite_commit,
            "iac_commit": self.iac_commit,
            "ci": self.ci,
            "command_line": self.command_line,
        }


@cache
def evidence_schema() -> dict[str, Any]:
    text = package_files.files("regops.evidence").joinpath("evidence.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_evidence(document: Mapping[str, Any]) -> list[str]:
    """Every way the document departs from the evidence schema; empty when it conforms."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(evidence_schema())
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path)))
    ]


def _result_dicts(results: list[Result]) -> JSONStream:
    # Made each time a writer reads them: the results' dicts for a whole run are never held.
    return JSONStream(lambda: (result.to_dict() for result in results), length=len(results))


def evidence_document(
    *,
    run: RunInfo,
    settings: Mapping[str, Any],
    sources: Sequence[SourceReport],
    inventory_file: Mapping[str, Any],
    controls: Mapping[str, Control],
    results: Sequence[Result],
    summary: Mapping[str, Any],
    gate: Mapping[str, Any],
    waivers: Mapping[str, Any],
) -> dict[str, Any]:
    """The evidence.json document; each control's results are a JSONStream, made when read."""
    by_control: dict[str, list[Result]] = {control_id: [] for control_id in controls}
    for result in results:
        by_control.setdefault(result.control_id, []).append(result)
    return {
        "schema": EVIDENCE_SCHEMA,
        "run": run.to_dict(),
        "settings": dict(settings),
        "sources": [source.to_dict() for source in sources],
        "inventory": dict(inventory_file),
        "controls": [
            {
                **controls[control_id].to_dict(),
                "results": _result_dicts(sorted(found, key=lambda r: (r.resource_id or "", r.nodeid))),
            }
            for control_id, found in sorted(by_control.items())
        ],
        "summary": dict(summary),
        "gate": dict(gate),
        "waivers": dict(waivers),
    }


# Characters XML 1.0 cannot carry at all, even escaped; a message that holds one would make the
# whole file unreadable to a CI system.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_XML_ATTRIBUTE = {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}


def _xml_text(value: str) -> str:
    # A carriage return is kept as one; a parser would read it as a line feed.
    return xml_escape(_NOT_XML.sub("\ufffd", value), {"\r": "&#13;"})


def _xml_attribute(value: str) -> str:
    return '"' + xml_escape(_NOT_XML.sub("\ufffd", value), _XML_ATTRIBUTE) + '"'


def _junit_properties(control: Control) -> list[tuple[str, str]]:
    return [("severity", control.severity), *((k, ", ".join(v)) for k, v in control.frameworks.items())]


def _junit_detail(result: Result) -> str:
    """The element that says how a test case ended; none for a pass."""
    message, text = result.message, _xml_text(result.message)
    if result.outcome is Outcome.FAILED:
        return f"    <failure message={_xml_attribute(message)}>{text}</failure>\n"
    if result.outcome is Outcome.ERROR:
        return f"    <error message={_xml_attribute(message)}>{text}</error>\n"
    if result.outcome is Outcome.NOT_APPLICABLE:
        return f"    <skipped message={_xml_attribute(message)} />\n"
    if result.outcome is Outcome.WAIVED:
        # A waiver accepts the risk of a failure: no pass, so CI systems count it with the skips.
        return f'    <skipped type="waived" message={_xml_attribute(message)}>{text}</skipped>\n'
    return ""


def junit_xml(stage: str, controls: Mapping[str, Control], results: Sequence[Result]) -> Iterator[bytes]:
    """JUnit XML of the control results, for CI systems that render it, a test case at a time:
    the document of a large run is never whole in memory."""
    counts = {outcome: sum(1 for r in results if r.outcome is outcome) for outcome in Outcome}
    # CI systems tell test cases apart by class name and name: where a control has more than one
    # result on a resource, each is named by its nodeid too; every other keeps the resource id.
    pairs = Counter((r.control_id, r.resource_id) for r in results)
    yield (
        "<?xml version='1.0' encoding='utf-8'?>\n"
        f'<testsuite name={_xml_attribute(f"regops.{stage}")} tests="{len(results)}" '
        f'failures="{counts[Outcome.FAILED]}" errors="{counts[Outcome.ERROR]}" '
        f'skipped="{counts[Outcome.NOT_APPLICABLE] + counts[Outcome.WAIVED]}">\n'
    ).encode()
    properties = {
        control_id: [
            f"      <property name={_xml_attribute(name)} value={_xml_attribute(value)} />\n"
            for name, value in _junit_properties(control)
        ]
        for control_id, control in controls.items()
    }
    for result in sorted(results, key=lambda r: (r.control_id, r.resource_id or "")):
        name = result.resource_id or "(no resource)"
        if pairs[(result.control_id, result.resource_id)] > 1:
            name += f" ({result.nodeid})"
        yield "".join(
            (
                f"  <testcase classname={_xml_attribute(result.control_id)} "
                f"name={_xml_attribute(name)}>\n    <properties>\n",
                *properties[result.control_id],
                f'      <property name="outcome" value="{result.outcome.value}" />\n    </properties>\n',
                _junit_detail(result),
                "  </testcase>\n",
            )
        ).encode()
    yield b"</testsuite>\n"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class EvidenceBundle:
    """The run folder `<evidence_dir>/<stage>/<run_id>/` and the files in it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def create(cls, evidence_dir: Path, stage: str, run_id: str) -> EvidenceBundle:
        directory = evidence_dir / stage / run_id
        # Run ids are unique (milliseconds and a random suffix); still, a run never writes into
        # a folder that holds anything else.
        directory.mkdir(parents=True, exist_ok=True)
        if any(directory.iterdir()):
            raise FileExistsError(f"{directory} is not empty: another run wrote there")
        return cls(directory)

    def discard(self) -> None:
        """Remove this run's folder (only this run wrote there) and parents left empty."""
        shutil.rmtree(self.directory, ignore_errors=True)
        for parent in (self.directory.parent, self.directory.parent.parent):
            try:
                parent.rmdir()
            except OSError:
                break

    def path(self, name: str) -> Path:
        return self.directory / name

    def write_json(self, name: str, document: Mapping[str, Any]) -> None:
        self.write_chunks(name, (chunk.encode("utf-8") for chunk in json_chunks(document)))

    def write_chunks(self, name: str, chunks: Iterable[bytes]) -> None:
        """Write the file as its pieces come: a large run's document is never whole in memory."""
        with self.path(name).open("wb") as out:
            out.writelines(chunks)

    def write_bytes(self, name: str, data: bytes) -> None:
        self.path(name).write_bytes(data)

    def write_manifest(self) -> Path:
        """sha256sum-format lines for every other file, so `sha256sum -c` works in the folder."""
        lines = []
        for path in sorted(p for p in self.directory.rglob("*") if p.is_file()):
            relative = path.relative_to(self.directory).as_posix()
            if relative == MANIFEST or relative.startswith(MANIFEST + "."):
                continue
            lines.append(f"{sha256_file(path)}  {relative}\n")
        manifest = self.path(MANIFEST)
        manifest.write_text("".join(lines), encoding="utf-8")
        return manifest
