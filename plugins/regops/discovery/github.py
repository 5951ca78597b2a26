"""Live GitHub: the rules each configured repository's branch holds changes to (CHG-001).

For each repository, through the REST API (github.com, or GitHub Enterprise Server's `/api/v3`):
its default branch (unless one is configured), the branch's protection, the ruleset rules GitHub
says are active on it, and each of those rulesets for who may bypass it. The token needs read
access to the repository's administration settings; without it GitHub answers 403 or 404, which
is an error here, never an unprotected branch.
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
from regops.normalize.github import LIVE

Progress = Callable[[str], None]

# GitHub's answer for a branch without protection; any other 404 is a repository or branch the
# token cannot see.
NOT_PROTECTED = "Branch not protected"


@dataclass(frozen=True)
class GithubSource:
    """`[tool.regops.stages.<stage>.github]`: which repositories, where, with which token."""

    repositories: tuple[str, ...]
    api_url: str = "https://api.github.com"
    token_env: str = "GITHUB_TOKEN"
    # None: each repository's default branch.
    branch: str | None = None
    timeout: float = 20.0


def web_host(api_url: str) -> str:
    """The host people know a repository by: github.com for its API, the server for GHES."""
    host = urlsplit(api_url).netloc
    return "github.com" if host == "api.github.com" else host


def _client(source: GithubSource, token: str) -> RestClient:
    headers = {
        "Accept": "application/vnd.github+json",
        "Authorization": f"Bearer {token}",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    forbidden = "the token needs read access to the repository's administration settings"
    return RestClient(source.api_url, headers, source.timeout, forbidden)


def _path(*parts: str) -> str:
    # A branch's name may hold slashes, which GitHub takes as they are (release/2026).
    return "/" + "/".join(quote(part, safe="/") for part in parts)


def _read_branch(api: RestClient, repository: str, branch: str) -> tuple[dict[str, Any], list[str]]:
    """The branch's payload and what could not be read of it (its parts then UNKNOWN)."""
    owner, name = repository.split("/", 1)
    errors: list[str] = []
    payload: dict[str, Any] = {"repository": repository, "branch": branch}
    try:
        payload["protection"], _ = api.get(_path("repos", owner, name, "branches", branch, "protection"))
    except NotFound as error:
        if error.message == NOT_PROTECTED:
            payload["protection"] = None
        else:
            payload["protection"] = UNKNOWN
            errors.append(
                f"{repository}: branch {branch}: 404 {error.message or 'Not Found'} (no such branch,"
                " or the token may not read its protection)"
            )
    except RestError as error:
        payload["protection"] = UNKNOWN
        errors.append(f"{repository}: {error}")
    try:
        rules = api.get_all(_path("repos", owner, name, "rules", "branches", branch) + "?per_page=100")
        payload["rules"] = rules
    except RestError as error:
        payload["rules"] = UNKNOWN
        payload["rulesets"] = {}
        errors.append(f"{repository}: {error}")
        return payload, errors
    rulesets: dict[str, Any] = {}
    for ruleset_id in sorted({int(rule.get("ruleset_id", 0)) for rule in rules if isinstance(rule, Mapping)}):
        try:
            rulesets[str(ruleset_id)], _ = api.get(_path("repos", owner, name, "rulesets", str(ruleset_id)))
        except RestError as error:
            rulesets[str(ruleset_id)] = UNKNOWN
            errors.append(f"{repository}: ruleset {ruleset_id}: {error}")
    payload["rulesets"] = rulesets
    return payload, errors


def _repository(api: RestClient, repository: str) -> Mapping[str, Any]:
    owner, name = repository.split("/", 1)
    try:
        data, _ = api.get(_path("repos", owner, name))
    except NotFound as error:
        raise RestError(
            f"{repository}: 404 {error.message or 'Not Found'} (no such repository, or the token"
            " may not read it)"
        ) from None
    except RestError as error:
        raise RestError(f"{repository}: {error}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("default_branch"), str):
        raise RestError(f"{repository}: the answer names no default branch")
    return data


def _read_repository(api: RestClient, source: GithubSource, repository: str) -> BranchRead:
    fallback = f"{web_host(source.api_url)}/{repository}"
    try:
        data = _repository(api, repository)
    except RestError as error:
        payload: dict[str, Any] = {"repository": repository, "branch": source.branch or UNKNOWN}
        payload.update(protection=UNKNOWN, rules=UNKNOWN, rulesets={})
        return fallback, payload, [str(error)]
    # A renamed repository answers under its new name, which is asked for from then on.
    current = str(data.get("full_name") or repository)
    payload, failed = _read_branch(api, current, source.branch or str(data["default_branch"]))
    return web_id(data.get("html_url"), fallback), payload, failed


def discover_github(source: GithubSource, stage: str, progress: Progress | None = None) -> Discovery:
    """The configured repositories' branches, normalised. A repository or part of one that
    could not be read leaves the facts that need it unknown and the source incomplete."""
    location = f"github:{source.api_url}"
    token = os.environ.get(source.token_env, "")
    if not token:
        return token_missing("github", location, source.token_env)
    api = _client(source, token)
    return discover_branches(
        "github",
        location,
        source.repositories,
        lambda repository: _read_repository(api, source, repository),
        LIVE["github/branch"],
        stage,
        progress,
    )
