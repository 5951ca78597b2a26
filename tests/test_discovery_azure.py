"""Live Azure discovery: the real Azure SDK client (its paging, retries, deserialisation and
bearer-token policy) against recorded ARM responses served over HTTPS on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from regops.discovery import Inventory
from regops.discovery.azure import ALERTS_FILTER, AzureSource, discover_azure
from regops.gate import judge
from regops.model import Discovery
from tests.helpers import DEMO
from tests.recorded_api import RecordedApi, load_recording

pytest.importorskip("azure.mgmt.resource")

SUBSCRIPTION = "6f1e9c2a-4b7d-4e8a-9c3f-2d5b8a1e7f40"
GROUP = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-payments-acceptance/providers"
EXPORT_ACCOUNT = f"{GROUP}/Microsoft.Storage/storageAccounts/stpayaccexport"
LISTING = f"/subscriptions/{SUBSCRIPTION}/resources"
TAG_FILTER = {"$filter": "tagName eq 'stage' and tagValue eq 'acceptance'"}
TOKEN_ENV = "REGOPS_TEST_AZURE_TOKEN"


def answer(path: str, *responses: dict[str, Any], query: dict[str, str] | None = None) -> dict[str, Any]:
    return {"method": "GET", "path": path, "query": query or {}, "responses": list(responses)}


def error(status: int, code: str, message: str = "recorded error", **headers: str) -> dict[str, Any]:
    return {"status": status, "headers": headers, "body": {"error": {"code": code, "message": message}}}


Run = Callable[..., tuple[Discovery, RecordedApi]]


@pytest.fixture
def run_azure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    """Discover the demo subscription, with `overrides` answering before the recording does."""
    monkeypatch.setenv(TOKEN_ENV, "recorded-token")
    servers: list[RecordedApi] = []

    def run(overrides: Sequence[dict[str, Any]] = (), **options: Any) -> tuple[Discovery, RecordedApi]:
        api = RecordedApi([*overrides, *load_recording(DEMO / "azure_api.json")], tls=True).start()
        servers.append(api)
        source = AzureSource(
            endpoint=api.endpoint,
            token_env=TOKEN_ENV,
            ca_bundle=api.ca_file,
            **{"subscriptions": (SUBSCRIPTION,), "retry_total": 2, "retry_backoff": 0.0, **options},
        )
        return discover_azure(source, "acceptance"), api

    yield run
    for api in servers:
        api.close()


def by_name(discovery: Discovery) -> dict[str, Any]:
    return {r.id.rsplit("/", 1)[-1]: r for r in discovery.resources}


def test_the_demo_subscription_through_the_sdk(run_azure: Run) -> None:
    discovery, api = run_azure()
    assert api.unmatched == []
    assert discovery.report.complete, discovery.report.errors
    found = by_name(discovery)
    # Both pages of the tag listing, both pages of the vault's keys, subnets from the network.
    assert {"stpayacclogs", "vm-batch-acc", "law-payments-acc", "tokenisation", "snet-batch"} <= set(found)
    assert api.calls("/resources") == 3  # two pages by tag, one of activity-log alerts
    export = found["stpayaccexport"]
    assert (export.kind, export.origin, export.region) == ("object_store", "live", "germanywestcentral")
    assert export.tags["stage"] == "acceptance"  # tags come from get_by_id: the listing has none
    assert export.facts["public"] is True
    assert export.facts["tls_min_version"] == "1.0"
    assert export.facts["versioning"] is True  # from the blob service read beside it
    assert found["nsg-payments-web"].facts["internet_ingress_ports"] == [[22, 22], [443, 443]]
    assert found["psql-payments-acc"].facts["tls_enforced"] is True  # a server parameter
    assert found["vm-batch-acc"].facts["public_ip"] is False  # its network interface
    assert found["vm-batch-acc"].facts["disk_encrypted"] is True  # encryption at host
    assert found["vnet-payments-acc"].facts["flow_logs"] is True  # the network watcher's flow log
    assert found["cmk-storage"].facts["rotation_period_days"] == 365
    assert found["tokenisation"].facts["taggable"] is False
    # Subscription settings carry no stage tag and still belong to the stage.
    assert found["VirtualMachines"].facts["provides"] == [
        "defender:VirtualMachines",
        "defender:VirtualMachines:P2",
    ]
    assert found["activity-to-siem"].facts["covers_all_regions"] is True
    assert found["alert-diagnostic-settings-deleted"].facts["provides"] == ["diagnostic_settings_delete"]
    # Resources of other stages and types regops does not judge stay out.
    assert "vm-batch-acc-nic" not in found


def test_the_token_is_never_sent_over_plain_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "recorded-token")
    with RecordedApi(load_recording(DEMO / "azure_api.json")) as api:
        source = AzureSource(
            subscriptions=(SUBSCRIPTION,), endpoint=api.endpoint, token_env=TOKEN_ENV, retry_total=0
        )
        discovery = discover_azure(source, "acceptance")
    assert api.requests == []
    assert discovery.report.complete is False
    assert "non-TLS" in discovery.report.errors[0]


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (
            error(401, "InvalidAuthenticationToken", "The access token is invalid."),
            "HTTP 401 InvalidAuthenticationToken",
        ),
        (error(403, "AuthorizationFailed", "no read on the subscription"), "HTTP 403 AuthorizationFailed"),
        (error(429, "TooManyRequests", "throttled", **{"Retry-After": "0"}), "HTTP 429"),
        (error(500, "InternalServerError"), "HTTP 500"),
        (error(503, "ServiceUnavailable"), "HTTP 503"),
        ({"drop": True}, "ServiceResponseError"),
    ],
    ids=["401", "403", "429", "500", "503", "connection-dropped"],
)
def test_a_failed_listing_makes_the_source_incomplete(
    run_azure: Run, response: dict[str, Any], expected: str
) -> None:
    discovery, _ = run_azure([answer(LISTING, response, query=TAG_FILTER)])
    assert discovery.report.complete is False
    assert any(expected in e for e in discovery.report.errors), discovery.report.errors
    assert discovery.resources == ()


def test_throttling_is_retried_before_it_counts(run_azure: Run) -> None:
    throttled = error(429, "TooManyRequests", **{"Retry-After": "0"})
    discovery, api = run_azure([answer(EXPORT_ACCOUNT, throttled, *load_export_account())])
    assert discovery.report.complete, discovery.report.errors
    assert api.calls("storageAccounts/stpayaccexport") >= 2


def load_export_account() -> list[dict[str, Any]]:
    recorded = load_recording(DEMO / "azure_api.json")
    return [i["responses"][0] for i in recorded if i["path"] == EXPORT_ACCOUNT]


def test_throttling_past_the_retries_is_an_error(run_azure: Run) -> None:
    throttled = error(429, "TooManyRequests", **{"Retry-After": "0"})
    discovery, api = run_azure([answer(EXPORT_ACCOUNT, throttled)], retry_total=2)
    assert discovery.report.complete is False
    assert api.calls("storageAccounts/stpayaccexport") == 3  # the first try and two retries
    assert any("HTTP 429" in e and "stpayaccexport" in e for e in discovery.report.errors)


def test_a_read_timeout_is_an_error(run_azure: Run) -> None:
    discovery, _ = run_azure(
        [answer(LISTING, {"hang": True}, query=TAG_FILTER)], retry_total=0, read_timeout=0.3
    )
    assert discovery.report.complete is False
    assert any("ServiceResponseError" in e or "Timeout" in e for e in discovery.report.errors)


def test_a_broken_next_link_makes_the_source_incomplete(run_azure: Run) -> None:
    broken = error(400, "InvalidSkipToken", "The skip token is not valid.")
    discovery, _ = run_azure([answer(LISTING, broken, query={**TAG_FILTER, "$skiptoken": "page2"})])
    assert discovery.report.complete is False
    assert any("InvalidSkipToken" in e for e in discovery.report.errors)
    assert discovery.resources == ()


def test_a_denied_read_keeps_the_resource_with_its_facts_unknown(run_azure: Run) -> None:
    discovery, _ = run_azure([answer(EXPORT_ACCOUNT, error(403, "AuthorizationFailed"))])
    assert discovery.report.complete is False
    export = by_name(discovery)["stpayaccexport"]
    assert set(export.facts) == {"taggable"}  # nothing else can be said of it
    assert export.attributes["properties"] == "(could not be read)"


def test_a_denied_side_read_leaves_only_its_facts_unknown(run_azure: Run) -> None:
    discovery, _ = run_azure(
        [answer(f"{EXPORT_ACCOUNT}/blobServices/default", error(403, "AuthorizationFailed"))]
    )
    assert discovery.report.complete is False
    export = by_name(discovery)["stpayaccexport"]
    assert "versioning" not in export.facts
    assert export.facts["public"] is True


def test_flow_logs_unknown_when_the_watchers_cannot_be_listed(run_azure: Run) -> None:
    watchers = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Network/networkWatchers"
    discovery, _ = run_azure([answer(watchers, error(403, "AuthorizationFailed"))])
    assert "flow_logs" not in by_name(discovery)["vnet-payments-acc"].facts
    assert discovery.report.complete is False


def test_nothing_tagged_for_the_stage_reports_no_resources(run_azure: Run) -> None:
    empty = {"status": 200, "body": {"value": []}}
    discovery, _ = run_azure([answer(LISTING, empty, query=TAG_FILTER)])
    # The subscription's Defender plans alone are no stage.
    assert discovery.resources == ()
    assert "no resource is tagged stage=acceptance" in discovery.report.notes


def test_a_subscription_with_nothing_of_the_stage_fails_the_gate_beside_one_with_resources(
    run_azure: Run,
) -> None:
    """ARM answers a subscription the caller cannot see with empty lists, not with 403."""
    other = "0b9d2f4e-7c1a-4e3b-8d5f-6a2c9e1b4d70"
    empty = {"status": 200, "body": {"value": []}}
    defender = {
        "status": 200,
        "body": {
            "value": [
                {
                    "id": f"/subscriptions/{other}/providers/Microsoft.Security/pricings/VirtualMachines",
                    "name": "VirtualMachines",
                    "properties": {"pricingTier": "Standard"},
                }
            ]
        },
    }
    discovery, api = run_azure(
        [
            answer(f"/subscriptions/{other}/resources", empty, query=TAG_FILTER),
            answer(f"/subscriptions/{other}/resources", empty, query={"$filter": ALERTS_FILTER}),
            answer(f"/subscriptions/{other}/providers/Microsoft.Security/pricings", defender),
            answer(f"/subscriptions/{other}/providers/Microsoft.Security/securityContacts", empty),
            answer(f"/subscriptions/{other}/providers/Microsoft.Insights/diagnosticSettings", empty),
            answer(f"/subscriptions/{other}/providers/Microsoft.Authorization/roleDefinitions", empty),
            answer(f"/subscriptions/{other}/providers/Microsoft.Authorization/roleAssignments", empty),
        ],
        subscriptions=(SUBSCRIPTION, other),
    )
    assert api.unmatched == []
    assert discovery.report.errors == (f"{other}: no resource is tagged stage=acceptance",)
    assert "stpayaccexport" in by_name(discovery)
    # Its subscription settings alone are not the stage's.
    assert not any(other in r.id for r in discovery.resources)
    gate = judge([], {}, Inventory.merge("acceptance", [discovery]), "low")
    assert not gate.passed
    assert any(other in reason for reason in gate.reasons), gate.reasons


def test_a_missing_token_is_one_clear_error(run_azure: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV)
    discovery, api = run_azure()
    assert discovery.report.errors == (f"the environment variable {TOKEN_ENV} holds no access token",)
    assert api.requests == []


def test_credential_like_values_never_reach_the_attributes(run_azure: Run) -> None:
    recorded = load_export_account()[0]
    leaky = {
        **recorded,
        "body": {
            **recorded["body"],
            "properties": {
                **recorded["body"]["properties"],
                "connectionString": "DefaultEndpointsProtocol=https;AccountKey=c2VjcmV0",
            },
        },
    }
    discovery, _ = run_azure([answer(EXPORT_ACCOUNT, leaky)])
    export = by_name(discovery)["stpayaccexport"]
    assert export.attributes["properties"]["connectionString"] == "(redacted)"
    assert "c2VjcmV0" not in str(export.to_dict())


def ok(body: Any) -> dict[str, Any]:
    return {"status": 200, "body": body}


def alone(kind: str, name: str, properties: dict[str, Any], *reads: dict[str, Any]) -> list[dict[str, Any]]:
    """Answers for a subscription whose stage holds one resource, and the reads beside it."""
    resource_id = f"{GROUP}/{kind}/{name}"
    listed = {"id": resource_id, "name": name, "type": kind}
    resource = {**listed, "location": "germanywestcentral", "tags": {"stage": "acceptance"}}
    return [
        answer(LISTING, ok({"value": [listed]}), query=TAG_FILTER),
        answer(resource_id, ok({**resource, "properties": properties})),
        *reads,
    ]


VAULT = f"{GROUP}/Microsoft.RecoveryServices/vaults/rsv-payments"
LOCKED = {"securitySettings": {"immutabilitySettings": {"state": "Locked"}}}


def test_a_recovery_vaults_lock_is_judged_by_its_backup_policies(run_azure: Run) -> None:
    policy = {
        "id": f"{VAULT}/backupPolicies/DefaultPolicy",
        "name": "DefaultPolicy",
        "properties": {
            "backupManagementType": "AzureIaasVM",
            "retentionPolicy": {
                "retentionPolicyType": "LongTermRetentionPolicy",
                "dailySchedule": {"retentionDuration": {"count": 7, "durationType": "Days"}},
                "weeklySchedule": {"retentionDuration": {"count": 12, "durationType": "Weeks"}},
            },
        },
    }
    policies = answer(f"{VAULT}/backupPolicies", ok({"value": [policy]}))
    discovery, api = run_azure(alone("Microsoft.RecoveryServices/vaults", "rsv-payments", LOCKED, policies))
    assert api.unmatched == []
    found = by_name(discovery)["rsv-payments"]
    assert (found.kind, found.facts["immutable"], found.facts["immutable_retention_days"]) == (
        "backup_vault",
        True,
        7,
    )
    unread = answer(f"{VAULT}/backupPolicies", error(403, "AuthorizationFailed"))
    denied, _ = run_azure(alone("Microsoft.RecoveryServices/vaults", "rsv-payments", LOCKED, unread))
    assert "immutable_retention_days" not in by_name(denied)["rsv-payments"].facts
    assert denied.report.complete is False


SQL_SERVER = f"{GROUP}/Microsoft.Sql/servers/sql-payments"
SQL_AUDITING = answer(f"{SQL_SERVER}/auditingSettings/default", ok({"properties": {"state": "Enabled"}}))


@pytest.mark.parametrize(
    ("states", "encrypted"), [(["Enabled", "Enabled"], True), (["Enabled", "Disabled"], False)]
)
def test_a_sql_server_is_encrypted_only_if_every_database_is(
    run_azure: Run, states: list[str], encrypted: bool
) -> None:
    names = ["ledger", "reporting"]
    databases = [{"id": f"{SQL_SERVER}/databases/{n}", "name": n} for n in ["master", *names]]
    encryption = [
        answer(
            f"{SQL_SERVER}/databases/{name}/transparentDataEncryption/current",
            ok({"properties": {"state": state}}),
        )
        for name, state in zip(names, states, strict=True)
    ]
    discovery, api = run_azure(
        alone(
            "Microsoft.Sql/servers",
            "sql-payments",
            {"minimalTlsVersion": "1.2", "publicNetworkAccess": "Disabled"},
            SQL_AUDITING,
            answer(f"{SQL_SERVER}/databases", ok({"value": databases})),
            *encryption,
        )
    )
    assert api.unmatched == []  # master's encryption is never asked
    assert by_name(discovery)["sql-payments"].facts["encrypted_at_rest"] is encrypted


def test_a_sql_server_whose_databases_cannot_be_read_is_of_unknown_encryption(run_azure: Run) -> None:
    unread = answer(f"{SQL_SERVER}/databases", error(403, "AuthorizationFailed"))
    discovery, _ = run_azure(alone("Microsoft.Sql/servers", "sql-payments", {}, SQL_AUDITING, unread))
    assert "encrypted_at_rest" not in by_name(discovery)["sql-payments"].facts
    assert discovery.report.complete is False


ROLES = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions"


def role(
    name: str, kind: str, actions: list[str], data_actions: list[str], scopes: list[str]
) -> dict[str, Any]:
    return {
        "id": f"{ROLES}/{name}",
        "name": name,
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": name,
            "type": kind,
            "assignableScopes": scopes,
            "permissions": [
                {"actions": actions, "notActions": [], "dataActions": data_actions, "notDataActions": []}
            ],
        },
    }


def test_custom_roles_are_judged_as_grants_of_rights(run_azure: Run) -> None:
    discovery, api = run_azure()
    deployer = next(
        r for r in discovery.resources if r.native_type == "Microsoft.Authorization/roleDefinitions"
    )
    assert (deployer.kind, deployer.region) == ("access_policy", "global")
    assert [deployer.facts[f] for f in ("admin", "access_gaps", "escalation")] == [False, [], []]
    # Only the subscription's own roles are asked for.
    assert ("GET", ROLES, {"api-version": "2022-04-01", "$filter": "type eq 'CustomRole'"}) in api.requests

    subscription = f"/subscriptions/{SUBSCRIPTION}"
    listing = {
        "value": [
            role("breakglass", "CustomRole", ["*"], ["Microsoft.KeyVault/vaults/keys/*"], [subscription]),
            # a built-in role answered against the filter: Microsoft's, not the stage's
            role("owner", "BuiltInRole", ["*"], [], ["/"]),
        ]
    }
    discovery, _ = run_azure([answer(ROLES, {"status": 200, "body": listing})])
    found = by_name(discovery)
    assert "owner" not in found
    duties = (
        "the role both deletes Key Vault keys (Microsoft.KeyVault/vaults/keys/delete) and decrypts with them"
    )
    assert found["breakglass"].facts == {
        "admin": True,
        "access_gaps": [duties],
        "escalation": [
            "allows Microsoft.Authorization/roleAssignments/write above resource groups",
            "allows Microsoft.Authorization/roleDefinitions/write above resource groups",
        ],
        "taggable": False,
    }

    discovery, _ = run_azure([answer(ROLES, error(403, "AuthorizationFailed"))])
    assert discovery.report.complete is False
    assert any("roleDefinitions" in e and "403" in e for e in discovery.report.errors)


ASSIGNMENTS = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleAssignments"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CRYPTO_OFFICER = "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
KEY_VAULT = f"{GROUP}/Microsoft.KeyVault/vaults/kv-pay-acc"


def assignment(name: str, role_guid: str, scope: str, principal_type: str = "User") -> dict[str, Any]:
    return {
        "id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}",
        "name": name,
        "type": "Microsoft.Authorization/roleAssignments",
        "properties": {
            "roleDefinitionId": f"{ROLES}/{role_guid}",
            "principalId": f"principal-of-{name}",
            "principalType": principal_type,
            "scope": scope,
        },
    }


def built_in(guid: str, actions: list[str], data_actions: list[str]) -> dict[str, Any]:
    return answer(
        f"{ROLES}/{guid}", {"status": 200, "body": role(guid, "BuiltInRole", actions, data_actions, ["/"])}
    )


def test_role_assignments_are_judged_by_the_role_they_assign_where_they_assign_it(run_azure: Run) -> None:
    discovery, api = run_azure()
    found = {
        r.id.rsplit("/", 1)[-1]: r for r in discovery.resources if r.native_type.endswith("roleAssignments")
    }
    # The demo's deployer (its custom role, on one resource group) and auditors (Reader).
    assert len(found) == 2
    for grant in found.values():
        assert (grant.kind, grant.region, grant.facts["taggable"]) == ("access_policy", "global", False)
        assert [grant.facts[f] for f in ("admin", "access_gaps", "escalation")] == [False, [], []]
    # The custom role is read from its listing, a built-in one once by its id.
    assert sum(1 for _, path, _ in api.requests if path.startswith(f"{ROLES}/")) == 1

    subscription = f"/subscriptions/{SUBSCRIPTION}"
    contributor = role(CONTRIBUTOR, "BuiltInRole", ["*"], [], ["/"])
    contributor["properties"]["permissions"][0]["notActions"] = [
        "Microsoft.Authorization/*/Delete",
        "Microsoft.Authorization/*/Write",
        "Microsoft.Authorization/elevateAccess/Action",
    ]
    listing = {
        "value": [
            assignment("owner", OWNER, subscription),
            assignment("contributor", CONTRIBUTOR, subscription, "ServicePrincipal"),
            assignment(
                "owner-of-a-group",
                OWNER,
                f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-payments-acceptance",
            ),
            assignment(
                "keys-of-the-group",
                CRYPTO_OFFICER,
                f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-payments-acceptance",
            ),
            assignment("keys-of-one-vault", CRYPTO_OFFICER, KEY_VAULT, "ServicePrincipal"),
        ]
    }
    discovery, api = run_azure(
        [
            answer(ASSIGNMENTS, {"status": 200, "body": listing}),
            built_in(OWNER, ["*"], []),
            built_in(CRYPTO_OFFICER, [], ["Microsoft.KeyVault/vaults/keys/*"]),
            answer(f"{ROLES}/{CONTRIBUTOR}", {"status": 200, "body": contributor}),
        ]
    )
    found = by_name(discovery)
    # Every action but granting roles: as GCP's Editor, an administrator, with no way to rise further.
    assert [found["contributor"].facts[f] for f in ("admin", "escalation")] == [True, []]
    assert (found["owner"].facts["admin"], found["owner"].facts["escalation"]) == (
        True,
        [
            "allows Microsoft.Authorization/roleAssignments/write above resource groups",
            "allows Microsoft.Authorization/roleDefinitions/write above resource groups",
        ],
    )
    # Owner of a resource group is its delegated administrator, not the subscription's.
    assert [found["owner-of-a-group"].facts[f] for f in ("admin", "escalation")] == [False, []]
    duties = (
        "the role both deletes Key Vault keys (Microsoft.KeyVault/vaults/keys/delete) and decrypts with them"
    )
    assert found["keys-of-the-group"].facts["access_gaps"] == [
        duties,
        "grants Microsoft.KeyVault/vaults/keys/decrypt/action, Microsoft.KeyVault/vaults/keys/delete on every"
        f" Key Vault key of /subscriptions/{SUBSCRIPTION}/resourceGroups/rg-payments-acceptance"
        " to User principal-of-keys-of-the-group",
    ]
    assert found["keys-of-one-vault"].facts["access_gaps"] == [duties]
    # Each built-in role is read once, however many assignments name it.
    assert sum(1 for _, path, _ in api.requests if path == f"{ROLES}/{OWNER}") == 1


def test_a_role_that_cannot_be_read_leaves_its_assignments_unknown(run_azure: Run) -> None:
    listing = {"value": [assignment("owner", OWNER, f"/subscriptions/{SUBSCRIPTION}")]}
    discovery, _ = run_azure(
        [
            answer(ASSIGNMENTS, {"status": 200, "body": listing}),
            answer(f"{ROLES}/{OWNER}", error(403, "AuthorizationFailed")),
        ]
    )
    assert discovery.report.complete is False
    assert any(OWNER in e and "403" in e for e in discovery.report.errors)
    assert set(by_name(discovery)["owner"].facts) == {"taggable"}

    nowhere = assignment("nowhere", OWNER, f"/subscriptions/{SUBSCRIPTION}")
    del nowhere["properties"]["scope"]
    discovery, _ = run_azure(
        [answer(ASSIGNMENTS, {"status": 200, "body": {"value": [nowhere]}}), built_in(OWNER, ["*"], [])]
    )
    # Where it holds decides everything but its key gaps: Owner has no Key Vault data action.
    assert by_name(discovery)["nowhere"].facts == {"access_gaps": [], "taggable": False}

    discovery, _ = run_azure([answer(ASSIGNMENTS, error(403, "AuthorizationFailed"))])
    assert discovery.report.complete is False
    assert any("roleAssignments" in e and "403" in e for e in discovery.report.errors)
