"""Live GCP resources of one stage, through Cloud Asset Inventory: the only module that imports
the Google Cloud SDK.

Two paged `list_assets` calls over the stage's scope (a project, folder or organisation): the
resources of the types regops normalises (content type RESOURCE), and the IAM policies of
buckets, keys and projects (IAM_POLICY), joined by asset name. A labelled resource belongs to
the stage when its `stage` label (configurable) names it; types that take no label (firewall
rules, networks, log buckets, the project's audit configuration, enabled APIs, alert policies)
belong to the stage through the scope.

Fail closed: a listing that fails after the client's retries (401, 403, 429, 5xx, a timeout, a
rejected page token) is an error of the source, which makes it incomplete. Without the IAM
policies, the facts that read them (public buckets, key grants, data access logs) stay unknown.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from google.api_core import exceptions as core_exceptions
from google.api_core import retry as retries
from google.api_core.client_options import ClientOptions
from google.auth import credentials as auth_credentials
from google.auth.exceptions import GoogleAuthError, RefreshError
from google.cloud import asset_v1

from regops.discovery.live import asset_payload, asset_resources, custom_roles_of, in_stage
from regops.model import UNKNOWN, Discovery, Resource, SourceReport
from regops.normalize.gcp_asset import GRANTS, IAM_POLICY_TYPES, LIVE

Progress = Callable[[str], None]
_TRANSIENT = (
    core_exceptions.TooManyRequests,
    core_exceptions.InternalServerError,
    core_exceptions.BadGateway,
    core_exceptions.ServiceUnavailable,
    core_exceptions.GatewayTimeout,
    requests.ConnectionError,
)

_REQUEST_LINE = re.compile(r"^[A-Z]+ https?://\S+: ")


@dataclass(frozen=True)
class GcpSource:
    # "projects/<id>", "folders/<number>" or "organizations/<number>".
    scope: str
    label_key: str = "stage"
    # Another Cloud Asset API endpoint (a private service connect name, a recorded API).
    endpoint: str | None = None
    # The name of an environment variable holding an OAuth access token (a pipeline step's
    # `gcloud auth print-access-token`); without it, Application Default Credentials.
    token_env: str | None = None
    page_size: int = 500
    timeout: float = 30.0
    retry_initial: float = 1.0
    retry_deadline: float = 120.0


class _Failed(Exception):
    """A listing failed; the message is the error recorded in the source report."""


def _error_text(where: str, exc: Exception) -> str:
    if isinstance(exc, core_exceptions.RetryError) and exc.cause is not None:
        return f"{where}: gave up after retries: {_error_text('', exc.cause).lstrip(': ')}"
    if isinstance(exc, core_exceptions.GoogleAPICallError):
        status = f"HTTP {exc.code} " if exc.code else ""
        # The REST transport puts the request line (every query parameter) before the message.
        message = _REQUEST_LINE.sub("", str(exc.message))
        return f"{where}: {status}{type(exc).__name__}: {message}"
    return f"{where}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")


def _credentials(source: GcpSource) -> auth_credentials.Credentials:
    if source.token_env is not None:
        from google.oauth2.credentials import Credentials

        token = os.environ.get(source.token_env, "")
        if not token:
            raise _Failed(f"the environment variable {source.token_env} holds no access token")
        return Credentials(token=token)  # type: ignore[no-untyped-call]
    import google.auth

    found, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    return found


def _client(source: GcpSource, credentials: auth_credentials.Credentials) -> asset_v1.AssetServiceClient:
    options = ClientOptions(api_endpoint=source.endpoint) if source.endpoint else None
    return asset_v1.AssetServiceClient(credentials=credentials, transport="rest", client_options=options)


def _list(
    client: asset_v1.AssetServiceClient,
    source: GcpSource,
    content_type: int,
    asset_types: Sequence[str],
) -> list[dict[str, Any]]:
    policy = retries.Retry(
        predicate=retries.if_exception_type(*_TRANSIENT),
        initial=source.retry_initial,
        maximum=max(source.retry_initial, 30.0),
        timeout=source.retry_deadline,
    )
    request = asset_v1.ListAssetsRequest(
        parent=source.scope,
        content_type=content_type,
        asset_types=list(asset_types),
        page_size=source.page_size,
    )
    where = f"{source.scope} list_assets({asset_v1.ContentType(content_type).name})"
    try:
        pager = client.list_assets(request=request, retry=policy, timeout=source.timeout)
        return [asset_v1.Asset.to_dict(a, use_integers_for_enums=False) for a in pager]
    except RefreshError as exc:
        if source.token_env is None:
            raise _Failed(_error_text(where, exc)) from None
        # A static token is refreshed only after the API answered 401 to it.
        raise _Failed(
            f"{where}: HTTP 401 Unauthorized: the access token in {source.token_env} was rejected"
            " (expired, or for another project?)"
        ) from None
    except (core_exceptions.GoogleAPIError, GoogleAuthError, requests.RequestException) as exc:
        raise _Failed(_error_text(where, exc)) from None


def discover_gcp(
    source: GcpSource,
    stage: str,
    progress: Progress | None = None,
    *,
    credentials: auth_credentials.Credentials | None = None,
) -> Discovery:
    """The stage's live GCP resources, normalised."""
    location = f"gcp:{source.scope}@{source.endpoint or 'cloudasset.googleapis.com'}"
    errors: list[str] = []
    try:
        client = _client(source, credentials or _credentials(source))
        assets = _list(client, source, asset_v1.ContentType.RESOURCE, sorted({*LIVE, *GRANTS}))
    except (_Failed, GoogleAuthError) as exc:
        return _incomplete(location, [str(exc)])
    policies: dict[str, Any] | None
    try:
        listed = _list(client, source, asset_v1.ContentType.IAM_POLICY, IAM_POLICY_TYPES)
        policies = {str(a["name"]): a.get("iam_policy") or {} for a in listed}
    except _Failed as exc:
        errors.append(str(exc))
        policies = None
    resources: list[Resource] = []
    roles = custom_roles_of(assets)
    for asset in assets:
        policy: Any = None
        if asset.get("asset_type") in IAM_POLICY_TYPES:
            # A resource without a policy of its own has no bindings; an unread one is unknown.
            policy = UNKNOWN if policies is None else policies.get(str(asset["name"]), {})
        for resource in asset_resources(asset_payload(asset, policy, policies, roles), stage, location):
            if in_stage(resource, source.label_key, stage):
                resources.append(resource)
    if progress is not None:
        progress(
            f"gcp {source.scope}: {len(resources)} resources" + (f", {len(errors)} errors" if errors else "")
        )
    notes = [f"scope: {source.scope}; label {source.label_key}={stage}"]
    if not any(r.tags.get(source.label_key) == stage for r in resources):
        # Project settings alone are no stage: report nothing, so the gate fails closed.
        resources = []
        notes.append(f"no resource is labelled {source.label_key}={stage}")
    resources.sort(key=lambda r: r.id)
    report = SourceReport(
        kind="gcp",
        location=location,
        sha256=None,
        resource_count=len(resources),
        complete=not errors,
        errors=tuple(errors),
        notes=tuple(notes),
    )
    return Discovery(tuple(resources), report)


def _incomplete(location: str, errors: list[str]) -> Discovery:
    return Discovery((), SourceReport("gcp", location, None, 0, False, tuple(errors)))
