"""Regulatory layer: identities and credentials of the stage's account (live discovery)."""

from __future__ import annotations

import pytest

from regops import Parameters, Resource, not_applicable


def _account_summary(resource: Resource) -> None:
    # The account kind covers several settings resources; these controls read the IAM summary.
    if resource.native_type != "aws_iam_account":
        not_applicable(f"{resource.native_type} holds no identity settings")


@pytest.mark.control(
    id="IAM-001",
    layer="regulatory",
    severity="critical",
    kinds=("account",),
    frameworks={
        "pci-dss": ["8.4.1", "8.4.2", "8.4.3"],
        "dora": ["Art. 9(4)(d)"],
        "rts-2024-1774": ["Art. 21"],
        "iso-27001": ["A.8.5", "A.8.2"],
        "bsi-c5": ["IDM-09", "IDM-06", "PSS-05"],
        "cis-aws": ["1.5", "1.6"],
        "cis-azure": ["2.1.2"],
        "cis-gcp": ["1.3"],
    },
    unverified=(
        "RTS Art. 21 point letter for strong authentication of privileged/remote access"
        " (the equivalent simplified-framework Art. 33(d) was read)",
        "AWS centralized root access management API name (iam.list_organizations_features)",
    ),
)
def test_root_identity_has_mfa(resource: Resource) -> None:
    """MFA on the root / tenant super-admin identity

    The identity that can do everything must not fall to a stolen password.
    """
    _account_summary(resource)
    assert resource.fact("root_mfa") is True, f"{resource.id}: the root user has no MFA device"


@pytest.mark.control(
    id="IAM-002",
    layer="regulatory",
    severity="critical",
    kinds=("account",),
    frameworks={
        "pci-dss": ["7.2.1", "7.2.2", "8.2.2"],
        "dora": ["Art. 9(4)(c)"],
        "rts-2024-1774": ["Art. 21(e)(ii)"],
        "iso-27001": ["A.8.2", "A.5.15"],
        "bsi-c5": ["IDM-06"],
        "cis-aws": ["1.4", "1.7"],
        "cis-azure": ["2.26"],
    },
)
def test_no_root_access_keys(resource: Resource) -> None:
    """No access keys for the root user

    Root is for break-glass only; programmatic root credentials are standing privilege.
    """
    _account_summary(resource)
    assert resource.fact("root_access_keys") is False, f"{resource.id}: the root user has access keys"


@pytest.mark.control(
    id="IAM-003",
    layer="regulatory",
    severity="critical",
    kinds=("identity", "account"),
    frameworks={
        "pci-dss": ["8.2.1", "8.3.6", "8.3.7", "8.3.9", "8.4.2", "8.4.3"],
        "dora": ["Art. 9(4)(d)"],
        "rts-2024-1774": ["Art. 20", "Art. 21"],
        "iso-27001": ["A.8.5", "A.5.16", "A.5.17"],
        "bsi-c5": ["IDM-09", "IDM-08", "PSS-05"],
        "cis-aws": ["1.8", "1.9", "1.10"],
        "cis-azure": ["2.1.3"],
        "cis-gcp": ["1.2", "4.4"],
    },
    unverified=(
        "RTS Art. 20 content seen only in a secondary commentary",
        "RTS Art. 21 strong-authentication point letter",
    ),
)
def test_console_users_have_mfa_and_a_password_policy(resource: Resource, parameters: Parameters) -> None:
    """Human access with MFA; a password policy where local console users remain

    Console users must use MFA, and the account's password policy must demand long passwords.
    """
    if resource.kind == "identity":
        if resource.fact("console_access") is not True:
            not_applicable("no console password: programmatic access only")
        assert resource.fact("mfa_enabled") is True, f"{resource.id}: console user without MFA"
        return
    _account_summary(resource)
    assert resource.fact("password_policy") is True, f"{resource.id}: no account password policy"
    length, minimum = resource.fact("password_min_length"), parameters.password_min_length
    assert length >= minimum, (
        f"{resource.id}: passwords may be {length} characters; at least {minimum} required"
    )


@pytest.mark.control(
    id="IAM-004",
    layer="system",
    severity="critical",
    kinds=("identity", "access_policy"),
    facts=("admin", "escalation"),
    frameworks={
        "pci-dss": ["7.2.1", "7.2.2", "7.3.1"],
        "dora": ["Art. 9(4)(c)"],
        "rts-2024-1774": ["Art. 21(a)"],
        "iso-27001": ["A.5.15", "A.5.18", "A.8.2"],
        "bsi-c5": ["IDM-01", "PSS-08"],
        "cis-aws": ["1.16"],
        "cis-azure": ["2.23"],
        "cis-gcp": ["1.5", "1.6"],
        "marisk": ["AT 7.2 Tz. 2"],
    },
)
def test_no_wildcard_administrative_policies(resource: Resource) -> None:
    """No policies granting every action on every resource, nor a way to gain them

    Rights are granted to the need of the job, never as "*" on "*": no such policy or custom
    subscription-wide role is defined, and no user holds one. Nor may a grant let its holder
    raise its own rights: rewrite or attach policies, grant roles, take over other identities,
    or hand a privileged role to code it runs.
    """
    assert resource.fact("admin") is False, f"{resource.id}: a policy allows every action on every resource"
    paths = resource.fact("escalation")
    assert not paths, f"{resource.id}: may raise its own rights: {'; '.join(paths)}"


@pytest.mark.control(
    id="IAM-005",
    layer="regulatory",
    severity="high",
    kinds=("identity",),
    facts=("access_key_max_age_days",),
    frameworks={
        "pci-dss": ["8.2.6", "8.3.9", "8.6.3", "7.2.5"],
        "dora": ["Art. 9(4)(d)"],
        "rts-2024-1774": ["Art. 21(e)"],
        "iso-27001": ["A.5.17", "A.5.18", "A.8.5"],
        "bsi-c5": ["IDM-03", "IDM-08"],
        "cis-aws": ["1.12", "1.13", "1.14"],
        "cis-azure": ["4.4"],
        "cis-gcp": ["1.4", "1.7", "1.15"],
    },
)
def test_access_keys_rotated(resource: Resource, parameters: Parameters) -> None:
    """Long-lived credentials rotated within the maximum age

    An access key older than the allowed age is a credential nobody has looked at.
    """
    age = resource.fact("access_key_max_age_days")
    if age is None:
        not_applicable("no active access keys")
    assert age <= parameters.credential_max_age_days, (
        f"{resource.id}: an active access key is {age} days old; at most {parameters.credential_max_age_days}"
    )


@pytest.mark.control(
    id="IAM-006",
    layer="regulatory",
    severity="medium",
    kinds=("identity",),
    facts=("direct_policies",),
    frameworks={
        "pci-dss": ["7.2.1", "7.2.2", "7.2.4"],
        "dora": ["Art. 9(4)(c)"],
        "rts-2024-1774": ["Art. 21(c)", "Art. 21(e)(i)"],
        "iso-27001": ["A.5.15", "A.5.18"],
        "bsi-c5": ["IDM-01", "IDM-05"],
        "cis-aws": ["1.15"],
    },
)
def test_permissions_through_groups_only(resource: Resource) -> None:
    """Permissions through groups or roles, never directly on users

    Rights attached to people one by one escape every review of roles.
    """
    direct = resource.fact("direct_policies")
    if direct is None:
        not_applicable("a role or group: policies are how it grants")
    assert direct is False, f"{resource.id}: policies are attached to the user directly"
