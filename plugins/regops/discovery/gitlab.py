"""Live GitLab: the rules each configured project's branch holds changes to (CHG-001).

For each project, through the REST API (gitlab.com, or a self-managed instance's `/api/v4`):
the project (its default branch, unless one is configured, and whether merges wait for a
pipeline), its protected branches, its merge request approval settings and its approval rules.
The settings and rules need GitLab Premium and a Maintainer's token with `read_api`; a 403 for
them is an error here, never a project without rules.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from regops.discovery.rest import (
    BranchRead,
    NotFound,
    RestClient,
    RestError,
    discover_branches,
    token_missing,
    web_id,
)
from regops.model import UNKNOWN, Discovery
from regops.normalize.gitlab import LIVE

Progress = Callable[[str], None]
# What the project's object says of its branch: the rest of it is no evidence of CHG-001.
PROJECT_FIELDS = ("path_with_namespace", "web_url", "default_branch", "only_allow_merge_if_pipeline_succeeds")
FORBIDDEN = (
    "the token needs read_api and a Maintainer's role (approval settings and rules need GitLab Premium)"
)


@dataclass(frozen=True)
class GitlabSource:
    """`[tool.regops.stages.<stage>.gitlab]`: which projects, where, with which token."""

    projects: tuple[str, ...]
    api_url: str = "https://gitlab.com/api/v4"
    token_env: str = "GITLAB_TOKEN"
    # None: each project's default branch.
    branch: str | None = None
    timeout: float = 20.0


def _project_path(project: str) -> str:
    # GitLab names a project in a path by its full path, slashes encoded.
    return f"/projects/{quote(project, safe='')}"


def _read(api: RestClient, project: str, path: str, *, listing: bool = False) -> Any:
    """A part of the project's payload (every page of a listing); raises RestError."""
    where = f"{_project_path(project)}{path}"
    return api.get_all(f"{where}?per_page=100") if listing else api.get(where)[0]


def _read_project(api: RestClient, project: str, branch: str | None) -> BranchRead:
    """The project's id as people know it, its payload and what could not be read of it."""
    fallback = f"{urlsplit(api.base).netloc}/{project}"
    unread = dict.fromkeys(("project", "protected_branches", "settings", "rules"), UNKNOWN)
    try:
        data = _read(api, project, "")
    except NotFound as error:
        missing = error.message or "Not Found"
        reason = f"{project}: 404 {missing} (no such project, or the token may not read it)"
        return fallback, {**unread, "branch": branch or UNKNOWN}, [reason]
    except RestError as error:
        return fallback, {**unread, "branch": branch or UNKNOWN}, [f"{project}: {error}"]
    if not isinstance(data, Mapping):
        return fallback, {**unread, "branch": branch or UNKNOWN}, [f"{project}: the answer is no project"]
    payload: dict[str, Any] = {
        "project": {key: data.get(key) for key in PROJECT_FIELDS},
        "branch": branch or data.get("default_branch") or UNKNOWN,
    }
    errors: list[str] = []
    for key, path, listing in (
        ("protected_branches", "/protected_branches", True),
        ("settings", "/approvals", False),
        ("rules", "/approval_rules", True),
    ):
        try:
            payload[key] = _read(api, project, path, listing=listing)
        except RestError as error:
            payload[key] = UNKNOWN
            errors.append(f"{project}: {error}")
    return web_id(data.get("web_url"), fallback), payload, errors


def discover_gitlab(source: GitlabSource, stage: str, progress: Progress | None = None) -> Discovery:
    """The configured projects' branches, normalised. A project or part of one that could not
    be read leaves the facts that need it unknown and the source incomplete."""
    location = f"gitlab:{source.api_url}"
    token = os.environ.get(source.token_env, "")
    if not token:
        return token_missing("gitlab", location, source.token_env)
    api = RestClient(source.api_url, {"Authorization": f"Bearer {token}"}, source.timeout, FORBIDDEN)
    return discover_branches(
        "gitlab",
        location,
        source.projects,
        lambda project: _read_project(api, project, source.branch),
        LIVE["gitlab/branch"],
        stage,
        progress,
    )
