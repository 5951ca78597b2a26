"""The identity, workload, disk and replacement controls on planned and live resources."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.aws_server import Clients, aws, moto_endpoint  # noqa: F401
from tests.helpers import load_evidence, only_bundle, run_project_suites
from tests.plans import TAGS, Change, write_plan


def outcomes(document: dict[str, Any], *controls: str) -> dict[tuple[str, str], str]:
    return {
        (c["id"], r["resource_id"]): r["outcome"]
        for c in document["controls"]
        if c["id"] in controls
        for r in c["results"]
        if r["resource_id"] is not None
    }


def run(pytester: pytest.Pytester, config: str, stage: str, *args: str) -> dict[str, Any]:
    pytester.makepyprojecttoml(config)
    run_project_suites(
        pytester,
        f"--stage={stage}",
        "--evidence-dir=out",
        *args,
    )
    return load_evidence(only_bundle(pytester.path / "out", stage))


def test_planned_workloads_and_replacements(pytester: pytest.Pytester) -> None:
    write_plan(
        pytester.path / "plan.json",
        Change(
            "aws_instance.api",
            "aws_instance",
            {
                "tags": TAGS,
                "associate_public_ip_address": True,
                "metadata_options": [{"http_tokens": "optional"}],
            },
        ),
        Change(
            "aws_instance.edge",
            "aws_instance",
            {
                "tags": {**TAGS, "tier": "edge"},
                "associate_public_ip_address": True,
                "metadata_options": [{"http_tokens": "required"}],
                "root_block_device": [{"encrypted": True}],
            },
        ),
        Change("aws_lambda_function.old", "aws_lambda_function", {"tags": TAGS, "runtime": "python3.8"}),
        Change("aws_lambda_function.new", "aws_lambda_function", {"tags": TAGS, "runtime": "python3.12"}),
        Change(
            "aws_db_instance.ledger",
            "aws_db_instance",
            {"tags": TAGS, "storage_encrypted": True, "engine": "postgres"},
            actions=("delete", "create"),
        ),
        Change(
            "aws_ebs_volume.data",
            "aws_ebs_volume",
            {"tags": TAGS, "encrypted": False},
            actions=("delete", "create"),
        ),
        Change("aws_db_instance.archive", "aws_db_instance", None, actions=("delete",)),
    )
    document = run(pytester, "[tool.regops]\n", "production", "--plan=plan.json")
    assert outcomes(document, "NET-006", "IAM-007", "VUL-003", "DEL-002", "ENC-002") == {
        ("NET-006", "aws_instance.api"): "failed",
        ("NET-006", "aws_instance.edge"): "not_applicable",
        ("IAM-007", "aws_instance.api"): "failed",
        ("IAM-007", "aws_instance.edge"): "passed",
        ("VUL-003", "aws_lambda_function.old"): "failed",
        ("VUL-003", "aws_lambda_function.new"): "passed",
        ("DEL-002", "aws_db_instance.ledger"): "failed",
        ("DEL-002", "aws_db_instance.archive"): "failed",  # deleted, and its data with it
        ("DEL-002", "aws_ebs_volume.data"): "failed",  # a replaced disk loses its data too
        ("ENC-002", "aws_ebs_volume.data"): "failed",
        ("ENC-002", "aws_instance.api"): "failed",  # its root volume's encryption left to AWS
        ("ENC-002", "aws_instance.edge"): "passed",
    }


def test_live_identities_and_account_settings(pytester: pytest.Pytester, aws: Clients) -> None:  # noqa: F811
    stage = [{"Key": "stage", "Value": "acceptance"}]
    iam = aws("iam")
    admin = iam.create_policy(
        PolicyName="everything",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )["Policy"]["Arn"]
    iam.create_user(UserName="deployer", Tags=stage)
    iam.attach_user_policy(UserName="deployer", PolicyArn=admin)
    iam.create_access_key(UserName="deployer")
    iam.create_user(UserName="alice", Tags=stage)
    iam.create_login_profile(UserName="alice", Password="Not-a-real-Passw0rd!")
    iam.update_account_password_policy(MinimumPasswordLength=8)
    trust = json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}}]})
    iam.create_role(RoleName="payments-api", AssumeRolePolicyDocument=trust, Tags=stage)
    iam.attach_role_policy(RoleName="payments-api", PolicyArn=admin)
    iam.create_role(RoleName="reports", AssumeRolePolicyDocument=trust, Tags=stage)
    decrypt_all = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName="reports", PolicyName="read", PolicyDocument=json.dumps(decrypt_all))
    iam.create_policy(PolicyName="decrypt-all", PolicyDocument=json.dumps(decrypt_all), Tags=stage)
    document = run(
        pytester,
        '[tool.regops.stages.acceptance.aws]\nregions = ["eu-central-1"]\n',
        "acceptance",
        f"--aws-endpoint={aws.endpoint}",
    )
    found = outcomes(
        document, "IAM-001", "IAM-002", "IAM-003", "IAM-004", "IAM-005", "IAM-006", "ENC-002", "KMS-003"
    )
    account = "arn:aws:iam::123456789012:account-password-policy"
    deployer = "arn:aws:iam::123456789012:user/deployer"
    alice = "arn:aws:iam::123456789012:user/alice"
    assert found[("IAM-001", account)] == "failed"  # no root MFA in a fresh account
    assert found[("IAM-002", account)] == "passed"
    assert found[("IAM-003", account)] == "failed"  # passwords of 8 characters
    assert found[("IAM-003", alice)] == "failed"  # console password, no MFA
    assert found[("IAM-003", deployer)] == "not_applicable"
    assert found[("IAM-004", deployer)] == "failed"
    assert found[("IAM-004", alice)] == "passed"
    assert found[("IAM-005", deployer)] == "passed"  # a key made today
    assert found[("IAM-006", deployer)] == "failed"
    # roles: judged on what they may do, with every policy they hold
    api, reports = "arn:aws:iam::123456789012:role/payments-api", "arn:aws:iam::123456789012:role/reports"
    assert (found[("IAM-004", api)], found[("IAM-004", reports)]) == ("failed", "passed")
    for control in ("IAM-003", "IAM-005", "IAM-006"):
        assert found[(control, api)] == "not_applicable"
    # a managed policy of the stage, judged apart from who holds it
    assert found[("KMS-003", "arn:aws:iam::123456789012:policy/decrypt-all")] == "failed"
    # and who may decrypt with every key through what they hold, inline or attached
    assert (found[("KMS-003", reports)], found[("KMS-003", api)]) == ("failed", "failed")
    assert (found[("KMS-003", deployer)], found[("KMS-003", alice)]) == ("failed", "passed")
    assert found[("ENC-002", "arn:aws:ec2:eu-central-1:123456789012:ebs-encryption-by-default")] == "failed"
    assert found[("ENC-002", "arn:aws:s3:::account/123456789012/public-access-block")] == "not_applicable"


def test_certificates_restores_and_estate_controls(pytester: pytest.Pytester) -> None:
    in_ten_days = (datetime.now(UTC) + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    in_a_year = (datetime.now(UTC) + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
    write_plan(
        pytester.path / "plan.json",
        Change("aws_acm_certificate.api", "aws_acm_certificate", {"tags": TAGS, "key_algorithm": "RSA_1024"}),
        Change("aws_iam_server_certificate.old", "aws_iam_server_certificate", {"tags": TAGS}),
        Change(
            "google_compute_ssl_certificate.soon",
            "google_compute_ssl_certificate",
            {"name": "soon", "expire_time": in_ten_days},
        ),
        Change(
            "google_compute_ssl_certificate.later",
            "google_compute_ssl_certificate",
            {"name": "later", "expire_time": in_a_year},
        ),
        Change(
            "aws_db_instance.copy",
            "aws_db_instance",
            {"tags": TAGS, "storage_encrypted": True, "snapshot_identifier": "ledger-prod-final"},
        ),
        Change("aws_guardduty_detector.main", "aws_guardduty_detector", {"enable": True}),
        Change(
            "aws_inspector2_enabler.main",
            "aws_inspector2_enabler",
            {"resource_types": None},
            unknown={"resource_types": True},
        ),
    )
    document = run(pytester, "[tool.regops]\n", "acceptance", "--plan=plan.json")
    assert outcomes(document, "KMS-005", "ENV-002", "MON-001", "VUL-001") == {
        ("KMS-005", "aws_acm_certificate.api"): "failed",
        ("KMS-005", "aws_iam_server_certificate.old"): "failed",
        ("KMS-005", "google_compute_ssl_certificate.soon"): "failed",
        ("KMS-005", "google_compute_ssl_certificate.later"): "passed",
        ("ENV-002", "aws_db_instance.copy"): "failed",
        ("MON-001", "estate:aws"): "passed",
        # the enabler's resource types are known only after apply: neither present nor absent
        ("VUL-001", "estate:aws"): "error",
        ("MON-001", "estate:gcp"): "failed",
        ("VUL-001", "estate:gcp"): "failed",
    }
    # in production a restored database is a recovery, not test data
    production = run(pytester, "[tool.regops]\n", "production", "--plan=plan.json")
    assert not outcomes(production, "ENV-002")
