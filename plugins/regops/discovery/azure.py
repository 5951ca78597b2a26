"""Live Azure resources of one stage, through the Azure SDK: the only module that imports it.

Per subscription, the stage's resources are listed by tag (`resources.list`, paged by
nextLink) and read one by one with `resources.get_by_id` at the api-version of their type, as
the tag-filtered list returns no properties. Beside them: a storage account's blob service, a
SQL server's auditing settings, a PostgreSQL server's settings, a vault's keys, a virtual
network's subnets, and the subscription's Defender plans, security contacts, activity-log
diagnostic settings and activity-log alerts, which carry no stage tag.

Fail closed: a call that fails after the SDK's retries (401, 403, 429, 5xx, a timeout, a broken
nextLink) is an error of the source, which makes it incomplete; a resource whose extra read
failed keeps UNKNOWN there, so the facts that needed it are absent and controls report errors.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.mgmt.resource.resources import ResourceManagementClient

from regops.discovery.live import arm_resource, in_stage
from regops.model import UNKNOWN, Discovery, Resource, SourceReport
from regops.normalize.azure_arm import (
    BACKUP_POLICIES,
    BLOB_DIAGNOSTICS,
    BLOB_SERVICE,
    FLOW_LOGS,
    NETWORK_INTERFACES,
    PG_CONFIGURATIONS,
    PG_SETTINGS,
    ROLE_DEFINITION,
    SQL_AUDITING,
    SQL_DATABASE_TDE,
)

Progress = Callable[[str], None]

# The api-version each type is read with (get_by_id needs one per resource provider).
API_VERSIONS: dict[str, str] = {
    "microsoft.storage/storageaccounts": "2023-05-01",
    "microsoft.sql/servers": "2021-11-01",
    "microsoft.dbforpostgresql/flexibleservers": "2024-08-01",
    "microsoft.network/networksecuritygroups": "2024-05-01",
    "microsoft.network/virtualnetworks": "2024-05-01",
    "microsoft.keyvault/vaults": "2023-07-01",
    "microsoft.operationalinsights/workspaces": "2023-09-01",
    "microsoft.compute/virtualmachines": "2024-07-01",
    "microsoft.compute/disks": "2024-03-02",
    "microsoft.containerservice/managedclusters": "2024-09-01",
    "microsoft.recoveryservices/vaults": "2024-04-01",
    "microsoft.insights/activitylogalerts": "2020-10-01",
}
ROLE_API_VERSION = "2022-04-01"
SUBSCRIPTION_COLLECTIONS = (
    ("Microsoft.Security/pricings", "2024-01-01", None),
    ("Microsoft.Security/securityContacts", "2020-01-01-preview", None),
    ("Microsoft.Insights/diagnosticSettings", "2021-05-01-preview", None),
    # The subscription's own roles: a built-in one (Owner has every action) is not the stage's.
    ("Microsoft.Authorization/roleDefinitions", ROLE_API_VERSION, "type eq 'CustomRole'"),
    # Who holds which role where: at the subscription, below it, and inherited from above.
    ("Microsoft.Authorization/roleAssignments", ROLE_API_VERSION, None),
)
ALERTS_FILTER = "resourceType eq 'Microsoft.Insights/activityLogAlerts'"


@dataclass(frozen=True)
class AzureSource:
    subscriptions: tuple[str, ...]
    tag_key: str = "stage"
    endpoint: str = "https://management.azure.com"
    # The name of an environment variable holding an ARM access token (a pipeline step's
    # `az account get-access-token`); without it, DefaultAzureCredential.
    token_env: str | None = None
    ca_bundle: str | None = None
    max_workers: int = 8
    retry_total: int = 4
    retry_backoff: float = 0.8
    connection_timeout: float = 5.0
    read_timeout: float = 20.0


class _EnvironmentToken:
    """A bearer token handed over by the pipeline; Azure AD is never called."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)


class _Failed(Exception):
    """A call failed; the message is the error recorded in the source report."""


def _error_text(where: str, exc: Exception) -> str:
    if isinstance(exc, HttpResponseError):
        code = exc.error.code if exc.error is not None else exc.reason
        message = exc.error.message if exc.error is not None else ""
        return f"{where}: HTTP {exc.status_code} {code}: {message}".rstrip(": ")
    return f"{where}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")


def _credential(source: AzureSource) -> TokenCredential:
    if source.token_env is not None:
        token = os.environ.get(source.token_env, "")
        if not token:
            raise _Failed(f"the environment variable {source.token_env} holds no access token")
        return _EnvironmentToken(token)
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


class _Subscription:
    """One subscription's client, and a record of every call that failed there."""

    def __init__(self, source: AzureSource, subscription: str, credential: TokenCredential) -> None:
        self.subscription = subscription
        self.errors: list[str] = []
        transport_options: dict[str, Any] = {}
        if source.ca_bundle:
            transport_options["connection_verify"] = source.ca_bundle
        self.client = ResourceManagementClient(
            credential,
            subscription,
            base_url=source.endpoint,
            # Sovereign clouds take their own management endpoint as the token audience.
            credential_scopes=[f"{source.endpoint.rstrip('/')}/.default"],
            retry_total=source.retry_total,
            retry_backoff_factor=source.retry_backoff,
            connection_timeout=source.connection_timeout,
            read_timeout=source.read_timeout,
            **transport_options,
        )

    def fail(self, where: str, exc: Exception) -> _Failed:
        message = _error_text(f"{self.subscription} {where}", exc)
        self.errors.append(message)
        return _Failed(message)

    def listed(self, filter_text: str) -> list[Any]:
        try:
            return list(self.client.resources.list(filter=filter_text))
        except AzureError as exc:
            raise self.fail(f"resources.list({filter_text})", exc) from None

    def get(self, resource_id: str, api_version: str, absent_ok: bool = False) -> Any:
        """The resource as a dict; None when `absent_ok` and it does not exist; UNKNOWN on failure."""
        try:
            return self.client.resources.get_by_id(resource_id, api_version=api_version).as_dict()
        except ResourceNotFoundError as exc:
            if absent_ok:
                return None
            self.fail(f"get {resource_id}", exc)
        except AzureError as exc:
            self.fail(f"get {resource_id}", exc)
        return UNKNOWN

    def listing(self, path: str, api_version: str) -> Any:
        """An ARM collection as a list; UNKNOWN when it cannot be read (the error is recorded)."""
        try:
            return self.collection(path, api_version)
        except _Failed:
            return UNKNOWN

    def collection(self, path: str, api_version: str, filter_text: str | None = None) -> list[dict[str, Any]]:
        """Every item of an ARM collection (an OData `$filter` narrowing it), following nextLink;
        raises _Failed."""
        items: list[dict[str, Any]] = []
        query = {"api-version": api_version, **({"$filter": filter_text} if filter_text else {})}
        url: str | None = f"{path}?{urlencode(query, quote_via=quote)}"
        while url:
            try:
                response = self.client.send_request(HttpRequest("GET", url))
                response.raise_for_status()
                page = response.json()
            except (AzureError, ValueError) as exc:
                raise self.fail(f"GET {path}", exc) from None
            items.extend(page.get("value", []))
            url = page.get("nextLink")
        return items


def _with_extras(sub: _Subscription, payload: dict[str, Any]) -> dict[str, Any]:
    kind = str(payload.get("type", "")).lower()
    rid = str(payload["id"])
    if kind == "microsoft.storage/storageaccounts":
        payload[BLOB_SERVICE] = sub.get(f"{rid}/blobServices/default", "2023-05-01")
        payload[BLOB_DIAGNOSTICS] = sub.listing(
            f"{rid}/blobServices/default/providers/Microsoft.Insights/diagnosticSettings",
            "2021-05-01-preview",
        )
    elif kind == "microsoft.compute/virtualmachines":
        nics = (payload.get("properties") or {}).get("networkProfile", {}).get("networkInterfaces") or []
        found = [sub.get(str(nic["id"]), API_VERSIONS["microsoft.network/virtualnetworks"]) for nic in nics]
        payload[NETWORK_INTERFACES] = UNKNOWN if any(f is UNKNOWN for f in found) else found
    elif kind == "microsoft.recoveryservices/vaults":
        payload[BACKUP_POLICIES] = sub.listing(f"{rid}/backupPolicies", API_VERSIONS[kind])
    elif kind == "microsoft.sql/servers":
        payload[SQL_AUDITING] = sub.get(f"{rid}/auditingSettings/default", "2021-11-01")
        payload[SQL_DATABASE_TDE] = _database_encryption(sub, rid)
    elif kind == "microsoft.dbforpostgresql/flexibleservers":
        settings: Any = {}
        for name in PG_SETTINGS:
            found = sub.get(f"{rid}/configurations/{name}", "2024-08-01", absent_ok=True)
            if found is UNKNOWN:
                settings = UNKNOWN
                break
            if found is not None:
                settings[name] = (found.get("properties") or {}).get("value")
        payload[PG_CONFIGURATIONS] = settings
    return payload


def _database_encryption(sub: _Subscription, server: str) -> Any:
    """Each user database's transparent data encryption state; UNKNOWN when one is unread."""
    databases = sub.listing(f"{server}/databases", "2021-11-01")
    if databases is UNKNOWN:
        return UNKNOWN
    states: dict[str, Any] = {}
    for database in databases:
        name = str(database.get("name", ""))
        if name == "master":
            continue  # the server's own database, which TDE does not apply to
        found = sub.get(f"{server}/databases/{name}/transparentDataEncryption/current", "2021-11-01")
        if found is UNKNOWN:
            return UNKNOWN
        states[name] = (found.get("properties") or {}).get("state")
    return states


def _children(sub: _Subscription, payload: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Resources inside a resource that regops judges on their own: subnets and vault keys."""
    kind = str(payload.get("type", "")).lower()
    if kind == "microsoft.network/virtualnetworks":
        for subnet in (payload.get("properties") or {}).get("subnets") or []:
            yield {
                "type": "Microsoft.Network/virtualNetworks/subnets",
                "location": payload.get("location"),
                **subnet,
            }
    elif kind == "microsoft.keyvault/vaults":
        try:
            keys = sub.collection(f"{payload['id']}/keys", API_VERSIONS[kind])
        except _Failed:
            return
        for key in keys:
            yield {"type": "Microsoft.KeyVault/vaults/keys", "location": payload.get("location"), **key}


def _target(flow_log: Mapping[str, Any]) -> str:
    return str((flow_log.get("properties") or {}).get("targetResourceId", "")).lower()


def _flow_logs(sub: _Subscription) -> Any:
    """Every flow log of the subscription's network watchers (they live outside the stage's
    resource groups); UNKNOWN when they cannot be listed."""
    version = API_VERSIONS["microsoft.network/virtualnetworks"]
    try:
        watchers = sub.collection(
            f"/subscriptions/{sub.subscription}/providers/Microsoft.Network/networkWatchers", version
        )
        return [log for w in watchers for log in sub.collection(f"{w['id']}/flowLogs", version)]
    except _Failed:
        return UNKNOWN


def _own(collection: str, item: Mapping[str, Any]) -> bool:
    """Whether a subscription collection's item is the subscription's own setting: of the role
    definitions, the custom ones (the listing's filter asks for them; this holds either way)."""
    if collection == "Microsoft.Authorization/roleDefinitions":
        return str((item.get("properties") or {}).get("type")) == "CustomRole"
    return True


def _with_role_definitions(sub: _Subscription, payloads: list[dict[str, Any]]) -> None:
    """Hand each role assignment the definition of its role: a custom one as listed, a built-in
    one read once by its id (UNKNOWN when it cannot be read, and the error is recorded)."""
    definitions: dict[str, Any] = {
        str(p.get("name")).lower(): p
        for p in payloads
        if str(p.get("type")).lower() == "microsoft.authorization/roledefinitions"
    }
    for payload in payloads:
        if str(payload.get("type")).lower() != "microsoft.authorization/roleassignments":
            continue
        definition_id = str((payload.get("properties") or {}).get("roleDefinitionId", ""))
        guid = definition_id.rsplit("/", 1)[-1].lower()
        if guid not in definitions:
            definitions[guid] = sub.get(definition_id, ROLE_API_VERSION) if guid else UNKNOWN
        payload[ROLE_DEFINITION] = definitions[guid]


def _discover_subscription(
    source: AzureSource, stage: str, sub: _Subscription, location: str, pool: ThreadPoolExecutor
) -> list[Resource]:
    tag_filter = f"tagName eq '{source.tag_key}' and tagValue eq '{stage}'"
    tagged = sub.listed(tag_filter)
    listed = [*tagged, *sub.listed(ALERTS_FILTER)]
    tagged_ids = {item.id for item in tagged}

    def read(item: Any) -> dict[str, Any] | None:
        version = API_VERSIONS.get(str(item.type).lower())
        if version is None:
            return None
        found = sub.get(item.id, version)
        if found is UNKNOWN:
            # Still the stage's (the listing matched its tag): its facts stay unknown, so its
            # controls report errors.
            tags = {source.tag_key: stage} if item.id in tagged_ids else {}
            return {
                "id": item.id,
                "type": item.type,
                "location": item.location,
                "tags": tags,
                "properties": UNKNOWN,
            }
        return _with_extras(sub, found)

    payloads = [p for p in pool.map(read, listed) if p is not None]
    if any(str(p.get("type", "")).lower() == "microsoft.network/virtualnetworks" for p in payloads):
        flow_logs = _flow_logs(sub)
        for payload in payloads:
            if str(payload.get("type", "")).lower() == "microsoft.network/virtualnetworks":
                payload[FLOW_LOGS] = (
                    flow_logs
                    if flow_logs is UNKNOWN
                    else [f for f in flow_logs if _target(f) == str(payload["id"]).lower()]
                )
    for payload in list(payloads):
        if payload.get("properties") is not UNKNOWN:
            payloads.extend(_children(sub, payload))
    for collection, version, filter_text in SUBSCRIPTION_COLLECTIONS:
        path = f"/subscriptions/{sub.subscription}/providers/{collection}"
        try:
            items = sub.collection(path, version, filter_text)
        except _Failed:
            continue
        payloads.extend({"type": collection, **item} for item in items if _own(collection, item))
    _with_role_definitions(sub, payloads)
    resources = []
    for payload in payloads:
        resource = arm_resource(payload, stage, location)
        if resource is not None and in_stage(resource, source.tag_key, stage):
            resources.append(resource)
    return resources


def discover_azure(
    source: AzureSource,
    stage: str,
    progress: Progress | None = None,
    *,
    credential: TokenCredential | None = None,
) -> Discovery:
    """The stage's live Azure resources, normalised."""
    location = f"azure:{','.join(source.subscriptions)}@{source.endpoint}"
    try:
        credential = credential or _credential(source)
    except _Failed as exc:
        return _incomplete(location, [str(exc)])
    resources: list[Resource] = []
    errors: list[str] = []
    untagged: list[str] = []
    with ThreadPoolExecutor(max_workers=source.max_workers) as pool:
        for subscription in source.subscriptions:
            sub = _Subscription(source, subscription, credential)
            try:
                found = _discover_subscription(source, stage, sub, location, pool)
            except _Failed:
                found = []
            finally:
                sub.client.close()
            if not any(r.tags.get(source.tag_key) == stage for r in found):
                # A subscription's settings alone are not the stage's.
                found = []
                if not sub.errors:
                    untagged.append(subscription)
            resources.extend(found)
            errors.extend(sub.errors)
            if progress is not None:
                progress(
                    f"azure {subscription}: {len(found)} resources"
                    + (f", {len(sub.errors)} errors" if sub.errors else "")
                )
    notes = [f"subscriptions: {', '.join(source.subscriptions)}; tag {source.tag_key}={stage}"]
    if not any(r.tags.get(source.tag_key) == stage for r in resources):
        # Subscription settings alone are no stage: report nothing, so the gate fails closed.
        resources = []
        notes.append(f"no resource is tagged {source.tag_key}={stage}")
    else:
        # ARM lists a subscription the caller cannot read as empty, not as denied: one without
        # the stage's resources beside others with them may be one it could not see.
        errors.extend(f"{empty}: no resource is tagged {source.tag_key}={stage}" for empty in untagged)
    resources.sort(key=lambda r: r.id)
    report = SourceReport(
        kind="azure",
        location=location,
        sha256=None,
        resource_count=len(resources),
        complete=not errors,
        errors=tuple(errors),
        notes=tuple(notes),
    )
    return Discovery(tuple(resources), report)


def _incomplete(location: str, errors: list[str]) -> Discovery:
    return Discovery((), SourceReport("azure", location, None, 0, False, tuple(errors)))
