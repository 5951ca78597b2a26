"""The bundled demo platform, end to end through the real suites."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import DEMO, SUITES, leaks, load_evidence, only_bundle, result_rows, sha256sum_check

SECRET = "S3cr3t-ledger-pw-DO-NOT-LEAK"

AZURE_GROUP = (
    "/subscriptions/6f1e9c2a-4b7d-4e8a-9c3f-2d5b8a1e7f40/resourceGroups/rg-payments-acceptance/providers"
)
GCP_KEYS = (
    "//cloudkms.googleapis.com/projects/payments-acceptance-4821/locations/europe-west3"
    "/keyRings/payments/cryptoKeys"
)

GCP_LOGS = "//logging.googleapis.com/projects/482113579024/locations/global/buckets"

EXPECTED_PROBLEMS = {
    "system": {
        ("ENC-001", "google_storage_bucket.fraud_model_exports", "failed"),
        ("ENC-003", "azurerm_postgresql_flexible_server.reconciliation", "failed"),
        ("NET-001", "aws_security_group.bastion", "failed"),
        ("NET-002", "aws_security_group.bastion", "failed"),
        # checkov, the mapped checks only: the same open SSH port
        ("CKV_AWS_24", "aws_security_group.bastion", "failed"),
        # the CI deployer may pass any role to instances it starts; checkov's finding on the
        # role's inline policy is shown on the role it is folded into
        ("IAM-004", "aws_iam_role.deployer", "failed"),
        ("CKV_AWS_286", "aws_iam_role.deployer", "failed"),
    },
    "acceptance": {
        ("ENC-003", "azurerm_postgresql_flexible_server.reconciliation", "failed"),
        ("NET-004", "module.card_vault.aws_s3_bucket.this", "failed"),
        # the live side, from the moto server conftest.py starts: the same public card vault and
        # key without rotation, and the RDP port someone opened by hand (drift)
        ("NET-004", "arn:aws:s3:::payments-card-vault-acceptance-euc1", "failed"),
        ("KMS-001", "arn:aws:kms:eu-central-1:123456789012:key/*", "failed"),
        ("NET-001", "arn:aws:ec2:eu-central-1:123456789012:security-group/sg-*", "failed"),
        ("NET-002", "arn:aws:ec2:eu-central-1:123456789012:security-group/sg-*", "failed"),
        ("CHG-003", "arn:aws:ec2:eu-central-1:123456789012:security-group/sg-*", "failed"),
        ("IAM-001", "arn:aws:iam::123456789012:account-password-policy", "failed"),
        ("NET-004", "aws_s3_bucket.settlement_exports", "error"),
        ("AST-001", "aws_s3_bucket.settlement_exports", "failed"),
        ("BCK-005", "aws_s3_bucket.settlement_exports", "failed"),
        ("KMS-001", "aws_kms_key.logs", "failed"),
        ("ENC-004", "azurerm_storage_account.settlement_reports", "failed"),
        # checkov agrees, and is stricter on one (KMS for every bucket, not only classified ones)
        ("CKV_AWS_145", "aws_s3_bucket.settlement_exports", "failed"),
        ("CKV_AWS_21", "aws_s3_bucket.settlement_exports", "failed"),
        ("CKV_AWS_54", "module.card_vault.aws_s3_bucket.this", "failed"),
        ("CKV_AWS_56", "module.card_vault.aws_s3_bucket.this", "failed"),
        ("CKV_AWS_7", "aws_kms_key.logs", "failed"),
        ("CKV_AZURE_44", "azurerm_storage_account.settlement_reports", "failed"),
        # the live Azure subscription and GCP project, recorded API responses served to the real
        # SDK clients: a public export account on TLS 1.0, SSH open to the internet in an NSG, a
        # bucket readable by allUsers, and a Cloud KMS key that never rotates
        ("NET-004", f"{AZURE_GROUP}/Microsoft.Storage/storageAccounts/stpayaccexport", "failed"),
        ("ENC-004", f"{AZURE_GROUP}/Microsoft.Storage/storageAccounts/stpayaccexport", "failed"),
        ("NET-001", f"{AZURE_GROUP}/Microsoft.Network/networkSecurityGroups/nsg-payments-web", "failed"),
        ("NET-002", f"{AZURE_GROUP}/Microsoft.Network/networkSecurityGroups/nsg-payments-web", "failed"),
        ("NET-004", "//storage.googleapis.com/payments-acc-public-assets", "failed"),
        ("KMS-001", f"{GCP_KEYS}/legacy-export", "failed"),
        # and the project's _Default log bucket, left in the global location: not confined to the EU
        ("AST-002", f"{GCP_LOGS}/_Default", "failed"),
        # and the project's IAM policy: Owner, every right in the project, for a group of people
        ("IAM-004", "//cloudresourcemanager.googleapis.com/projects/482113579024#iamPolicy", "failed"),
        # the branch rules of a repository that changes the platform, from GitHub's API: the last
        # pusher may approve, and repository admins may bypass review
        ("CHG-001", "github.com/payments/card-vault-modules", "failed"),
    },
    "production": {
        ("ENC-003", "azurerm_postgresql_flexible_server.reconciliation", "failed"),
        ("BCK-001", "aws_db_instance.ledger", "failed"),
        ("DEL-001", "aws_db_instance.ledger", "failed"),
        ("NET-005", "azurerm_postgresql_flexible_server.reconciliation", "failed"),
        ("LOG-003", "aws_cloudwatch_log_group.audit", "failed"),
        ("AST-002", "aws_kms_key.reporting_replica", "failed"),
        ("CHG-004", "promotion:system", "failed"),
        ("CHG-004", "promotion:acceptance", "failed"),
        # the estate: nothing watches the London region the stray key lives in (no detector,
        # recorder, scanner, patching, nor an alert rule: EventBridge sees its own region's
        # events only), and nobody is registered as GCP's security contact
        ("MON-001", "estate:aws", "failed"),
        ("MON-002", "estate:aws", "failed"),
        ("MON-003", "estate:aws", "failed"),
        ("MON-004", "estate:aws", "failed"),
        ("VUL-001", "estate:aws", "failed"),
        ("VUL-002", "estate:aws", "failed"),
        ("MON-003", "estate:gcp", "failed"),
        ("CKV_AWS_293", "aws_db_instance.ledger", "failed"),
        ("CKV_AWS_338", "aws_cloudwatch_log_group.audit", "failed"),
    },
}


def generic(resource_id: str | None) -> str | None:
    """Live ids carry random parts (key and group ids): compare them by shape."""
    if resource_id is None:
        return None
    return re.sub(r"sg-[0-9a-f]+", "sg-*", re.sub(r"key/[0-9a-f-]{36}", "key/*", resource_id))


def problems(document: dict[str, object]) -> set[tuple[str, str | None, str]]:
    return {
        (control["id"], generic(result["resource_id"]), result["outcome"])
        for control in document["controls"]  # type: ignore[attr-defined]
        for result in control["results"]
        if result["outcome"] in {"failed", "error"}
    }


def run_suites(pytester: pytest.Pytester, stage: str, out: str, *args: str) -> tuple[pytest.RunResult, Path]:
    """The suites on a stage of the demo (its live parts from the root conftest), one bundle in `out`."""
    result = pytester.runpytest_subprocess(
        str(SUITES), "-p", "no:cacheprovider", f"--stage={stage}", "--evidence-dir", out, *args
    )
    return result, only_bundle(pytester.path / out, stage)


def run_demo(pytester: pytest.Pytester, stage: str, *args: str) -> tuple[pytest.RunResult, Path]:
    return run_suites(pytester, stage, "out", "--plan", str(DEMO / f"{stage}.plan.json"), *args)


@pytest.mark.parametrize("stage", ["system", "acceptance", "production"])
def test_demo_shows_exactly_the_deliberate_violations(pytester: pytest.Pytester, stage: str) -> None:
    result, bundle = run_demo(pytester, stage)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*gate: FAIL (threshold: low)*"])
    document = load_evidence(bundle)
    assert problems(document) == EXPECTED_PROBLEMS[stage]
    assert document["summary"]["by_outcome"]["passed"] > 60
    assert {s["complete"] for s in document["sources"]} == {True}
    assert {s["kind"] for s in document["sources"]} == (
        {"terraform_plan", "aws", "azure", "gcp", "github", "checkov"}
        if stage == "acceptance"
        else {"terraform_plan", "checkov"}
    )
    checkov = {c["id"]: c for c in document["controls"] if c["source"].startswith("checkov")}
    assert {c["maps_to"] for c in checkov.values()} <= {c["id"] for c in document["controls"]}
    assert sha256sum_check(bundle).returncode == 0


def test_demo_never_leaks_the_sensitive_password(pytester: pytest.Pytester) -> None:
    assert SECRET in (DEMO / "acceptance.plan.json").read_text()  # the input does hold it
    result, bundle = run_demo(pytester, "acceptance", "-rA", "-l")
    assert leaks(SECRET, result, bundle) == []
    assert "(sensitive value)" in (bundle / "inventory.json").read_text()


def test_demo_planned_delete_is_inventoried_only_as_a_deletion(pytester: pytest.Pytester) -> None:
    _, bundle = run_demo(pytester, "acceptance", "--control=AST-001")
    inventory = (bundle / "inventory.json").read_text()
    document = json.loads(inventory)
    assert "arn:aws:rds:eu-central-1:123456789012:db:payments-ledger-acceptance" in inventory  # live part
    assert f"{AZURE_GROUP}/Microsoft.KeyVault/vaults/kv-payments-acc/keys/cmk-storage" in inventory
    assert (
        "//sqladmin.googleapis.com/projects/payments-acceptance-4821/instances/pg-payments-acc" in inventory
    )
    (deleted,) = (r for r in document["resources"] if "legacy_exports" in r["id"])
    assert (deleted["kind"], deleted["facts"]) == (
        "planned_deletion",
        {"planned_action": "delete", "deleted_kind": "object_store"},
    )
    # AST-001 asks for tags of what stays: the deleted bucket gets no result.
    assert "legacy_exports" not in (bundle / "evidence.json").read_text()
    assert "aws_s3_bucket_versioning" in inventory  # joined into the card-vault bucket's components


def test_demo_under_xdist_matches_serial(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    _, serial = run_demo(pytester, "acceptance")
    plan = str(DEMO / "acceptance.plan.json")
    parallel_result, parallel = run_suites(pytester, "acceptance", "parallel", "--plan", plan, "-n", "2")
    assert parallel_result.ret == 1
    one = load_evidence(serial)
    two = load_evidence(parallel)
    assert problems(one) == problems(two)
    assert one["summary"] == two["summary"]
    assert sum(len(c["results"]) for c in one["controls"]) == sum(len(c["results"]) for c in two["controls"])


def test_a_replay_of_the_three_cloud_run_gives_its_results(pytester: pytest.Pytester) -> None:
    _, bundle = run_demo(pytester, "acceptance")
    replay, replayed_bundle = run_suites(
        pytester, "acceptance", "replay", "--inventory", str(bundle / "inventory.json")
    )
    assert replay.ret == 1

    def judges_resources(control: dict[str, Any]) -> bool:
        # checkov scans plans; a replay has the inventory alone, so only the controls that judge
        # resources compare.
        return not control["source"].startswith("checkov") and control["id"] != "SCAN-001"

    original = result_rows(load_evidence(bundle), judges_resources)
    replayed = result_rows(load_evidence(replayed_bundle), judges_resources)
    assert len(original) > 300
    assert replayed == original
    live_ids = {row[1] for row in replayed if row[1]}
    for prefix in ("arn:aws:", "/subscriptions/", "//storage.googleapis.com/", "github.com/"):
        assert any(i.startswith(prefix) for i in live_ids), prefix


def test_one_item_per_control_gives_the_whole_catalogues_results(pytester: pytest.Pytester) -> None:
    _, bundle = run_demo(pytester, "acceptance", "--control=AST-001")
    inventory = str(bundle / "inventory.json")
    # Two replays of one inventory judge the same resources, live ids and all.
    per_resource, one = run_suites(pytester, "acceptance", "per-resource", "--inventory", inventory)
    per_control, two = run_suites(
        pytester, "acceptance", "per-control", "--inventory", inventory, "--item-per=control"
    )

    def results(bundle: Path) -> dict[tuple[str, str | None], dict[str, Any]]:
        return {
            (control["id"], result["resource_id"]): result
            for control in load_evidence(bundle)["controls"]
            for result in control["results"]
        }

    first, second = results(one), results(two)
    assert len(first) > 300
    assert set(first) == set(second)
    # Every result but the not-applicable one of a control without resources, whose node id is
    # the control's item rather than pytest's name for an empty parametrisation.
    assert {key: r for key, r in first.items() if key[1]} == {key: r for key, r in second.items() if key[1]}
    assert {r["outcome"] for r in second.values()} == {"passed", "failed", "error", "not_applicable"}
    assert per_resource.ret == per_control.ret == 1


def test_one_item_per_check_gives_checkovs_results_too(pytester: pytest.Pytester) -> None:
    plan = str(DEMO / "system.plan.json")
    _, one = run_suites(pytester, "system", "per-resource", "--plan", plan)
    per_control, two = run_suites(pytester, "system", "per-control", "--plan", plan, "--item-per=control")

    def results(bundle: Path) -> dict[tuple[str, str | None, str], dict[str, Any]]:
        return {
            (control["id"], result["resource_id"], result["nodeid"]): result
            for control in load_evidence(bundle)["controls"]
            for result in control["results"]
            if result["resource_id"]
        }

    first, second = results(one), results(two)
    checks = {key for key in first if key[0].startswith("CKV_")}
    # Each check's findings, under the node id each had as an item of its own.
    assert len(checks) > 10
    assert first == second
    section = ["*_ test_checkov?CKV_AWS_24? _*", "CKV_AWS_24: 1 failed of * resources"]
    per_control.stdout.fnmatch_lines(section)
