"""Live GCP discovery: the real Cloud Asset client (REST transport, its paging, retries and
deserialisation) against recorded Cloud Asset API responses served on 127.0.0.1."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from regops.discovery import Inventory
from regops.discovery.gcp import GcpSource, discover_gcp
from regops.model import Discovery
from tests.helpers import DEMO
from tests.recorded_api import RecordedApi, load_recording

pytest.importorskip("google.cloud.asset_v1")

PROJECT = "payments-acceptance-4821"
ASSETS = f"/v1/projects/{PROJECT}/assets"
RESOURCES = {"contentType": "1"}
POLICIES = {"contentType": "2"}
TOKEN_ENV = "REGOPS_TEST_GCP_TOKEN"


def answer(*responses: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    return {"method": "GET", "path": ASSETS, "query": query, "responses": list(responses)}


def error(status: int, reason: str, message: str = "recorded error") -> dict[str, Any]:
    return {"status": status, "body": {"error": {"code": status, "message": message, "status": reason}}}


Run = Callable[..., tuple[Discovery, RecordedApi]]


@pytest.fixture
def run_gcp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    monkeypatch.setenv(TOKEN_ENV, "recorded-token")
    servers: list[RecordedApi] = []

    def run(overrides: Sequence[dict[str, Any]] = (), **options: Any) -> tuple[Discovery, RecordedApi]:
        api = RecordedApi([*overrides, *load_recording(DEMO / "gcp_api.json")]).start()
        servers.append(api)
        settings = {"retry_initial": 0.01, "retry_deadline": 0.5, "timeout": 5.0, **options}
        source = GcpSource(
            scope=f"projects/{PROJECT}", endpoint=api.endpoint, token_env=TOKEN_ENV, **settings
        )
        return discover_gcp(source, "acceptance"), api

    yield run
    for api in servers:
        api.close()


def by_name(discovery: Discovery) -> dict[str, Any]:
    return {r.id.rsplit("/", 1)[-1]: r for r in discovery.resources}


def test_the_demo_project_through_the_sdk(run_gcp: Run) -> None:
    discovery, api = run_gcp()
    assert api.unmatched == []
    assert discovery.report.complete, discovery.report.errors
    found = by_name(discovery)
    assert api.calls(ASSETS) == 3  # two pages of resources, one of IAM policies
    # Page two, by nextPageToken; the system stage's bucket is left out.
    assert {"batch-worker-1", "snet-payments", "482113579024"} <= set(found)
    assert "payments-sys-scratch" not in found
    public = found["payments-acc-public-assets"]
    assert (public.kind, public.origin, public.region) == ("object_store", "live", "europe-west3")
    assert public.facts["public"] is True  # allUsers in its IAM policy, joined by asset name
    assert found["payments-acc-statements"].facts["retention_days"] == 365
    assert found["payments-cmk"].facts["rotation_period_days"] == 90
    assert found["legacy-export"].facts["rotation_enabled"] is False
    assert found["pg-payments-acc"].facts["backup_days"] == 14  # a Struct number comes back a float
    assert found["482113579024"].facts["data_access_logged"] is True  # the project's audit configs
    # ... and its grants: Owner, every right in the project, to a group of people
    grants = found["482113579024#iamPolicy"]
    assert (grants.kind, grants.region, grants.facts["admin"]) == ("access_policy", "global", True)
    assert found["allow-ssh-from-iap"].facts["internet_ingress_ports"] == []
    assert found["securitycenter.googleapis.com"].facts["provides"] == ["api:securitycenter.googleapis.com"]
    assert found["to-siem"].facts["provides"] == []  # a project sink does not aggregate children
    assert found["batch-worker-1"].region == "europe-west3"  # from its zone


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (error(401, "UNAUTHENTICATED"), "HTTP 401 Unauthorized"),
        (error(403, "PERMISSION_DENIED", "cloudasset.assets.listResource denied"), "HTTP 403 Forbidden"),
        (error(429, "RESOURCE_EXHAUSTED"), "gave up after retries: HTTP 429"),
        (error(500, "INTERNAL"), "gave up after retries: HTTP 500"),
        (error(503, "UNAVAILABLE"), "gave up after retries: HTTP 503"),
    ],
    ids=["401", "403", "429", "500", "503"],
)
def test_a_failed_listing_makes_the_source_incomplete(
    run_gcp: Run, response: dict[str, Any], expected: str
) -> None:
    discovery, _ = run_gcp([answer(response, query=RESOURCES)])
    assert discovery.report.complete is False
    assert expected in discovery.report.errors[0], discovery.report.errors
    assert discovery.resources == ()


def test_transient_errors_are_retried(run_gcp: Run) -> None:
    recording = load_recording(DEMO / "gcp_api.json")
    second_page = next(i for i in recording if i["query"] == {**RESOURCES, "pageToken": "page-2"})
    first_page = next(i for i in recording if i["query"] == RESOURCES)
    # Interactions match in order: the second page's before the first's, which it would match too.
    flaky_first_page = answer(error(503, "UNAVAILABLE"), *first_page["responses"], query=RESOURCES)
    discovery, api = run_gcp([second_page, flaky_first_page])
    assert discovery.report.complete, discovery.report.errors
    assert api.calls(ASSETS) == 4


def test_a_rejected_page_token_makes_the_source_incomplete(run_gcp: Run) -> None:
    rejected = error(400, "INVALID_ARGUMENT", "Invalid page token.")
    discovery, _ = run_gcp([answer(rejected, query={**RESOURCES, "pageToken": "page-2"})])
    assert discovery.report.complete is False
    assert "HTTP 400 BadRequest: Invalid page token." in discovery.report.errors[0]
    assert discovery.resources == ()


def test_a_read_timeout_is_an_error(run_gcp: Run) -> None:
    discovery, _ = run_gcp([answer({"hang": True}, query=RESOURCES)], timeout=0.3, retry_deadline=0.3)
    assert discovery.report.complete is False
    assert "Timeout" in discovery.report.errors[0] or "timed out" in discovery.report.errors[0]


def test_without_iam_policies_the_facts_that_read_them_are_unknown(run_gcp: Run) -> None:
    discovery, _ = run_gcp([answer(error(403, "PERMISSION_DENIED"), query=POLICIES)])
    assert discovery.report.complete is False
    found = by_name(discovery)
    assert "public" not in found["payments-acc-public-assets"].facts
    assert "data_access_logged" not in found["482113579024"].facts
    assert "admin" not in found["482113579024#iamPolicy"].facts
    assert "access_gaps" not in found["payments-cmk"].facts
    assert found["payments-cmk"].facts["rotation_enabled"] is True  # the rest stands


def test_nothing_labelled_for_the_stage_reports_no_resources(run_gcp: Run) -> None:
    discovery, _ = run_gcp(label_key="environment")
    assert discovery.resources == ()
    assert "no resource is labelled environment=acceptance" in discovery.report.notes


def second_page_with(edit: Callable[[list[dict[str, Any]]], None]) -> dict[str, Any]:
    """The recording's second page of resources, its assets changed by `edit`."""
    recorded = next(
        i for i in load_recording(DEMO / "gcp_api.json") if i["query"] == {**RESOURCES, "pageToken": "page-2"}
    )
    page = copy.deepcopy(recorded)
    edit(page["responses"][0]["body"]["assets"])
    return page


def cluster(**data: Any) -> dict[str, Any]:
    return {
        "name": f"//container.googleapis.com/projects/{PROJECT}/locations/europe-west3/clusters/gke-acc",
        "assetType": "container.googleapis.com/Cluster",
        "resource": {
            "version": "v1",
            "location": "europe-west3",
            "data": {"name": "gke-acc", "resourceLabels": {"stage": "acceptance"}, **data},
        },
    }


def test_a_cluster_is_in_the_stage_by_its_resource_labels(run_gcp: Run) -> None:
    discovery, _ = run_gcp([second_page_with(lambda assets: assets.append(cluster()))])
    found = by_name(discovery)["gke-acc"]
    assert (found.kind, found.tags["stage"]) == ("cluster", "acceptance")
    assert found.facts["control_plane_public"] is True


def test_metadata_and_cluster_credentials_never_reach_the_inventory(run_gcp: Run, tmp_path: Path) -> None:
    secrets = {"db-password": "hunter2-metadata", "shutdown-script": "curl -u ops:hunter2-in-script"}
    master_auth = {
        "clientKey": "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQ",
        "password": "hunter2-basic-auth",
    }

    def leak(assets: list[dict[str, Any]]) -> None:
        worker = next(a for a in assets if a["name"].endswith("/instances/batch-worker-1"))
        items = worker["resource"]["data"]["metadata"]["items"]
        items.extend({"key": key, "value": value} for key, value in secrets.items())
        assets.append(cluster(masterAuth=master_auth))

    discovery, _ = run_gcp([second_page_with(leak)])
    assert discovery.report.complete, discovery.report.errors
    assert "gke-acc" in by_name(discovery)
    Inventory.merge("acceptance", [discovery]).write(tmp_path / "inventory.json")
    written = (tmp_path / "inventory.json").read_text(encoding="utf-8")
    # The demo instance's startup script, too.
    for secret in [*secrets.values(), *master_auth.values(), "systemctl start batch"]:
        assert secret not in written
    assert '"startup-script"' in written  # that the instance has one stays visible


def test_a_missing_token_is_one_clear_error(run_gcp: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV)
    discovery, api = run_gcp()
    assert discovery.report.errors == (f"the environment variable {TOKEN_ENV} holds no access token",)
    assert api.requests == []


FOLDER = "//cloudresourcemanager.googleapis.com/folders/771204563310"


def policies_with(*assets: dict[str, Any]) -> dict[str, Any]:
    """The recording's page of IAM policies, with `assets` added."""
    recorded = next(i for i in load_recording(DEMO / "gcp_api.json") if i["query"] == POLICIES)
    page = copy.deepcopy(recorded)
    page["responses"][0]["body"]["assets"].extend(assets)
    return page


def test_a_folder_s_grants_are_judged_over_everything_in_it(run_gcp: Run) -> None:
    """Listed at a folder or organisation scope, their IAM policies are grants of rights too."""
    folder = {
        "name": FOLDER,
        "assetType": "cloudresourcemanager.googleapis.com/Folder",
        "resource": {"data": {"name": "folders/771204563310", "displayName": "payments"}},
    }
    grants = {
        "name": FOLDER,
        "assetType": "cloudresourcemanager.googleapis.com/Folder",
        "iamPolicy": {
            "bindings": [
                {
                    "role": "roles/editor",
                    "members": ["serviceAccount:ci@payments-tools.iam.gserviceaccount.com"],
                },
                {
                    "role": "roles/cloudkms.cryptoKeyDecrypter",
                    "members": ["group:reporting@payments.example"],
                },
            ]
        },
    }
    discovery, api = run_gcp([second_page_with(lambda assets: assets.append(folder)), policies_with(grants)])
    assert discovery.report.complete, discovery.report.errors
    found = {r.id: r for r in discovery.resources}
    assert FOLDER not in found  # the folder itself holds no setting a control reads
    folder_grants = found[f"{FOLDER}#iamPolicy"]
    assert (folder_grants.kind, folder_grants.facts["admin"]) == ("access_policy", True)
    assert folder_grants.facts["access_gaps"] == [
        "grants roles/cloudkms.cryptoKeyDecrypter on every Cloud KMS key of the folder"
        " to group:reporting@payments.example"
    ]
    # Folders and organisations are asked for, with their policies.
    listings = [query for query in api.query_strings if "contentType=" in query]
    assert len(listings) == 3
    for level in ("Folder", "Organization"):
        assert all(f"assetTypes=cloudresourcemanager.googleapis.com/{level}" in query for query in listings)


def test_a_custom_role_is_judged_by_the_permissions_it_lists(run_gcp: Run) -> None:
    def role(name: str, *permissions: str, **data: Any) -> dict[str, Any]:
        return {
            "name": f"//iam.googleapis.com/projects/{PROJECT}/roles/{name}",
            "assetType": "iam.googleapis.com/Role",
            "resource": {
                "data": {
                    "name": f"projects/{PROJECT}/roles/{name}",
                    "includedPermissions": list(permissions),
                    **data,
                }
            },
        }

    custodian = role(
        "keyCustodian", "cloudkms.cryptoKeyVersions.destroy", "cloudkms.cryptoKeyVersions.useToDecrypt"
    )
    grantor = role("grantor", "resourcemanager.projects.setIamPolicy", "resourcemanager.projects.get")
    retired = role("retired", "resourcemanager.projects.setIamPolicy", stage="DISABLED")
    reader = role("reader", "storage.objects.get")

    def add(assets: list[dict[str, Any]]) -> None:
        assets.extend([custodian, grantor, retired, reader])

    discovery, api = run_gcp([second_page_with(add)])
    assert discovery.report.complete, discovery.report.errors
    found = {
        r.id.rsplit("/", 1)[-1]: r for r in discovery.resources if r.native_type == "iam.googleapis.com/Role"
    }
    # Untaggable, so the project's: judged without a stage label.
    assert {r.kind for r in found.values()} == {"access_policy"}
    facts = {name: (r.facts["escalation"], r.facts["access_gaps"]) for name, r in found.items()}
    assert facts == {
        "keyCustodian": (
            [],
            [
                "the role both destroys Cloud KMS key versions (cloudkms.cryptoKeyVersions.destroy)"
                " and decrypts with them"
            ],
        ),
        "grantor": (["allows resourcemanager.projects.setIamPolicy"], []),
        "retired": ([], []),
        "reader": ([], []),
    }
    listings = [query for query in api.query_strings if "contentType=1" in query]
    assert listings
    assert all("assetTypes=iam.googleapis.com/Role" in query for query in listings)


def test_a_grant_of_a_custom_role_gives_what_the_role_permits(run_gcp: Run) -> None:
    def role(name: str, *permissions: str) -> dict[str, Any]:
        return {
            "name": f"//iam.googleapis.com/projects/{PROJECT}/roles/{name}",
            "assetType": "iam.googleapis.com/Role",
            "resource": {
                "data": {"name": f"projects/{PROJECT}/roles/{name}", "includedPermissions": list(permissions)}
            },
        }

    folder = {
        "name": FOLDER,
        "assetType": "cloudresourcemanager.googleapis.com/Folder",
        "resource": {"data": {"name": "folders/771204563310", "displayName": "payments"}},
    }
    ci = "serviceAccount:ci@payments-tools.iam.gserviceaccount.com"
    reporting = "group:reporting@payments.example"
    grants = {
        "name": FOLDER,
        "assetType": "cloudresourcemanager.googleapis.com/Folder",
        "iamPolicy": {
            "bindings": [
                {"role": f"projects/{PROJECT}/roles/grantor", "members": [ci]},
                {
                    "role": f"projects/{PROJECT}/roles/keyUser",
                    "members": ["group:reporting@payments.example"],
                },
                # Defined above the scope: judged where it is defined, not here.
                {"role": "organizations/1234/roles/auditor", "members": ["group:audit@payments.example"]},
            ]
        },
    }
    added = [
        folder,
        role("grantor", "resourcemanager.projects.setIamPolicy"),
        role("keyUser", "cloudkms.cryptoKeyVersions.useToDecrypt"),
    ]
    discovery, _ = run_gcp([second_page_with(lambda assets: assets.extend(added)), policies_with(grants)])
    assert discovery.report.complete, discovery.report.errors
    facts = {r.id: r.facts for r in discovery.resources}[f"{FOLDER}#iamPolicy"]
    assert facts["escalation"] == [
        f"grants projects/{PROJECT}/roles/grantor on the folder to {ci},"
        " which allows resourcemanager.projects.setIamPolicy"
    ]
    assert facts["access_gaps"] == [
        f"grants projects/{PROJECT}/roles/keyUser on every Cloud KMS key of the folder to {reporting}"
    ]
