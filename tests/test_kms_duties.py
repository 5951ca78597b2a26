"""KMS-003: who administers a key does not also decrypt with it (AWS key policies, Cloud KMS IAM)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from regops.discovery.terraform_plan import discover_plan
from regops.model import UNKNOWN
from regops.normalize import aws, gcp, gcp_asset
from tests.plans import Change, refer, write_plan
from tests.test_chained_joins import TO_RING, key_ring_changes

ADMIN = "roles/cloudkms.admin"
DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
KEY = "google_kms_crypto_key.card"


def key_access(**related: list[dict[str, Any]]) -> Any:
    return gcp.PLANNED["google_kms_crypto_key"].facts({}, related).get("access_gaps", UNKNOWN)


@pytest.mark.parametrize(
    ("related", "both"),
    [
        (
            {
                "google_kms_crypto_key_iam_member": [
                    {"role": ADMIN, "member": "user:ops@example.com"},
                    {"role": DECRYPTER, "member": "user:ops@example.com"},
                ]
            },
            ["user:ops@example.com"],
        ),
        (
            {
                "google_kms_crypto_key_iam_binding": [
                    {"role": ADMIN, "members": ["group:kms-admins@example.com"]},
                    {
                        "role": "roles/cloudkms.cryptoKeyDecrypter",
                        "members": ["group:kms-admins@example.com"],
                    },
                ]
            },
            ["group:kms-admins@example.com"],
        ),
        (
            {
                "google_kms_crypto_key_iam_member": [
                    {"role": ADMIN, "member": "group:kms-admins@example.com"},
                    {"role": DECRYPTER, "member": "serviceAccount:app@p.iam.gserviceaccount.com"},
                ]
            },
            [],
        ),
    ],
    ids=["one-member-both-roles", "one-group-both-bindings", "duties-apart"],
)
def test_a_member_who_administers_and_uses_a_key_is_a_gap(related: dict[str, Any], both: list[str]) -> None:
    assert key_access(**related) == [
        f"{member} both administers the key ({ADMIN}) and encrypts or decrypts with it" for member in both
    ]


def test_a_role_known_only_after_apply_leaves_the_duties_unknown() -> None:
    related = {
        "google_kms_crypto_key_iam_member": [
            {"role": ADMIN, "member": "user:ops@example.com"},
            {"role": UNKNOWN, "member": "user:ops@example.com"},
        ]
    }
    assert key_access(**related) is UNKNOWN


def test_an_admin_on_the_ring_who_decrypts_with_the_key_is_a_gap(tmp_path: Path) -> None:
    changes = key_ring_changes(
        Change(
            "google_kms_key_ring_iam_member.admin",
            "google_kms_key_ring_iam_member",
            {"role": ADMIN, "member": "user:ops@example.com"},
            expressions=TO_RING,
        ),
        Change(
            "google_kms_crypto_key_iam_member.use",
            "google_kms_crypto_key_iam_member",
            {"role": DECRYPTER, "member": "user:ops@example.com"},
            expressions={"crypto_key_id": refer(f"{KEY}.id", KEY)},
        ),
    )
    found = {r.id: r for r in discover_plan(write_plan(tmp_path / "plan.json", *changes), "system").resources}
    assert found[KEY].facts["access_gaps"] == [
        f"user:ops@example.com both administers the key ({ADMIN}) and encrypts or decrypts with it"
    ]


def test_a_live_key_is_judged_by_its_iam_policy_alike() -> None:
    payload = {
        "data": {"name": "card", "purpose": "ENCRYPT_DECRYPT"},
        gcp_asset.IAM_POLICY: {
            "bindings": [
                {"role": ADMIN, "members": ["user:ops@example.com"]},
                {"role": DECRYPTER, "members": ["user:ops@example.com", "serviceAccount:app@p.iam"]},
            ]
        },
    }
    assert gcp_asset.crypto_key(payload)["access_gaps"] == [
        f"user:ops@example.com both administers the key ({ADMIN}) and encrypts or decrypts with it"
    ]


OPS = "arn:aws:iam::123456789012:role/ops"
APP = "arn:aws:iam::123456789012:role/app"
ADMINISTER = ["kms:Create*", "kms:Describe*", "kms:Put*", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"]


def key_policy(*statements: tuple[str, Any]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountDelegates",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                *(
                    {"Effect": "Allow", "Principal": {"AWS": principal}, **grant, "Resource": "*"}
                    for principal, grant in statements
                ),
            ],
        }
    )


@pytest.mark.parametrize(
    ("statements", "both"),
    [
        (((OPS, {"Action": ADMINISTER}), (APP, {"Action": ["kms:Decrypt", "kms:GenerateDataKey*"]})), []),
        (((OPS, {"Action": ADMINISTER}), ([OPS, APP], {"Action": "kms:Decrypt"})), [OPS]),
        (((OPS, {"Action": "kms:*"}),), [OPS]),
        (((OPS, {"NotAction": ["kms:Encrypt"]}),), [OPS]),
        (((OPS, {"NotAction": ["kms:Decrypt"]}),), []),
    ],
    ids=["duties-apart", "admin-also-decrypts", "everything", "all-but-encrypt", "all-but-decrypt"],
)
def test_a_key_policy_principal_who_administers_and_decrypts_is_a_gap(
    statements: tuple[tuple[str, Any], ...], both: list[str]
) -> None:
    expected = [
        f"{arn} both administers the key (kms:PutKeyPolicy or kms:ScheduleKeyDeletion) and decrypts with it"
        for arn in both
    ]
    policy = key_policy(*statements)
    assert aws.PLANNED["aws_kms_key"].facts({"policy": policy}, {})["access_gaps"] == expected
    live = {"description": {"KeyState": "Enabled"}, "rotation": {}, "policy": policy}
    assert aws.live_kms_key(live)["access_gaps"] == expected
