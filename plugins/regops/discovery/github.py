"""Live GitHub: the rules each configured repository's branch holds changes to (CHG-001).

For each repository, through the REST API (github.com, or GitHub Enterprise Server's `/api/v3`):
its default branch (unless one is configured), the branch's protection, the ruleset rules GitHub
says are active on it, and each of those rulesets for who may bypass it. The token needs read
access to the repository's administration settings; without it GitHub answers 403 or 404, which
is an error here, never an unprotected branch.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlsplit
from urllib.request import HTTPRedirectHandler, Request, build_opener

from regops.discovery.live import live_resource
from regops.model import UNKNOWN, Discovery, Resource, SourceReport
from regops.normalize.github import LIVE

Progress = Callable[[str], None]

# GitHub's answer for a branch without protection; any other 404 is a repository or branch the
# token cannot see.
NOT_PROTECTED = "Branch not protected"
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


@dataclass(frozen=True)
class GithubSource:
    """`[tool.regops.stages.<stage>.github]`: which repositories, where, with which token."""

    repositories: tuple[str, ...]
    api_url: str = "https://api.github.com"
    token_env: str = "GITHUB_TOKEN"
    # None: each repository's default branch.
    branch: str | None = None
    timeout: float = 20.0


class GithubError(Exception):
    """A call that did not give what was asked for; the message says which and why."""


class NotFound(GithubError):
    """A 404, with GitHub's message: what it means depends on what was asked for."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"GET {path}: 404 {message or 'Not Found'}")
        self.message = message


def web_host(api_url: str) -> str:
    """The host people know a repository by: github.com for its API, the server for GHES."""
    host = urlsplit(api_url).netloc
    return "github.com" if host == "api.github.com" else host


class _SameHostRedirects(HTTPRedirectHandler):
    """Follows a redirect (a renamed repository) on the API's host only: urllib would send the
    token along to any other."""

    def redirect_request(
        self, req: Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Request | None:
        if urlsplit(newurl).netloc != urlsplit(req.full_url).netloc:
            return None  # urllib then raises the redirect as an HTTPError
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _Api:
    def __init__(self, source: GithubSource, token: str) -> None:
        self.base = source.api_url.rstrip("/")
        self.timeout = source.timeout
        self._opener = build_opener(_SameHostRedirects)
        self._headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {token}",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "regops",
        }

    def get(self, path: str) -> tuple[Any, str | None]:
        """The JSON body of a GET and the next page's URL; raises GithubError (NotFound for a 404)."""
        return self._get(f"{self.base}{path}", path)

    def _get(self, url: str, path: str) -> tuple[Any, str | None]:
        request = Request(url, headers=self._headers)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = response.read()
                link = response.headers.get("Link") or ""
        except HTTPError as error:
            if error.code == 404:
                raise NotFound(path, _message(error)) from None
            raise GithubError(f"GET {path}: {_refusal(error)}") from None
        except (URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise GithubError(f"GET {path}: no answer from {self.base} ({reason})") from None
        try:
            data = json.loads(body)
        except ValueError:
            raise GithubError(f"GET {path}: the answer is not JSON") from None
        found = _NEXT.search(link)
        # Pages are followed only on the API's own host: the token goes nowhere else.
        following = found.group(1) if found and found.group(1).startswith(self.base + "/") else None
        return data, following

    def get_all(self, path: str) -> list[Any]:
        """Every page of a list."""
        items: list[Any] = []
        page, following = self.get(path)
        while True:
            if not isinstance(page, list):
                raise GithubError(f"GET {path}: expected a list, got {type(page).__name__}")
            items.extend(page)
            if following is None:
                return items
            page, following = self._get(following, path)


def _message(error: HTTPError) -> str:
    """GitHub's `message` in an error's body; empty when it has none."""
    try:
        return str(json.loads(error.read()).get("message", ""))
    except (ValueError, AttributeError, OSError):
        return ""


def _refusal(error: HTTPError) -> str:
    """Why GitHub refused, in words that say what to do."""
    message = _message(error)
    headers = error.headers
    limited = headers.get("x-ratelimit-remaining") == "0" or headers.get("retry-after") is not None
    if error.code in (403, 429) and (limited or "rate limit" in message.lower()):
        wait = headers.get("retry-after")
        return f"rate limited ({message or error.code}){f'; retry after {wait} s' if wait else ''}"
    if error.code == 401:
        return f"the token was refused (401 {message or 'Unauthorized'})"
    if error.code == 403:
        return (
            f"403 {message or 'Forbidden'}: the token needs read access to the repository's"
            " administration settings"
        )
    return f"HTTP {error.code} {message}".rstrip()


def _path(*parts: str) -> str:
    # A branch's name may hold slashes, which GitHub takes as they are (release/2026).
    return "/" + "/".join(quote(part, safe="/") for part in parts)


def _read_branch(api: _Api, repository: str, branch: str) -> tuple[dict[str, Any], list[str]]:
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
    except GithubError as error:
        payload["protection"] = UNKNOWN
        errors.append(f"{repository}: {error}")
    try:
        rules = api.get_all(_path("repos", owner, name, "rules", "branches", branch) + "?per_page=100")
        payload["rules"] = rules
    except GithubError as error:
        payload["rules"] = UNKNOWN
        payload["rulesets"] = {}
        errors.append(f"{repository}: {error}")
        return payload, errors
    rulesets: dict[str, Any] = {}
    for ruleset_id in sorted({int(rule.get("ruleset_id", 0)) for rule in rules if isinstance(rule, Mapping)}):
        try:
            rulesets[str(ruleset_id)], _ = api.get(_path("repos", owner, name, "rulesets", str(ruleset_id)))
        except GithubError as error:
            rulesets[str(ruleset_id)] = UNKNOWN
            errors.append(f"{repository}: ruleset {ruleset_id}: {error}")
    payload["rulesets"] = rulesets
    return payload, errors


def _repository(api: _Api, repository: str) -> Mapping[str, Any]:
    owner, name = repository.split("/", 1)
    try:
        data, _ = api.get(_path("repos", owner, name))
    except NotFound as error:
        raise GithubError(
            f"{repository}: 404 {error.message or 'Not Found'} (no such repository, or the token"
            " may not read it)"
        ) from None
    except GithubError as error:
        raise GithubError(f"{repository}: {error}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("default_branch"), str):
        raise GithubError(f"{repository}: the answer names no default branch")
    return data


def _resource_id(data: Mapping[str, Any], repository: str, api_url: str) -> str:
    """The repository as people know it, `github.com/owner/name`: from its web address, which
    a GitHub Enterprise Server gives under its own host."""
    web = urlsplit(str(data.get("html_url") or ""))
    if web.netloc and web.path.strip("/"):
        return f"{web.netloc}{web.path}"
    return f"{web_host(api_url)}/{repository}"


def discover_github(source: GithubSource, stage: str, progress: Progress | None = None) -> Discovery:
    """The configured repositories' branches, normalised. A repository or part of one that
    could not be read leaves the facts that need it unknown and the source incomplete."""
    location = f"github:{source.api_url}"
    token = os.environ.get(source.token_env, "")
    if not token:
        return _incomplete(location, [f"the environment variable {source.token_env} holds no GitHub token"])
    api = _Api(source, token)
    resources: list[Resource] = []
    errors: list[str] = []
    for repository in source.repositories:
        try:
            data = _repository(api, repository)
        except GithubError as error:
            errors.append(str(error))
            resource_id = f"{web_host(source.api_url)}/{repository}"
            payload: dict[str, Any] = {"repository": repository, "branch": source.branch or UNKNOWN}
            payload.update(protection=UNKNOWN, rules=UNKNOWN, rulesets={})
        else:
            resource_id = _resource_id(data, repository, source.api_url)
            # A renamed repository answers under its new name, which is asked for from then on.
            current = str(data.get("full_name") or repository)
            payload, failed = _read_branch(api, current, source.branch or str(data["default_branch"]))
            errors.extend(failed)
        resources.append(
            live_resource(
                resource_id=resource_id,
                provider="github",
                native_type="github/branch",
                live_type=LIVE["github/branch"],
                region="global",
                tags={},
                payload=payload,
                stage=stage,
                source=location,
            )
        )
        if progress is not None:
            progress(f"github {repository}")
    report = SourceReport(
        kind="github",
        location=location,
        sha256=None,
        resource_count=len(resources),
        complete=not errors,
        errors=tuple(errors),
        notes=(f"repositories: {', '.join(source.repositories)}",),
    )
    return Discovery(tuple(resources), report)


def _incomplete(location: str, errors: list[str]) -> Discovery:
    return Discovery((), SourceReport("github", location, None, 0, False, tuple(errors)))
