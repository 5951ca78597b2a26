"""Four-eyes evidence for infrastructure changes, read from a real git repository.

Every commit in the range that touches infrastructure definitions must have reached the main
branch with the approval of someone other than its author: a `Reviewed-by:` or `Approved-by:`
trailer on the commit or on the merge commit that brought it in, or an approval in a review
export from the Git host (`[{"commit": SHA, "approvals": [{"user": ..., "state": "APPROVED"}]}]`).
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from regops.model import Control, Outcome, Result

FOUR_EYES_CONTROL = Control(
    id="CHG-002",
    title="Per-change four-eyes evidence for every deployed infrastructure commit",
    layer="regulatory",
    severity="critical",
    stages=("acceptance", "production"),
    kinds=("change",),
    frameworks={
        "pci-dss": ("6.5.1", "6.5.4"),
        "dora": ("Art. 9(4)(e)",),
        "rts-2024-1774": ("Art. 17(1)(b)", "Art. 17(1)(d)"),
        "iso-27001": ("A.8.32", "A.5.3"),
        "bsi-c5": ("DEV-07", "DEV-09"),
    },
    rationale="Changes to production infrastructure need approval by a second person before they land.",
)

DEFAULT_IAC_PATHS = ("*.tf", "*.tfvars", "*.tf.json", "*.hcl")
_TRAILER = re.compile(r"^(?:Reviewed-by|Approved-by):\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_EMAIL = re.compile(r"<([^>]+)>")


class ChangeHistoryError(Exception):
    """The repository or the review export cannot be read; the message says which and why."""


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    email: str
    subject: str
    approvers: tuple[str, ...]
    files: tuple[str, ...]


def _git(repo: Path, *args: str) -> str:
    try:
        completed = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False, timeout=60
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ChangeHistoryError(f"{repo}: git failed ({exc})") from None
    if completed.returncode != 0:
        raise ChangeHistoryError(f"{repo}: git {' '.join(args)}: {completed.stderr.strip()}")
    return completed.stdout


def _identity(text: str) -> str:
    found = _EMAIL.search(text)
    return (found.group(1) if found else text).strip().lower()


def head_commit(repo: Path) -> str:
    return _git(repo, "rev-parse", "HEAD").strip()


def default_range(repo: Path, release_tag_pattern: str) -> str:
    """From the newest tag matching the pattern to HEAD; the whole history without such a tag."""
    tags = _git(repo, "tag", "--list", release_tag_pattern, "--sort=-creatordate").split()
    return f"{tags[0]}..HEAD" if tags else "HEAD"


def _commits(repo: Path, revision_range: str) -> list[Commit]:
    separator = "\x1e"
    log = _git(
        repo,
        "log",
        "--no-merges",
        f"--format={separator}%H%x00%an%x00%ae%x00%s%x00%B%x00",
        "--name-only",
        revision_range,
    )
    commits = []
    for chunk in log.split(separator)[1:]:
        sha, author, email, subject, body, names = chunk.split("\x00", 5)
        commits.append(
            Commit(
                sha=sha,
                author=author,
                email=email.lower(),
                subject=subject,
                approvers=tuple(_identity(a) for a in _TRAILER.findall(body)),
                files=tuple(n for n in names.split("\n") if n.strip()),
            )
        )
    return commits


def _merge_approvers(repo: Path, revision_range: str) -> dict[str, tuple[str, ...]]:
    """Approvals on merge commits apply to every commit those merges brought in."""
    approvals: dict[str, tuple[str, ...]] = {}
    merges = _git(repo, "log", "--merges", "--format=%H", revision_range).split()
    for merge in merges:
        approvers = tuple(
            _identity(a) for a in _TRAILER.findall(_git(repo, "log", "-1", "--format=%B", merge))
        )
        if not approvers:
            continue
        for sha in _git(repo, "rev-list", f"{merge}^1..{merge}^2").split():
            approvals[sha] = approvals.get(sha, ()) + approvers
    return approvals


def load_review_export(path: Path) -> dict[str, tuple[str, ...]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return {
            str(entry["commit"]): tuple(
                _identity(str(a["user"]))
                for a in entry.get("approvals", [])
                if a.get("state", "APPROVED") == "APPROVED"
            )
            for entry in document
        }
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ChangeHistoryError(f"{path}: cannot read the review export ({exc})") from None
    except (KeyError, TypeError, AttributeError) as exc:
        expected = "a list of {commit, approvals: [{user, state}]}"
        raise ChangeHistoryError(f"{path}: not a review export (expected {expected}; {exc!r})") from None


def _touches_iac(commit: Commit, patterns: Sequence[str]) -> bool:
    return any(
        fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(Path(name).name, pattern)
        for name in commit.files
        for pattern in patterns
    )


def four_eyes_results(
    repo: Path,
    revision_range: str,
    *,
    iac_paths: Sequence[str] = DEFAULT_IAC_PATHS,
    review_export: Mapping[str, Sequence[str]] | None = None,
) -> list[Result]:
    """One result per infrastructure commit in the range; an unreadable history is one error."""
    control = FOUR_EYES_CONTROL.id
    try:
        commits = _commits(repo, revision_range)
        merged = _merge_approvers(repo, revision_range)
    except ChangeHistoryError as exc:
        return [
            Result(
                control,
                f"git:{repo}",
                Outcome.ERROR,
                f"could not evaluate: {exc}",
                f"regops::changes::{repo}",
            )
        ]
    results = []
    if not any(_touches_iac(commit, iac_paths) for commit in commits):
        message = f"no infrastructure commits in {revision_range}"
        return [Result(control, f"git:{revision_range}", Outcome.NOT_APPLICABLE, message, "regops::changes")]
    for commit in commits:
        if not _touches_iac(commit, iac_paths):
            continue
        approvers = {
            *commit.approvers,
            *merged.get(commit.sha, ()),
            *(review_export or {}).get(commit.sha, ()),
        }
        others = sorted(a for a in approvers if a and a != commit.email)
        if others:
            outcome, message = Outcome.PASSED, ""
        elif approvers:
            outcome, message = (
                Outcome.FAILED,
                f"{commit.sha[:12]} by {commit.email}: approved only by its author",
            )
        else:
            outcome, message = (
                Outcome.FAILED,
                f"{commit.sha[:12]} by {commit.email}: no approval by a second person",
            )
        results.append(
            Result(control, commit.sha, outcome, message, f"regops::changes::{commit.sha}", provider="git")
        )
    return results
