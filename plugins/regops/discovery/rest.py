"""A JSON REST API read with a token (GitHub's, GitLab's): the token goes to the API's host only,
and every refusal is an error that says what to do, never an empty answer."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import HTTPRedirectHandler, Request, build_opener

from regops.discovery.live import live_resource
from regops.model import Discovery, SourceReport
from regops.normalize.common import LiveType

_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


class RestError(Exception):
    """A call that did not give what was asked for; the message says which and why."""


class NotFound(RestError):
    """A 404, with the API's message: what it means depends on what was asked for."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"GET {path}: 404 {message or 'Not Found'}")
        self.message = message


class _SameHostRedirects(HTTPRedirectHandler):
    """Follows a redirect (a renamed repository) on the API's host only: urllib would send the
    token along to any other."""

    def redirect_request(
        self, req: Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Request | None:
        if urlsplit(newurl).netloc != urlsplit(req.full_url).netloc:
            return None  # urllib then raises the redirect as an HTTPError
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class RestClient:
    """GETs under `base` with `headers` (the token among them). `forbidden` says, after a 403,
    what the token lacks."""

    def __init__(self, base: str, headers: Mapping[str, str], timeout: float, forbidden: str) -> None:
        self.base = base.rstrip("/")
        self.timeout = timeout
        self.forbidden = forbidden
        self._headers = {"User-Agent": "regops", **headers}
        self._opener = build_opener(_SameHostRedirects)

    def get(self, path: str) -> tuple[Any, str | None]:
        """The JSON body of a GET and the next page's URL; raises RestError (NotFound for a 404)."""
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
            raise RestError(f"GET {path}: {self._refusal(error)}") from None
        except (URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise RestError(f"GET {path}: no answer from {self.base} ({reason})") from None
        try:
            data = json.loads(body)
        except ValueError:
            raise RestError(f"GET {path}: the answer is not JSON") from None
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
                raise RestError(f"GET {path}: expected a list, got {type(page).__name__}")
            items.extend(page)
            if following is None:
                return items
            page, following = self._get(following, path)

    def _refusal(self, error: HTTPError) -> str:
        """Why the API refused, in words that say what to do."""
        message = _message(error)
        headers = error.headers
        remaining = headers.get("x-ratelimit-remaining") or headers.get("ratelimit-remaining")
        limited = error.code == 429 or remaining == "0" or headers.get("retry-after") is not None
        if error.code in (403, 429) and (limited or "rate limit" in message.lower()):
            wait = headers.get("retry-after")
            return f"rate limited ({message or error.code}){f'; retry after {wait} s' if wait else ''}"
        if error.code == 401:
            return f"the token was refused (401 {message or 'Unauthorized'})"
        if error.code == 403:
            return f"403 {message or 'Forbidden'}: {self.forbidden}"
        return f"HTTP {error.code} {message}".rstrip()


def web_id(web_url: Any, fallback: str) -> str:
    """A repository as people know it, `host/owner/name`: from its web address, which a
    self-hosted server gives under its own host; `fallback` when the answer gives none."""
    web = urlsplit(str(web_url or ""))
    return f"{web.netloc}{web.path}" if web.netloc and web.path.strip("/") else fallback


def _message(error: HTTPError) -> str:
    """The `message` of an error's JSON body; empty when it has none."""
    try:
        return str(json.loads(error.read()).get("message", ""))
    except (ValueError, AttributeError, OSError):
        return ""


# A repository's (or project's) branch as a Git host's reader gives it: the resource's id, the
# payload its normaliser reads, and what could not be read of it.
BranchRead = tuple[str, dict[str, Any], list[str]]
_HOSTS = {"github": ("GitHub", "repositories"), "gitlab": ("GitLab", "projects")}


def discover_branches(
    host: str,
    location: str,
    names: Sequence[str],
    read: Callable[[str], BranchRead],
    live_type: LiveType,
    stage: str,
    progress: Callable[[str], None] | None,
) -> Discovery:
    """The branch of each repository `read` reads on a Git host (`github`, `gitlab`), normalised;
    the source is incomplete when anything of one could not be read."""
    resources = []
    errors: list[str] = []
    for name in names:
        resource_id, payload, failed = read(name)
        errors.extend(failed)
        resources.append(
            live_resource(
                resource_id=resource_id,
                provider=host,
                native_type=f"{host}/branch",
                live_type=live_type,
                region="global",
                tags={},
                payload=payload,
                stage=stage,
                source=location,
            )
        )
        if progress is not None:
            progress(f"{host} {name}")
    note = f"{_HOSTS[host][1]}: {', '.join(names)}"
    report = SourceReport(host, location, None, len(resources), not errors, tuple(errors), (note,))
    return Discovery(tuple(resources), report)


def token_missing(host: str, location: str, token_env: str) -> Discovery:
    """A Git host's source without its token: incomplete, having read nothing."""
    error = f"the environment variable {token_env} holds no {_HOSTS[host][0]} token"
    return Discovery((), SourceReport(host, location, None, 0, False, (error,)))
