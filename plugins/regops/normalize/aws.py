"""AWS: Terraform `hashicorp/aws` values to facts."""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from regops.model import UNKNOWN
from regops.normalize.alerting import (
    AWS_ACCOUNT_WIDE_CATEGORIES,
    AWS_ALERT_EVENTS,
    AWS_GLOBAL_REGION,
    AWS_SECURITY_EVENTS,
    AWS_TAMPER_EVENTS,
    aws_event_pattern_categories,
    aws_metric_filter_categories,
    known_list,
)
from regops.normalize.aws_data_events import dynamodb_scopes, live_selectors, planned_selectors
from regops.normalize.common import (
    Capability,
    Facts,
    Join,
    LiveNormaliser,
    PlannedType,
    Related,
    Unknown,
    blocks,
    conditional,
    configured,
    dig,
    everywhere,
    is_internet,
    known,
    live_security_service,
    plaintext_secrets,
    planned_region,
    port_ranges,
    related_of,
    security_service,
)

# Minimum TLS version of each ELBv2 security policy; an unlisted policy leaves the fact out
# rather than guessing from its name (TLS13-1-0 and TLS13-1-1 policies exist).
ELB_POLICY_TLS_MIN: dict[str, str] = {
    "ELBSecurityPolicy-2016-08": "1.0",
    "ELBSecurityPolicy-2015-05": "1.0",
    "ELBSecurityPolicy-FS-2018-06": "1.0",
    "ELBSecurityPolicy-TLS-1-0-2015-04": "1.0",
    "ELBSecurityPolicy-TLS-1-1-2017-01": "1.1",
    "ELBSecurityPolicy-FS-1-1-2019-08": "1.1",
    "ELBSecurityPolicy-TLS-1-2-2017-01": "1.2",
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06": "1.2",
    "ELBSecurityPolicy-FS-1-2-2019-08": "1.2",
    "ELBSecurityPolicy-FS-1-2-Res-2019-08": "1.2",
    "ELBSecurityPolicy-FS-1-2-Res-2020-10": "1.2",
    "ELBSecurityPolicy-TLS13-1-0-2021-06": "1.0",
    "ELBSecurityPolicy-TLS13-1-1-2021-06": "1.1",
    "ELBSecurityPolicy-TLS13-1-2-2021-06": "1.2",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06": "1.2",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06": "1.2",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06": "1.2",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04": "1.2",
    "ELBSecurityPolicy-TLS13-1-3-2021-06": "1.3",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04": "1.3",
}

KMS_SSE_ALGORITHMS = frozenset({"aws:kms", "aws:kms:dsse"})
# Canned ACLs that grant the AllUsers or AuthenticatedUsers group (any AWS account) access.
PUBLIC_CANNED_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})


def _first(related: Related, native_type: str) -> Mapping[str, Any] | None:
    found = related.get(native_type) or ()
    return found[0] if found else None


# Condition keys that pin who may act: a statement open to "*" but allowed only for fixed values
# of one of these is limited to known networks, accounts, organisations or identities. This is
# AWS's own test for a public bucket policy and Prowler's for a public resource policy;
# kms:CallerAccount is KMS's account pin, used by AWS's key policies for service integrations.
# Any other condition (aws:SecureTransport, s3:prefix, ...) still lets anyone in.
RESTRICTING_CONDITION_KEYS = frozenset(
    key.lower()
    for key in (
        "aws:SourceIp",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "aws:SourceAccount",
        "aws:SourceArn",
        "aws:SourceOwner",
        "aws:SourceOrgID",
        "aws:SourceOrgPaths",
        "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths",
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
        "aws:userid",
        "aws:username",
        "kms:CallerAccount",
    )
)
# Operators that allow only matching values. Negated ones (StringNotEquals, NotIpAddress), the
# ...IfExists forms and ForAllValues are true when the key is absent or differs, so they pin
# nobody; Null only asks whether a key is there.
PINNING_OPERATORS = frozenset(
    {"stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike", "ipaddress"}
)


def _statements(document: Any) -> list[Mapping[str, Any]]:
    """A policy document's statements; none for an absent policy, and unknown for text or a
    shape that is no policy (what it would grant cannot be told)."""
    if isinstance(document, str):
        try:
            document = json.loads(document) if document else {}
        except json.JSONDecodeError:
            raise Unknown from None
    if document is None:
        return []
    if not isinstance(document, Mapping):
        raise Unknown
    statements = document.get("Statement", [])
    found = [statements] if isinstance(statements, Mapping) else statements
    if not isinstance(found, list) or not all(isinstance(statement, Mapping) for statement in found):
        raise Unknown
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _anyone(statement: Mapping[str, Any]) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    return isinstance(principal, Mapping) and "*" in _as_list(principal.get("AWS"))


def _condition_tests(condition: Any) -> Iterator[tuple[str, str, list[str]]]:
    """(operator, key, values) of each test of a policy condition, operator and key lowercased;
    ForAnyValue tests a key's values as the plain operator does, so it is dropped."""
    for operator, tests in condition.items() if isinstance(condition, Mapping) else ():
        if isinstance(tests, Mapping):
            name = str(operator).lower().removeprefix("foranyvalue:")
            for key, value in tests.items():
                yield name, str(key).lower(), [str(v) for v in _as_list(value)]


def _pins_callers(condition: Any) -> bool:
    for operator, key, values in _condition_tests(condition):
        fixed = bool(values) and not any("*" in v or "?" in v or v in {"0.0.0.0/0", "::/0"} for v in values)
        if operator in PINNING_OPERATORS and key in RESTRICTING_CONDITION_KEYS and fixed:
            return True
    return False


def policy_is_public(document: Any) -> bool:
    """A resource policy that allows anyone (Principal "*", or "*" among its AWS principals, or
    NotPrincipal) unless a condition pins the caller (RESTRICTING_CONDITION_KEYS)."""
    for statement in _statements(document):
        anyone = _anyone(statement) or "NotPrincipal" in statement
        if statement.get("Effect") == "Allow" and anyone and not _pins_callers(statement.get("Condition")):
            return True
    return False


# The catalogue's KMS-003: who may change a key's policy or delete it may not also decrypt with it.
KEY_ADMIN_ACTIONS = ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion")
KEY_USE_ACTIONS = ("kms:Decrypt",)


def _allows(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(
            fnmatch.fnmatchcase(action.lower(), str(a).lower()) for a in _as_list(statement["NotAction"])
        )
    return any(fnmatch.fnmatchcase(action.lower(), str(a).lower()) for a in _as_list(statement.get("Action")))


def key_policy_duty_gaps(document: Any) -> list[str]:
    """A gap for each principal a key policy lets both administer the key and decrypt with it.
    The account itself (`...:root`, or its id) only hands the decision to IAM policies, which
    are judged apart; a conditional grant still counts, as the condition may hold."""
    granted: dict[str, set[str]] = {}
    for statement in _statements(document):
        principal = statement.get("Principal")
        if statement.get("Effect") != "Allow" or not isinstance(principal, Mapping):
            continue
        for arn in (str(a) for a in _as_list(principal.get("AWS", []))):
            if arn == "*" or arn.endswith(":root") or arn.isdigit():
                continue
            duties = granted.setdefault(arn, set())
            if any(_allows(statement, action) for action in KEY_ADMIN_ACTIONS):
                duties.add("administer")
            if any(_allows(statement, action) for action in KEY_USE_ACTIONS):
                duties.add("use")
    return [
        f"{arn} both administers the key ({' or '.join(KEY_ADMIN_ACTIONS)}) and decrypts with it"
        for arn, duties in sorted(granted.items())
        if duties == {"administer", "use"}
    ]


def grants_everything(document: Any) -> bool:
    """An identity policy that allows every action on every resource ("*" on "*", CIS AWS 1.16)."""
    for statement in _statements(document):
        actions = {str(a) for a in _as_list(statement.get("Action", []))}
        resources = {str(r) for r in _as_list(statement.get("Resource", []))}
        if statement.get("Effect") == "Allow" and actions & {"*", "*:*"} and "*" in resources:
            return True
    return False


# What an identity policy must not allow on every KMS key at once: decrypting with them (AWS
# Security Hub KMS.1 and KMS.2) or administering them (the catalogue's "no kms:* on *").
KEY_WIDE_ACTIONS = (*KEY_ADMIN_ACTIONS, "kms:Decrypt", "kms:ReEncryptFrom")
# A key ARN no policy names: a pattern that matches it matches every key.
_ANY_KEY = "arn:aws:kms:eu-west-1:123456789012:key/0d5c4a1e-9b7f-4e0a-8c3d-000000000000"


def _names_every(pattern: str, unnamed: str) -> bool:
    """Whether a Resource pattern matches `unnamed`, an ARN no policy names: every resource of
    its kind, whatever region and account the pattern gives."""
    parts = pattern.split(":", 5)
    if len(parts) < 6:  # "*", or a wildcard before the ARN's resource part ("arn:aws:*")
        return fnmatch.fnmatchcase(unnamed, pattern)
    service, resource = unnamed.split(":", 5)[2::3]
    return fnmatch.fnmatchcase(service, parts[2]) and fnmatch.fnmatchcase(resource, parts[5])


def _reaches_every(statement: Mapping[str, Any], unnamed: str) -> bool:
    if "NotResource" in statement:
        # Every resource but those listed: all of the kind unless the exceptions take them in.
        return not any(_names_every(str(p), unnamed) for p in _as_list(statement["NotResource"]))
    return any(_names_every(str(p), unnamed) for p in _as_list(statement.get("Resource", [])))


def _allowed_on_every(statements: list[Mapping[str, Any]], action: str, unnamed: str) -> bool:
    return any(
        s.get("Effect") == "Allow" and _allows(s, action) and _reaches_every(s, unnamed) for s in statements
    )


def _granted_on_every_key(statements: list[Mapping[str, Any]]) -> list[str]:
    return [action for action in KEY_WIDE_ACTIONS if _allowed_on_every(statements, action, _ANY_KEY)]


# The published ways to raise one's own rights in AWS IAM, as the actions each needs on every
# resource of its kind (an ARN no policy names stands for them): rewriting or attaching a policy,
# taking another user's credentials or group, or handing a role to code one runs or changes.
# PassRole limited to named roles, or to other services than the one that would run the code
# (`iam:PassedToService`), or code changes to named functions, is how such rights are meant to
# be granted, and is no path.
_ROLE = "arn:aws:iam::123456789012:role/0d5c4a1e-unnamed"
_USER = "arn:aws:iam::123456789012:user/0d5c4a1e-unnamed"
_GROUP = "arn:aws:iam::123456789012:group/0d5c4a1e-unnamed"
_POLICY = "arn:aws:iam::123456789012:policy/0d5c4a1e-unnamed"
_FUNCTION = "arn:aws:lambda:eu-west-1:123456789012:function:0d5c4a1e-unnamed"
_INSTANCE = "arn:aws:ec2:eu-west-1:123456789012:instance/i-0d5c4a1e"
_STACK = "arn:aws:cloudformation:eu-west-1:123456789012:stack/0d5c4a1e-unnamed/0d5c4a1e"
_DEV_ENDPOINT = "arn:aws:glue:eu-west-1:123456789012:devEndpoint/0d5c4a1e-unnamed"
_PIPELINE = "arn:aws:datapipeline:eu-west-1:123456789012:pipeline/df-0d5c4a1e"
_EVENT_SOURCE_MAPPING = "arn:aws:lambda:eu-west-1:123456789012:event-source-mapping:0d5c4a1e"
_PASS_ROLE = ("iam:PassRole", _ROLE)


class EscalationPath(NamedTuple):
    steps: tuple[tuple[str, str], ...]  # (action, an ARN no policy names of the kind it acts on)
    passed_to: str | None = None  # the service a passed role must reach


ESCALATION_PATHS: tuple[EscalationPath, ...] = (
    EscalationPath((("iam:CreatePolicyVersion", _POLICY),)),
    EscalationPath((("iam:SetDefaultPolicyVersion", _POLICY),)),
    EscalationPath((("iam:AttachUserPolicy", _USER),)),
    EscalationPath((("iam:AttachGroupPolicy", _GROUP),)),
    EscalationPath((("iam:AttachRolePolicy", _ROLE),)),
    EscalationPath((("iam:PutUserPolicy", _USER),)),
    EscalationPath((("iam:PutGroupPolicy", _GROUP),)),
    EscalationPath((("iam:PutRolePolicy", _ROLE),)),
    EscalationPath((("iam:AddUserToGroup", _GROUP),)),
    EscalationPath((("iam:CreateAccessKey", _USER),)),
    EscalationPath((("iam:CreateLoginProfile", _USER),)),
    EscalationPath((("iam:UpdateLoginProfile", _USER),)),
    EscalationPath((("iam:UpdateAssumeRolePolicy", _ROLE), ("sts:AssumeRole", _ROLE))),
    EscalationPath((("lambda:UpdateFunctionCode", _FUNCTION),)),
    EscalationPath((("glue:UpdateDevEndpoint", _DEV_ENDPOINT),)),
    EscalationPath((_PASS_ROLE, ("ec2:RunInstances", _INSTANCE)), "ec2.amazonaws.com"),
    EscalationPath(
        (_PASS_ROLE, ("lambda:CreateFunction", _FUNCTION), ("lambda:InvokeFunction", _FUNCTION)),
        "lambda.amazonaws.com",
    ),
    EscalationPath(
        (
            _PASS_ROLE,
            ("lambda:CreateFunction", _FUNCTION),
            ("lambda:CreateEventSourceMapping", _EVENT_SOURCE_MAPPING),
        ),
        "lambda.amazonaws.com",
    ),
    EscalationPath((_PASS_ROLE, ("glue:CreateDevEndpoint", _DEV_ENDPOINT)), "glue.amazonaws.com"),
    EscalationPath((_PASS_ROLE, ("cloudformation:CreateStack", _STACK)), "cloudformation.amazonaws.com"),
    EscalationPath(
        (
            _PASS_ROLE,
            ("datapipeline:CreatePipeline", _PIPELINE),
            ("datapipeline:PutPipelineDefinition", _PIPELINE),
        ),
        "datapipeline.amazonaws.com",
    ),
)
# Operators that allow only matching values (an absent key matches nothing: ...IfExists is
# the same here, as PassRole always carries the service).
_MATCHING_OPERATORS = frozenset({"stringequals", "stringequalsignorecase", "stringlike"})


def _allowed_values(condition: Any) -> Iterator[tuple[str, list[str]]]:
    """(key, values) of each test of a condition that allows only matching values."""
    for operator, key, values in _condition_tests(condition):
        if operator.removeprefix("forallvalues:").removesuffix("ifexists") in _MATCHING_OPERATORS:
            yield key, values


def _passes_to(statement: Mapping[str, Any], service: str | None) -> bool:
    """Whether a statement's `iam:PassedToService` condition, if any, lets a role reach `service`."""
    return service is None or all(
        any(fnmatch.fnmatchcase(service, v) for v in values)
        for key, values in _allowed_values(statement.get("Condition"))
        if key == "iam:passedtoservice"
    )


def escalation_paths(document: Any) -> list[str]:
    """Each way an identity policy lets its holder raise its own rights, named by its actions."""
    statements = _statements(document)
    return [
        "allows " + " with ".join(action for action, _ in path.steps)
        for path in ESCALATION_PATHS
        if all(
            _allowed_on_every([s for s in statements if _passes_to(s, path.passed_to)], action, unnamed)
            if action == "iam:PassRole"
            else _allowed_on_every(statements, action, unnamed)
            for action, unnamed in path.steps
        )
    ]


def _key_wide_gap(granted: list[str]) -> list[str]:
    return [f"allows {', '.join(granted)} on every KMS key"] if granted else []


def key_wide_grants(document: Any) -> list[str]:
    """A gap naming what an identity policy allows on every KMS key (Resource "*", or a key ARN
    pattern for all of them). Keys are meant to be granted one by one to their custodians; a
    condition does not lift the gap, as it may hold."""
    return _key_wide_gap(_granted_on_every_key(_statements(document)))


def _held_grants(documents: Any) -> dict[str, Any]:
    """What the policies a user, role or group holds grant together; one policy alone likewise.

    A policy that cannot be read (known after apply, not JSON, not a policy) leaves a fact
    unknown unless the readable ones settle it: one policy granting "*" on "*" makes its holder
    an administrator, and one granting every key-wide action names the whole gap, whatever the
    others say.
    """
    facts = Facts()

    def readable() -> tuple[list[Mapping[str, Any]], bool]:
        statements: list[Mapping[str, Any]] = []
        unreadable = False
        for document in known(documents):
            try:
                statements.extend(_statements(document))
            except Unknown:
                unreadable = True
        return statements, unreadable

    def admin() -> bool:
        statements, unreadable = readable()
        if grants_everything({"Statement": statements}):
            return True
        if unreadable:
            raise Unknown
        return False

    def access_gaps() -> list[str]:
        # What they allow together, named once; while one cannot be read, only a gap naming
        # every action is the whole gap.
        statements, unreadable = readable()
        granted = _granted_on_every_key(statements)
        if unreadable and len(granted) < len(KEY_WIDE_ACTIONS):
            raise Unknown
        return _key_wide_gap(granted)

    def escalation() -> list[str]:
        # A path may run across policies (PassRole in one, RunInstances in another): any policy
        # that cannot be read may complete one.
        statements, unreadable = readable()
        if unreadable:
            raise Unknown
        return escalation_paths({"Statement": statements})

    facts.derive("admin", admin)
    facts.derive("access_gaps", access_gaps)
    facts.derive("escalation", escalation)
    return facts.values


def iam_policy(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    """A managed policy, or a role's, user's or group's inline one that the plan does not fold
    into its holder: the rights it grants."""
    return _held_grants([values.get("policy")])


# What AWS's own managed policies grant of what IAM-004 and KMS-003 ask (everything, rights on
# every KMS key, ways to raise one's rights), read from the default versions AWS publishes
# (December 2026) and kept as the statements that grant it; () for a policy that grants none
# of it. A plan holds only their ARNs; a policy not listed is unknown there (live discovery
# reads every document). Keyed by the path after "policy/".
AWS_MANAGED_GRANTS: dict[str, tuple[dict[str, Any], ...]] = {
    "AdministratorAccess": ({"Effect": "Allow", "Action": "*", "Resource": "*"},),
    # Every action but IAM's, Organizations' and Account's, on every resource; the few IAM
    # actions it adds (service-linked roles, listing roles) raise nobody's rights.
    "PowerUserAccess": (
        {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"},
    ),
    "IAMFullAccess": ({"Effect": "Allow", "Action": "iam:*", "Resource": "*"},),
    # Read-only, however wide: Describe, Get and List actions (kms:Get* reads no plaintext).
    "ReadOnlyAccess": (),
    "SecurityAudit": (),
    # Creates, describes, lists and tags keys: none of the key-wide actions.
    "AWSKeyManagementServicePowerUser": (),
    "AmazonS3FullAccess": (),
    "AmazonS3ReadOnlyAccess": (),
    "AmazonEC2ContainerRegistryReadOnly": (),
    "AmazonEC2ContainerRegistryPowerUser": (),
    "AmazonEKSClusterPolicy": (),
    "AmazonEKSWorkerNodePolicy": (),
    "AmazonEKS_CNI_Policy": (),
    "AmazonSSMManagedInstanceCore": (),
    "CloudWatchAgentServerPolicy": (),
    "CloudWatchLogsFullAccess": (),
    "AWSXrayWriteOnlyAccess": (),
    # Its Lambda actions are on the SecretsManager* functions only.
    "SecretsManagerReadWrite": (),
    # Pipelines and functions on everything; roles passed to Auto Scaling and DAX only.
    "AmazonDynamoDBFullAccess": (
        {
            "Effect": "Allow",
            "Action": [
                "datapipeline:CreatePipeline",
                "datapipeline:PutPipelineDefinition",
                "lambda:CreateFunction",
                "lambda:CreateEventSourceMapping",
            ],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": "*",
            "Condition": {
                "StringLike": {
                    "iam:PassedToService": [
                        "application-autoscaling.amazonaws.com",
                        "application-autoscaling.amazonaws.com.cn",
                        "dax.amazonaws.com",
                    ]
                }
            },
        },
    ),
    "service-role/AWSLambdaBasicExecutionRole": (),
    "service-role/AWSLambdaVPCAccessExecutionRole": (),
    "service-role/AWSLambdaRole": ({"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"},),
    "service-role/AmazonRDSEnhancedMonitoringRole": (),
    "service-role/AmazonECSTaskExecutionRolePolicy": (),
    # Decrypts through DynamoDB and Aurora DSQL, re-encrypts EBS snapshots: on every key, under
    # conditions that may hold (KMS-003 counts them, as for any policy).
    "service-role/AWSBackupServiceRolePolicyForBackup": (
        {
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {
                "StringLike": {"kms:ViaService": ["dynamodb.*.amazonaws.com", "dsql.*.amazonaws.com"]}
            },
        },
        {
            "Effect": "Allow",
            "Action": "kms:ReEncryptFrom",
            "Resource": "arn:aws:kms:*:*:key/*",
            "Condition": {"StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}},
        },
        {
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": "arn:aws:iam::*:role/*",
            "Condition": {
                "StringEquals": {"iam:PassedToService": "malware-protection.guardduty.amazonaws.com"}
            },
        },
    ),
}
_AWS_MANAGED_ARN = re.compile(r"arn:aws[a-z-]*:iam::aws:policy/(.+)")


def aws_managed_policy(arn: Any) -> Mapping[str, Any]:
    """The statements of `AWS_MANAGED_GRANTS` for an AWS managed policy's ARN; unknown for any
    other ARN (a customer's policy made outside the plan)."""
    matched = _AWS_MANAGED_ARN.fullmatch(str(known(arn)))
    if matched is None or matched.group(1) not in AWS_MANAGED_GRANTS:
        raise Unknown
    return {"Statement": list(AWS_MANAGED_GRANTS[matched.group(1)])}


def _attached_document(attachment: Mapping[str, Any], related: Related) -> Any:
    """The document of the policy an attachment attaches: the plan's own policy, or AWS's."""
    policy = _first(related, "aws_iam_policy")
    if policy is not None:
        return policy.get("policy")
    try:
        return aws_managed_policy(attachment.get("policy_arn"))
    except Unknown:
        return UNKNOWN


def policy_attachment(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    """An attachment kept apart from its holder: the exclusive `aws_iam_policy_attachment`, or
    one whose role, user or group the plan does not hold. It grants what its policy grants."""
    return _held_grants([_attached_document(values, related)])


# The blocks that give a planned role, user or group its policies: inline ones and attachments,
# each folded into its holder (JOINS).
HELD_POLICY_BLOCKS = {
    "aws_iam_role": ("aws_iam_role_policy", "aws_iam_role_policy_attachment"),
    "aws_iam_user": ("aws_iam_user_policy", "aws_iam_user_policy_attachment"),
    "aws_iam_group": ("aws_iam_group_policy", "aws_iam_group_policy_attachment"),
}


def _own_policies(values: Mapping[str, Any], related: Related, attribute: str) -> list[Any]:
    setting = values.get(attribute)
    if setting is UNKNOWN and configured(related, attribute) is False:
        return []  # computed by the provider: the plan itself gives the holder none this way
    if not isinstance(setting, list):
        return [] if setting is None else [UNKNOWN]
    if attribute == "inline_policy":
        return [block.get("policy") if isinstance(block, Mapping) else UNKNOWN for block in setting]
    documents: list[Any] = []
    for arn in setting:
        try:
            documents.append(aws_managed_policy(arn))
        except Unknown:
            documents.append(UNKNOWN)
    return documents


def _held_documents(native_type: str, values: Mapping[str, Any], related: Related) -> list[Any]:
    """Every policy document the plan gives a role, user or group; UNKNOWN for one it cannot show."""
    inline, attachment = HELD_POLICY_BLOCKS[native_type]
    documents = [entry.get("policy") for entry in related.get(inline, ())]
    documents += [
        _attached_document(entry, getattr(entry, "related", {})) for entry in related.get(attachment, ())
    ]
    if native_type == "aws_iam_role":
        documents += _own_policies(values, related, "inline_policy")
        documents += _own_policies(values, related, "managed_policy_arns")
    return documents


def trusted_accounts(document: Any) -> list[str]:
    """The AWS accounts a role's trust policy lets assume it, "*" for any: the account of each
    AWS principal it allows. Services and identity providers are no accounts; a principal named
    by its unique id leaves the accounts unknown."""
    accounts: set[str] = set()
    for statement in _statements(known(document)):
        principal = statement.get("Principal")
        if statement.get("Effect") != "Allow":
            continue
        if "NotPrincipal" in statement or principal == "*":
            accounts.add("*")
            continue
        named = principal.get("AWS", []) if isinstance(principal, Mapping) else []
        for name in map(str, _as_list(named)):
            parts = name.split(":")
            if name == "*" or name.isdigit():
                accounts.add(name)
            elif len(parts) > 4 and parts[0] == "arn":
                accounts.add(parts[4] or "*")
            else:
                raise Unknown
    return sorted(accounts)


def _scoped_to(condition: Any, key: str) -> bool:
    """Whether a condition allows only some values of `key` (none of them a bare "*")."""
    return any(found == key.lower() and "*" not in values for found, values in _allowed_values(condition))


def _federations(document: Any) -> Iterator[tuple[str, str, Any]]:
    """(provider, the claim naming who, the statement's condition) of each OpenID Connect
    provider a role's trust policy allows: `sub`, or an identity pool's `aud` for Cognito."""
    for statement in _statements(known(document)):
        principal = statement.get("Principal")
        if statement.get("Effect") != "Allow" or not isinstance(principal, Mapping):
            continue
        for name in map(str, _as_list(principal.get("Federated", []))):
            if ":saml-provider/" in name:
                continue  # assertions of one's own identity provider
            host = name.split(":oidc-provider/", 1)[-1]
            claim = "aud" if host == "cognito-identity.amazonaws.com" else "sub"
            yield host, f"{host}:{claim}", statement.get("Condition")


def open_federation(document: Any) -> list[str]:
    """The OpenID Connect providers a role's trust policy lets any of their subjects assume it
    through: no condition naming which subjects. A provider such as GitHub's serves every
    repository of every organisation."""
    return sorted(
        {host for host, claim, condition in _federations(document) if not _scoped_to(condition, claim)}
    )


def federated_subjects(document: Any) -> list[str]:
    """The subjects an OpenID Connect provider may present to assume the role, as its trust
    policy names them (patterns with `*` and `?`): `repo:payments/infra:environment:production`.
    Which stage a subject belongs to is the stage's to say (`stage_subjects`)."""
    return sorted(
        {
            value
            for host, claim, condition in _federations(document)
            if claim.endswith(":sub")
            for key, values in _allowed_values(condition)
            if key == claim.lower()
            for value in values
        }
    )


def _trust(facts: Facts, document: Any) -> None:
    """Who may assume an identity, from a role's trust policy; nobody assumes a user or a group
    (`document` None: it signs in, or is joined)."""
    facts.derive("trusted_accounts", lambda: trusted_accounts(document))
    facts.derive("open_federation", lambda: open_federation(document))
    facts.derive("federated_subjects", lambda: federated_subjects(document))


def _no_credentials(facts: Facts) -> None:
    """A role or group: assumed or joined, never signed in to with a password or key of its own;
    and policies are how it grants at all, so attaching them to it is no shortcut past groups."""
    facts.derive("console_access", lambda: False)
    facts.derive("access_key_max_age_days", lambda: None)
    facts.derive("direct_policies", lambda: None)


def iam_role(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    _no_credentials(facts)
    _trust(facts, values.get("assume_role_policy"))
    facts.values.update(_held_grants(_held_documents("aws_iam_role", values, related)))
    return facts.values


def iam_group(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    _no_credentials(facts)
    _trust(facts, None)
    facts.values.update(_held_grants(_held_documents("aws_iam_group", values, related)))
    return facts.values


def _planned_key_age(keys: Sequence[Mapping[str, Any]]) -> int | None:
    ages = []
    for key in keys:
        if dig(key, "status", default="Active") != "Active":
            continue
        created = key.get("create_date")
        # A key the plan creates is new at apply.
        ages.append(
            0 if created is UNKNOWN else (datetime.now(UTC) - datetime.fromisoformat(str(created))).days
        )
    return max(ages) if ages else None


def iam_user(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    """A user as the plan makes it: a console password and access keys only where the plan
    creates them (one set by hand exists live, where live discovery judges it). Whether MFA
    guards a console password is never in a plan: a person enrols the device."""
    facts = Facts()
    facts.derive("console_access", lambda: bool(related.get("aws_iam_user_login_profile")))
    _trust(facts, None)
    facts.derive("access_key_max_age_days", lambda: _planned_key_age(related.get("aws_iam_access_key", ())))
    facts.values.update(_held_grants(_held_documents("aws_iam_user", values, related)))
    inline, attachment = HELD_POLICY_BLOCKS["aws_iam_user"]
    facts.derive("direct_policies", lambda: bool(related.get(inline) or related.get(attachment)))
    return facts.values


def policy_denies_plain_http(document: Any) -> bool:
    """A bucket policy that denies everyone every S3 action over plain HTTP: Deny, Principal "*",
    and `Bool` `aws:SecureTransport` "false" as the statement's only condition (CIS AWS 2.1.1)."""
    for statement in _statements(document):
        actions = {str(a).lower() for a in _as_list(statement.get("Action"))}
        condition = statement.get("Condition")
        if statement.get("Effect") != "Deny" or not _anyone(statement) or not actions & {"*", "s3:*"}:
            continue
        if not isinstance(condition, Mapping) or not condition:
            continue
        # Conditions are ANDed: any further one narrows the deny to fewer plain requests.
        tests = [
            (operator, key, value)
            for operator, block in condition.items()
            for key, value in (block.items() if isinstance(block, Mapping) else [(None, None)])
        ]
        if all(
            operator in {"Bool", "BoolIfExists"}
            and str(key).lower() == "aws:securetransport"
            and [str(v).lower() for v in _as_list(value)] == ["false"]
            for operator, key, value in tests
        ):
            return True
    return False


def s3_bucket(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    sse = _first(related, "aws_s3_bucket_server_side_encryption_configuration")

    def algorithm() -> str | None:
        # Provider 4+ moved encryption to its own resource; the inline block is the fallback
        # (and a computed inline block is unknown, so nothing is derived from it).
        if sse is not None:
            rules = blocks(sse, "rule")
        else:
            rules = [
                r for b in blocks(values, "server_side_encryption_configuration") for r in blocks(b, "rule")
            ]
        for rule in rules:
            found = dig(rule, "apply_server_side_encryption_by_default", 0, "sse_algorithm")
            if found:
                return str(found)
        return None

    # Since January 2023 S3 encrypts every new object with SSE-S3 by default.
    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive("encryption_cmk", lambda: algorithm() in KMS_SSE_ALGORITHMS)

    block = _first(related, "aws_s3_bucket_public_access_block")
    policy = _first(related, "aws_s3_bucket_policy")
    acl = _first(related, "aws_s3_bucket_acl")

    def own(attribute: str) -> Any:
        # The bucket's deprecated `policy` and `grant`: left out of the configuration, the provider
        # computes them from what aws_s3_bucket_policy and aws_s3_bucket_acl set.
        if values.get(attribute) is UNKNOWN and configured(related, attribute) is False:
            return None
        return dig(values, attribute)

    def public_acl() -> bool:
        if dig(values, "acl") in PUBLIC_CANNED_ACLS:
            return True
        if any(dig(grant, "uri") in PUBLIC_GRANTEES for grant in own("grant") or []):
            return True
        if acl is None:
            return False
        if dig(acl, "acl") in PUBLIC_CANNED_ACLS:
            return True
        grants = [g for p in blocks(acl, "access_control_policy") for g in blocks(p, "grant")]
        return any(dig(grantee, "uri") in PUBLIC_GRANTEES for g in grants for grantee in blocks(g, "grantee"))

    def public() -> bool:
        if block is not None and all(
            dig(block, flag, default=False) is True
            for flag in (
                "block_public_acls",
                "block_public_policy",
                "ignore_public_acls",
                "restrict_public_buckets",
            )
        ):
            return False
        if public_acl():
            return True
        if policy is not None and policy_is_public(dig(policy, "policy", default="")):
            return True
        if policy_is_public(own("policy") or ""):
            return True
        if block is None:
            # Without a bucket-level block only the account-level block, a live fact, can say
            # whether the bucket is shielded from ACLs and policies made outside this plan (a
            # policy that is not public, such as one denying plain HTTP, shields nothing).
            raise Unknown
        policy_flags = ("block_public_policy", "restrict_public_buckets")
        policies_blocked = all(dig(block, flag, default=False) is True for flag in policy_flags)
        if not policies_blocked and policy is None and not own("policy"):
            # The block lets policies through and the plan sets none: one attached outside it
            # decides. (ACLs are off for new buckets unless the plan turns them on.)
            raise Unknown
        return False

    facts.derive("public", public)
    facts.derive(
        "https_only",
        lambda: policy_denies_plain_http(
            dig(policy, "policy", default="") if policy is not None else own("policy") or ""
        ),
    )

    versioning = _first(related, "aws_s3_bucket_versioning")
    if versioning is not None:
        facts.derive(
            "versioning",
            lambda: dig(versioning, "versioning_configuration", 0, "status") == "Enabled",
        )
    else:
        facts.derive("versioning", lambda: dig(values, "versioning", 0, "enabled", default=False) is True)
    logging = _first(related, "aws_s3_bucket_logging")
    facts.derive(
        "access_logging",
        lambda: logging is not None or bool(blocks(values, "logging")),
    )
    return facts.values


def _rule_spans(protocol: Any, from_port: Any, to_port: Any) -> tuple[int, int]:
    if str(known(protocol)) in {"-1", "all"}:
        return (0, 65535)
    low, high = known(from_port), known(to_port)
    if low is None or high is None or (low == -1 and high == -1):
        return (0, 65535)
    return (int(low), int(high))


def security_group(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()

    def open_ports() -> list[list[int]]:
        spans: list[tuple[int, int]] = []
        for rule in blocks(values, "ingress"):
            sources = list(dig(rule, "cidr_blocks", default=[])) + list(
                dig(rule, "ipv6_cidr_blocks", default=[])
            )
            if any(is_internet(s) for s in sources):
                spans.append(_rule_spans(rule.get("protocol"), rule.get("from_port"), rule.get("to_port")))
        for rule in related.get("aws_vpc_security_group_ingress_rule", ()):
            sources = [dig(rule, "cidr_ipv4"), dig(rule, "cidr_ipv6")]
            if any(s is not None and is_internet(s) for s in sources):
                spans.append(_rule_spans(rule.get("ip_protocol"), rule.get("from_port"), rule.get("to_port")))
        for rule in related.get("aws_security_group_rule", ()):
            if dig(rule, "type") != "ingress":
                continue
            sources = list(dig(rule, "cidr_blocks", default=[])) + list(
                dig(rule, "ipv6_cidr_blocks", default=[])
            )
            if any(is_internet(s) for s in sources):
                spans.append(_rule_spans(rule.get("protocol"), rule.get("from_port"), rule.get("to_port")))
        return port_ranges(spans)

    facts.derive("internet_ingress_ports", open_ports)
    facts.derive("direction", lambda: "ingress")
    facts.derive("enabled", lambda: True)
    return facts.values


# The exported logs where each engine's connections and statements land. MySQL's `general` log
# records every connection and statement as `audit` does, and is what MySQL 8 offers where the
# MariaDB Audit Plugin is not installed (it needs an option group); `error`, `slowquery` and
# `upgrade` record neither.
AUDIT_LOG_EXPORTS: dict[str, frozenset[str]] = {
    "postgres": frozenset({"postgresql"}),
    "aurora-postgresql": frozenset({"postgresql"}),
    "mysql": frozenset({"audit", "general"}),
    "mariadb": frozenset({"audit", "general"}),
    "aurora-mysql": frozenset({"audit", "general"}),
    "aurora": frozenset({"audit", "general"}),
}


def _audit_logs_exported(engine: Any, exports: Any) -> bool:
    audit_logs = AUDIT_LOG_EXPORTS.get(str(known(engine)))
    if audit_logs is None:
        # Oracle, SQL Server and Db2 audit through option groups, parameters or files that the
        # exported logs do not show: whether they audit is not known from here.
        raise Unknown
    return bool(audit_logs & {str(known(log)) for log in known(exports) or []})


def _db_common(values: Mapping[str, Any], facts: Facts) -> None:
    facts.derive("encrypted_at_rest", lambda: dig(values, "storage_encrypted", default=False) is True)
    facts.derive(
        "encryption_cmk",
        lambda: dig(values, "storage_encrypted", default=False) is True and bool(dig(values, "kms_key_id")),
    )
    facts.derive("backup_days", lambda: int(dig(values, "backup_retention_period", default=0)))
    # RDS restores to any second within the retention window once automated backups are on.
    facts.derive("pitr", lambda: int(dig(values, "backup_retention_period", default=0)) > 0)
    facts.derive("deletion_protection", lambda: dig(values, "deletion_protection", default=False) is True)
    facts.derive("engine", lambda: str(dig(values, "engine")))
    facts.derive(
        "audit_logging",
        lambda: _audit_logs_exported(
            dig(values, "engine", default=""), dig(values, "enabled_cloudwatch_logs_exports", default=[])
        ),
    )
    facts.derive(
        "restored_from",
        # Every way an instance or cluster starts with another's data: a snapshot, a restore to a
        # point in time, a read replica, a replicated cluster, an import from S3.
        lambda: (
            dig(values, "snapshot_identifier")
            or dig(values, "restore_to_point_in_time", 0, "source_db_instance_identifier")
            or dig(values, "restore_to_point_in_time", 0, "source_dbi_resource_id")
            or dig(values, "restore_to_point_in_time", 0, "source_cluster_identifier")
            or dig(values, "restore_to_point_in_time", 0, "source_db_instance_automated_backups_arn")
            or dig(values, "replicate_source_db")
            or dig(values, "replication_source_identifier")
            or dig(values, "s3_import", 0, "bucket_name")
        ),
    )


def db_instance(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    _db_common(values, facts)
    facts.derive("public", lambda: dig(values, "publicly_accessible", default=False) is True)
    facts.derive("zone_redundant", lambda: dig(values, "multi_az", default=False) is True)
    group = _first(related, "aws_db_parameter_group")

    def tls_enforced() -> bool:
        if group is None:
            name = dig(values, "parameter_group_name")
            if name and not str(name).startswith("default."):
                # A parameter group the plan does not define: only the live side can tell.
                raise Unknown
            # The default groups force TLS from RDS for PostgreSQL 15 on, and not before.
            engine = str(dig(values, "engine", default=""))
            major = str(dig(values, "engine_version", default="0")).split(".")[0]
            return engine == "postgres" and major.isdigit() and int(major) >= 15
        for parameter in blocks(group, "parameter"):
            name, value = dig(parameter, "name"), str(dig(parameter, "value", default="")).lower()
            if name in {"rds.force_ssl", "require_secure_transport"} and value in {"1", "on", "true"}:
                return True
        return False

    facts.derive("tls_enforced", tls_enforced)
    return facts.values


def rds_cluster(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    _db_common(values, facts)
    facts.derive("zone_redundant", lambda: len(dig(values, "availability_zones", default=[])) > 1)
    return facts.values


def dynamodb_table(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    # `audit_logging` is the stage's trails' to say (aws_data_events.settle).
    facts.derive(
        "restored_from", lambda: dig(values, "restore_source_table_arn") or dig(values, "restore_source_name")
    )
    # DynamoDB always encrypts; the block only chooses a customer key.
    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive(
        "encryption_cmk",
        lambda: (
            dig(values, "server_side_encryption", 0, "enabled", default=False) is True
            and bool(dig(values, "server_side_encryption", 0, "kms_key_arn"))
        ),
    )
    facts.derive("pitr", lambda: dig(values, "point_in_time_recovery", 0, "enabled", default=False) is True)
    facts.derive(
        "deletion_protection", lambda: dig(values, "deletion_protection_enabled", default=False) is True
    )
    facts.derive("public", lambda: False)
    # Tables are reached only through the service's HTTPS API, which refuses plain connections.
    facts.derive("tls_enforced", lambda: True)
    facts.derive("engine", lambda: "dynamodb")
    return facts.values


def kms_key(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("rotation_enabled", lambda: dig(values, "enable_key_rotation", default=False) is True)
    facts.derive(
        "rotation_period_days",
        lambda: (
            int(dig(values, "rotation_period_in_days", default=365))
            if dig(values, "enable_key_rotation", default=False) is True
            else None
        ),
    )
    # AWS's default waiting period before deletion is 30 days.
    facts.derive("deletion_window_days", lambda: int(dig(values, "deletion_window_in_days", default=30)))
    facts.derive("deletion_protected", lambda: int(dig(values, "deletion_window_in_days", default=30)) >= 30)
    facts.derive(
        "rotatable",
        lambda: dig(values, "customer_master_key_spec", default="SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT",
    )

    separate = _first(related, "aws_kms_key_policy")

    def access_gaps() -> list[str]:
        if separate is not None:
            # Applied after the key is made, it replaces whatever policy the key was made with.
            document = dig(separate, "policy", default="")
        elif values.get("policy") is UNKNOWN and configured(related, "policy") is False:
            # Left unset, the policy is AWS's default one, which trusts the account only.
            return []
        else:
            document = dig(values, "policy", default="")
        public = ["key policy allows any principal"] if policy_is_public(document) else []
        return public + key_policy_duty_gaps(document)

    facts.derive("access_gaps", access_gaps)
    return facts.values


def _management_events(values: Mapping[str, Any]) -> bool:
    """Whether a trail records management events (the control plane's API calls)."""
    advanced = blocks(values, "advanced_event_selector")
    if advanced:
        # Advanced selectors record only what one of them selects.
        return any(
            dig(field, "field") == "eventCategory"
            and "Management" in [known(v) for v in dig(field, "equals", default=[])]
            for selector in advanced
            for field in blocks(selector, "field_selector")
        )
    selectors = blocks(values, "event_selector")
    # Without selectors a trail records management events; each selector says whether it does.
    return not selectors or any(
        dig(selector, "include_management_events", default=True) is True for selector in selectors
    )


# What a trail provides for the log group it delivers to, which a metric filter on that group
# needs (`_filter_categories`).
TRAIL_LOG = "trail_log:"


def _log_group_of(arn: Any) -> str | None:
    """The log group's name in `arn:aws:logs:<region>:<account>:log-group:<name>:*`."""
    if arn is None:
        return None
    _, found, rest = str(arn).partition(":log-group:")
    if not found:
        raise Unknown
    return rest.removesuffix(":*")


def _named_log_group(related: Related, otherwise: Callable[[], Any]) -> Any:
    """The name of the log group a trail or metric filter names: the joined group's (made in the
    same plan, its name is known before its ARN is), or else what the block itself says."""
    group = _first(related, "aws_cloudwatch_log_group")
    return dig(group, "name") if group is not None else otherwise()


def _trail_tokens(log_group: str | None, trail: Mapping[str, Any]) -> list[str]:
    """A trail delivering to CloudWatch Logs feeds the log pipeline alerts and the SIEM read;
    when it records every region's management events (its `enabled` and `covers_all_regions`
    facts), its log group is where the CIS AWS section 4 metric filters find them."""
    if log_group is None:
        return []
    if "enabled" not in trail or "covers_all_regions" not in trail:
        raise Unknown
    records_everything = trail["enabled"] is True and trail["covers_all_regions"] is True
    return ["log_aggregation", *([f"{TRAIL_LOG}{log_group}"] if records_everything else [])]


def cloudtrail(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive(
        "enabled",
        lambda: dig(values, "enable_logging", default=True) is True and _management_events(values),
    )
    facts.derive("covers_all_regions", lambda: dig(values, "is_multi_region_trail", default=False) is True)
    facts.derive(
        "integrity_validation", lambda: dig(values, "enable_log_file_validation", default=False) is True
    )
    facts.derive("encryption_cmk", lambda: bool(dig(values, "kms_key_id")))
    facts.derive(
        "provides",
        lambda: _trail_tokens(
            _named_log_group(related, lambda: _log_group_of(dig(values, "cloud_watch_logs_group_arn"))),
            facts.values,
        ),
    )
    facts.derive(
        "dynamodb_data_events",
        lambda: (
            dynamodb_scopes(*planned_selectors(values))
            if dig(values, "enable_logging", default=True) is True
            else []
        ),
    )
    return facts.values


def log_group(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    # 0 (or null) means "never expire", which satisfies any minimum retention.
    facts.derive(
        "retention_days",
        lambda: int(dig(values, "retention_in_days", default=0)) or 36500,
    )
    facts.derive("encryption_cmk", lambda: bool(dig(values, "kms_key_id")))
    return facts.values


# Listener protocols that carry traffic unencrypted, unless every action redirects it to HTTPS.
PLAINTEXT_PROTOCOLS = frozenset({"HTTP", "TCP", "UDP", "TCP_UDP"})


def load_balancer(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    listeners = list(related.get("aws_lb_listener", ()))
    facts.derive("internet_facing", lambda: dig(values, "internal", default=False) is not True)
    facts.derive(
        "deletion_protection", lambda: dig(values, "enable_deletion_protection", default=False) is True
    )
    facts.derive("access_logs", lambda: dig(values, "access_logs", 0, "enabled", default=False) is True)
    facts.derive("waf_attached", lambda: bool(related.get("aws_wafv2_web_acl_association")))

    def tls_min_version() -> str | None:
        versions = []
        for listener in listeners:
            if dig(listener, "protocol") in {"HTTPS", "TLS"}:
                policy = dig(listener, "ssl_policy")
                if policy not in ELB_POLICY_TLS_MIN:
                    raise Unknown
                versions.append(ELB_POLICY_TLS_MIN[policy])
        return min(versions) if versions else None

    def serves_plaintext(listener: Mapping[str, Any]) -> bool:
        if dig(listener, "protocol") not in PLAINTEXT_PROTOCOLS:
            return False
        # The listener's rules (aws_lb_listener_rule, joined through it) act before its default
        # action: one that forwards plain HTTP serves it however the default redirects.
        rules = related_of(listener).get("aws_lb_listener_rule", ())
        actions = [
            *blocks(listener, "default_action"),
            *(a for rule in rules for a in blocks(rule, "action")),
        ]
        redirects = all(
            dig(a, "type") == "redirect" and dig(a, "redirect", 0, "protocol") == "HTTPS" for a in actions
        )
        return not (actions and redirects)

    def plaintext_listener() -> bool:
        # One listener known to serve plaintext settles it, whatever another's unknowns.
        unknown = False
        for listener in listeners:
            try:
                if serves_plaintext(listener):
                    return True
            except Unknown:
                unknown = True
        if unknown:
            raise Unknown
        return False

    if listeners:
        facts.derive("tls_min_version", tls_min_version)
        facts.derive("plaintext_listener", plaintext_listener)
    return facts.values


def ebs_volume(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("encrypted_at_rest", lambda: dig(values, "encrypted", default=False) is True)
    facts.derive("encryption_cmk", lambda: bool(dig(values, "kms_key_id")))
    facts.derive("restored_from", lambda: dig(values, "snapshot_id") or None)
    return facts.values


def lambda_function(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("runtime", lambda: dig(values, "runtime"))
    facts.derive("encryption_cmk", lambda: bool(dig(values, "kms_key_arn")))
    facts.derive(
        "plaintext_secrets",
        lambda: plaintext_secrets(dig(values, "environment", 0, "variables", default={}), SECRET_REFERENCES),
    )
    return facts.values


def instance(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive(
        "public_ip",
        lambda: (
            dig(values, "associate_public_ip_address", default=False) is True
            or bool(related.get("aws_eip") or related.get("aws_eip_association"))
        ),
    )
    facts.derive("imdsv2_required", lambda: dig(values, "metadata_options", 0, "http_tokens") == "required")

    def disk_encrypted() -> bool:
        # Left unset, `encrypted` is computed (the AMI's snapshots or the account's EBS default
        # decide), so the plan cannot say; CIS AWS and checkov ask for it to be set.
        devices = [*blocks(values, "root_block_device"), *blocks(values, "ebs_block_device")]
        return bool(devices) and all(dig(device, "encrypted", default=False) is True for device in devices)

    facts.derive("disk_encrypted", disk_encrypted)
    facts.derive(
        "hardening_gaps",
        lambda: [] if dig(values, "metadata_options", 0, "http_tokens") == "required" else ["IMDSv1 allowed"],
    )
    facts.derive("image", lambda: dig(values, "ami"))
    return facts.values


# Values that point at a secret store instead of holding the secret.
SECRET_REFERENCES = ("arn:aws:secretsmanager:", "arn:aws:ssm:", "{{resolve:")
# What live discovery puts in place of a function's environment value.
WITHHELD_VALUE = "(value withheld)"


def vpc(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive(
        "flow_logs",
        lambda: any(
            dig(log, "traffic_type", default="ALL") == "ALL" for log in related.get("aws_flow_log", ())
        ),
    )

    # AWS gives every VPC a default group that lets its members talk to each other and
    # everything out; only a managed aws_default_security_group without rules closes it.
    def default_allow() -> bool:
        managed = related.get("aws_default_security_group", ())
        if not managed:
            return True
        return any(_default_group_has_rules(group, related_of(group)) for group in managed)

    facts.derive("default_allow", default_allow)
    return facts.values


SECURITY_GROUP_TYPES = ("aws_security_group", "aws_default_security_group")
# Rules made outside a security group's block; every one of them allows some traffic.
STANDALONE_GROUP_RULES = (
    "aws_vpc_security_group_ingress_rule",
    "aws_vpc_security_group_egress_rule",
    "aws_security_group_rule",
)


def _default_group_has_rules(group: Mapping[str, Any], rules: Related) -> bool:
    """Whether a default security group allows anything: inline rules or standalone rules
    joined to it (`rules`), which Terraform adds to the group however its block reads."""
    # A standalone rule settles it before the inline blocks are read, which may be unknown.
    if any(rules.get(native_type) for native_type in STANDALONE_GROUP_RULES):
        return True
    return bool(blocks(group, "ingress") or blocks(group, "egress"))


def default_security_group(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("default_allow", lambda: _default_group_has_rules(values, related))
    facts.derive("flow_logs", lambda: None)
    return facts.values


def eks_cluster(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive(
        "secrets_encrypted",
        lambda: any(
            "secrets" in [known(r) for r in dig(config, "resources", default=[])]
            and bool(dig(config, "provider", 0, "key_arn"))
            for config in blocks(values, "encryption_config")
        ),
    )

    def control_plane_public() -> bool:
        if dig(values, "vpc_config", 0, "endpoint_public_access", default=True) is not True:
            return False
        cidrs = dig(values, "vpc_config", 0, "public_access_cidrs", default=["0.0.0.0/0"]) or ["0.0.0.0/0"]
        return any(is_internet(c) for c in cidrs)

    facts.derive("control_plane_public", control_plane_public)
    return facts.values


STRONG_CERTIFICATE_KEYS = frozenset(
    {"RSA_2048", "RSA_3072", "RSA_4096", "EC_prime256v1", "EC_secp384r1", "EC_secp521r1"}
)


def acm_certificate(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    # An imported certificate carries its private key in the plan; ACM renews only its own.
    facts.derive("managed_renewal", lambda: "private_key" not in values or values.get("private_key") is None)
    facts.derive(
        "strong_key", lambda: dig(values, "key_algorithm", default="RSA_2048") in STRONG_CERTIFICATE_KEYS
    )
    facts.derive("in_certificate_register", lambda: True)
    facts.derive("expires", lambda: dig(values, "not_after"))
    return facts.values


def iam_server_certificate(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("managed_renewal", lambda: False)
    facts.derive("in_certificate_register", lambda: False)
    facts.derive("expires", lambda: dig(values, "expiration"))
    return facts.values


def backup_vault(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("encryption_cmk", lambda: bool(dig(values, "kms_key_arn")))
    lock = _first(related, "aws_backup_vault_lock_configuration")
    # Without `changeable_for_days` the lock is in governance mode: anyone allowed
    # backup:DeleteBackupVaultLockConfiguration can lift it. Only compliance mode is immutable.
    facts.derive("immutable", lambda: lock is not None and dig(lock, "changeable_for_days") is not None)
    facts.derive(
        "immutable_retention_days",
        lambda: int(dig(lock, "min_retention_days", default=0)) if lock is not None else 0,
    )
    return facts.values


def secretsmanager_secret(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    rotation = _first(related, "aws_secretsmanager_secret_rotation")
    facts.derive(
        "rotates",
        lambda: (
            rotation is not None
            and bool(
                dig(rotation, "rotation_rules", 0, "automatically_after_days")
                or dig(rotation, "rotation_rules", 0, "schedule_expression")
            )
        ),
    )
    return facts.values


def _guardduty(values: Mapping[str, Any], related: Related) -> list[str]:
    return ["threat_detection"] if dig(values, "enable", default=True) is True else []


def _config_recorder(values: Mapping[str, Any], related: Related) -> list[str]:
    group = dig(values, "recording_group", 0, default={})
    return ["config_recorder"] if dig(group, "all_supported", default=True) is True else []


def _config_recorder_status(values: Mapping[str, Any], related: Related) -> list[str]:
    return ["config_recording"] if dig(values, "is_enabled") is True else []


def _inspector(values: Mapping[str, Any], related: Related) -> list[str]:
    types = {str(known(t)).upper() for t in dig(values, "resource_types", default=[])}
    return ["vulnerability_scanning"] if {"EC2", "ECR", "LAMBDA"} <= types else []


def _security_lake(values: Mapping[str, Any], related: Related) -> list[str]:
    return ["log_aggregation"]


# What an alarm, a metric filter and an event rule are judged by, under the names of each side:
# the planned and live normalisers read through one function each, so both judge alike.
_PLANNED_ALARM = {
    "namespace": "namespace",
    "metric": "metric_name",
    "actions_enabled": "actions_enabled",
    "actions": "alarm_actions",
    "operator": "comparison_operator",
    "threshold": "threshold",
    "datapoints": "datapoints_to_alarm",
    "periods": "evaluation_periods",
}
_LIVE_ALARM = {
    "namespace": "Namespace",
    "metric": "MetricName",
    "actions_enabled": "ActionsEnabled",
    "actions": "AlarmActions",
    "operator": "ComparisonOperator",
    "threshold": "Threshold",
    "datapoints": "DatapointsToAlarm",
    "periods": "EvaluationPeriods",
}
_PLANNED_FILTER = {
    "pattern": "pattern",
    "transformations": "metric_transformation",
    "name": "name",
    "namespace": "namespace",
    "dimensions": "dimensions",
}
_LIVE_FILTER = {
    "pattern": "filterPattern",
    "transformations": "metricTransformations",
    "name": "metricName",
    "namespace": "metricNamespace",
    "dimensions": "dimensions",
}
# The one state of an EventBridge rule that matches nothing (ENABLED and
# ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS both deliver).
RULE_DISABLED = "DISABLED"


def _fires_on_one_event(values: Mapping[str, Any], names: Mapping[str, str]) -> bool:
    """Whether an alarm on a count of matching log events goes off at the first one."""
    operator = dig(values, names["operator"])
    threshold = float(dig(values, names["threshold"], default=0))
    datapoints = dig(values, names["datapoints"]) or dig(values, names["periods"], default=1)
    over = (operator == "GreaterThanOrEqualToThreshold" and threshold <= 1) or (
        operator == "GreaterThanThreshold" and threshold < 1
    )
    return over and int(datapoints) == 1


def _alarm_link(values: Mapping[str, Any], names: Mapping[str, str]) -> list[str]:
    """`alarm:<namespace>/<metric>` for an alarm that notifies someone at the first data point of
    a log metric: what a metric filter's categories wait for (`_filter_categories`). An alarm on
    a service metric (AWS/EC2 CPU, ...) watches no metric filter."""
    namespace = dig(values, names["namespace"])
    if namespace is None or str(namespace).startswith("AWS/"):
        return []
    metric = dig(values, names["metric"])
    if metric is None:
        return []  # metric math (`metric_query`, `Metrics`): not read
    if dig(values, names["actions_enabled"], default=True) is not True:
        return []
    if not known_list(dig(values, names["actions"])):
        return []
    return [f"alarm:{namespace}/{metric}"] if _fires_on_one_event(values, names) else []


def _filter_categories(values: Mapping[str, Any], names: Mapping[str, str], log_group: Any) -> list[str]:
    """The CIS AWS section 4 categories a CloudTrail metric filter matches, each counted only
    when an alarm that notifies someone watches the metric it publishes and a multi-region
    trail delivers to its log group (`_trail_tokens`): on any other log group the events the
    pattern looks for never arrive."""
    pattern = dig(values, names["pattern"])
    categories = aws_metric_filter_categories(pattern, AWS_ALERT_EVENTS)
    if not categories:
        return []
    links = [
        f"alarm:{dig(t, names['namespace'])}/{dig(t, names['name'])}"
        for t in blocks(values, names["transformations"])
        # a metric published with dimensions is not the one an alarm without them watches
        if dig(t, names["name"]) and dig(t, names["namespace"]) and not dig(t, names["dimensions"])
    ]
    fed = f"{TRAIL_LOG}{known(log_group)}"
    # The trail records every region, so what its log shows is watched everywhere.
    return [conditional(everywhere(category), link, fed) for link in links for category in categories]


def event_pattern_categories(pattern: Any) -> list[str]:
    """The categories of CIS AWS section 4 (and MON-004's tampering) whose every event an
    EventBridge pattern (JSON text) matches."""
    return aws_event_pattern_categories(pattern, AWS_ALERT_EVENTS)


def _is_default_bus(bus: Any) -> bool:
    """AWS services deliver CloudTrail events to the default event bus only."""
    return str(bus) == "default" or str(bus).endswith(":event-bus/default")


def _metric_alarm(values: Mapping[str, Any], related: Related) -> list[str]:
    return _alarm_link(values, _PLANNED_ALARM)


def _metric_filter(values: Mapping[str, Any], related: Related) -> list[str]:
    log_group = _named_log_group(related, lambda: dig(values, "log_group_name"))
    return _filter_categories(values, _PLANNED_FILTER, log_group)


def _event_rule_enabled(values: Mapping[str, Any], related: Related) -> bool:
    # `state` replaced `is_enabled`; the provider computes the one the configuration leaves out.
    for attribute, off in (("state", RULE_DISABLED), ("is_enabled", False)):
        if values.get(attribute) is UNKNOWN and configured(related, attribute) is False:
            continue
        if dig(values, attribute) == off:
            return False
    return True


def _default_bus(values: Mapping[str, Any], related: Related) -> bool:
    if values.get("event_bus_name") is UNKNOWN and configured(related, "event_bus_name") is False:
        return True
    return _is_default_bus(dig(values, "event_bus_name", default="default"))


def _event_rule(values: Mapping[str, Any], related: Related) -> list[str]:
    """The categories of CIS AWS section 4 (and MON-004's tampering) whose every event the rule's
    pattern matches, for an enabled rule on the default bus with a target."""
    categories = event_pattern_categories(dig(values, "event_pattern"))
    if not categories or not related.get("aws_cloudwatch_event_target"):
        return []
    if not _event_rule_enabled(values, related) or not _default_bus(values, related):
        return []
    return _rule_tokens(categories, planned_region(related))


def _rule_tokens(categories: list[str], region: str | None) -> list[str]:
    """A rule's categories as tokens of its own region, the only one whose events it sees; a
    global service's category only from a rule in us-east-1, where it covers the account."""
    return [
        everywhere(category) if category in AWS_ACCOUNT_WIDE_CATEGORIES else category
        for category in categories
        if category not in AWS_ACCOUNT_WIDE_CATEGORIES or region == AWS_GLOBAL_REGION
    ]


def _alternate_contact(values: Mapping[str, Any], related: Related) -> list[str]:
    return ["security_contact"] if dig(values, "alternate_contact_type") == "SECURITY" else []


def _patch_baseline(values: Mapping[str, Any], related: Related) -> list[str]:
    return ["patch_baseline"] if blocks(values, "approval_rule") else []


def _patch_association(values: Mapping[str, Any], related: Related) -> list[str]:
    return ["patch_run"] if dig(values, "name") == "AWS-RunPatchBaseline" else []


PLANNED: dict[str, PlannedType] = {
    "aws_s3_bucket": PlannedType("object_store", s3_bucket),
    "aws_security_group": PlannedType("network_rule", security_group),
    "aws_db_instance": PlannedType("database", db_instance),
    "aws_rds_cluster": PlannedType("database", rds_cluster),
    "aws_dynamodb_table": PlannedType("database", dynamodb_table),
    "aws_kms_key": PlannedType("key", kms_key),
    "aws_cloudtrail": PlannedType("audit_trail", cloudtrail),
    "aws_cloudwatch_log_group": PlannedType("log_store", log_group),
    "aws_lb": PlannedType("load_balancer", load_balancer),
    "aws_ebs_volume": PlannedType("disk", ebs_volume),
    "aws_instance": PlannedType("compute", instance),
    "aws_lambda_function": PlannedType("function", lambda_function),
    "aws_iam_policy": PlannedType("access_policy", iam_policy),
    "aws_iam_role_policy": PlannedType("access_policy", iam_policy),
    "aws_iam_user_policy": PlannedType("access_policy", iam_policy),
    "aws_iam_group_policy": PlannedType("access_policy", iam_policy),
    "aws_iam_role": PlannedType("identity", iam_role),
    "aws_iam_user": PlannedType("identity", iam_user),
    "aws_iam_group": PlannedType("identity", iam_group),
    "aws_iam_policy_attachment": PlannedType("access_policy", policy_attachment),
    "aws_iam_role_policy_attachment": PlannedType("access_policy", policy_attachment),
    "aws_iam_user_policy_attachment": PlannedType("access_policy", policy_attachment),
    "aws_iam_group_policy_attachment": PlannedType("access_policy", policy_attachment),
    "aws_vpc": PlannedType("network", vpc),
    "aws_default_security_group": PlannedType("network", default_security_group),
    "aws_eks_cluster": PlannedType("cluster", eks_cluster),
    "aws_acm_certificate": PlannedType("certificate", acm_certificate),
    "aws_iam_server_certificate": PlannedType("certificate", iam_server_certificate),
    "aws_backup_vault": PlannedType("backup_vault", backup_vault),
    "aws_secretsmanager_secret": PlannedType("secret", secretsmanager_secret),
    "aws_guardduty_detector": security_service(_guardduty),
    "aws_config_configuration_recorder": security_service(_config_recorder),
    "aws_config_configuration_recorder_status": security_service(_config_recorder_status),
    "aws_inspector2_enabler": security_service(_inspector),
    "aws_securitylake_data_lake": security_service(_security_lake),
    "aws_cloudwatch_metric_alarm": security_service(_metric_alarm),
    "aws_cloudwatch_event_rule": security_service(_event_rule),
    "aws_cloudwatch_log_metric_filter": security_service(_metric_filter),
    "aws_account_alternate_contact": security_service(_alternate_contact),
    "aws_ssm_patch_baseline": security_service(_patch_baseline),
    "aws_ssm_association": security_service(_patch_association),
}

ESTATE: dict[str, Capability] = {
    "threat_detection": Capability(("threat_detection",), regional=True),
    "config_recording": Capability(("config_recorder", "config_recording"), regional=True),
    "vulnerability_scanning": Capability(("vulnerability_scanning",), regional=True),
    "central_logging": Capability(("log_aggregation",)),
    # One token per category of critical events (normalize/alerting.py, CIS AWS section 4), in
    # every region of the stage: an EventBridge rule sees its own region's events only.
    "security_alerting": Capability(tuple(AWS_SECURITY_EVENTS), regional=True),
    "security_contact": Capability(("security_contact",)),
    "tamper_alerting": Capability(tuple(AWS_TAMPER_EVENTS), regional=True),
    "patch_management": Capability(("patch_baseline", "patch_run"), regional=True),
}

JOINS: dict[str, Join | tuple[Join, ...]] = {
    "aws_s3_bucket_server_side_encryption_configuration": Join("bucket", "aws_s3_bucket"),
    "aws_s3_bucket_public_access_block": Join("bucket", "aws_s3_bucket"),
    "aws_s3_bucket_versioning": Join("bucket", "aws_s3_bucket"),
    "aws_s3_bucket_logging": Join("bucket", "aws_s3_bucket"),
    "aws_s3_bucket_policy": Join("bucket", "aws_s3_bucket"),
    "aws_s3_bucket_acl": Join("bucket", "aws_s3_bucket"),
    # A standalone rule may belong to the VPC's default group, itself folded into its VPC.
    "aws_vpc_security_group_ingress_rule": Join("security_group_id", SECURITY_GROUP_TYPES),
    "aws_vpc_security_group_egress_rule": Join("security_group_id", SECURITY_GROUP_TYPES),
    "aws_security_group_rule": Join("security_group_id", SECURITY_GROUP_TYPES),
    "aws_lb_listener": Join("load_balancer_arn", "aws_lb"),
    # Reaches the load balancer through its listener, as one of that listener's rules.
    "aws_lb_listener_rule": Join("listener_arn", "aws_lb_listener"),
    "aws_kms_key_policy": Join("key_id", "aws_kms_key"),
    "aws_eip": Join("instance", "aws_instance"),
    "aws_eip_association": Join("instance_id", "aws_instance"),
    "aws_db_instance": Join("parameter_group_name", "aws_db_parameter_group", absorb=False),
    "aws_flow_log": Join("vpc_id", "aws_vpc"),
    "aws_default_security_group": Join("vpc_id", "aws_vpc"),
    "aws_wafv2_web_acl_association": Join("resource_arn", "aws_lb"),
    "aws_backup_vault_lock_configuration": Join("backup_vault_name", "aws_backup_vault"),
    "aws_secretsmanager_secret_rotation": Join("secret_id", "aws_secretsmanager_secret"),
    "aws_cloudwatch_event_target": Join("rule", "aws_cloudwatch_event_rule"),
    # A trail and a metric filter see the log group they name (`_named_log_group`).
    "aws_cloudtrail": Join("cloud_watch_logs_group_arn", "aws_cloudwatch_log_group", absorb=False),
    "aws_cloudwatch_log_metric_filter": Join("log_group_name", "aws_cloudwatch_log_group", absorb=False),
    # What the plan gives a role, user or group is judged with its holder (HELD_POLICY_BLOCKS),
    # an attachment carrying the plan's own policy there.
    "aws_iam_role_policy": Join("role", "aws_iam_role"),
    "aws_iam_user_policy": Join("user", "aws_iam_user"),
    "aws_iam_group_policy": Join("group", "aws_iam_group"),
    "aws_iam_role_policy_attachment": (
        Join("role", "aws_iam_role"),
        Join("policy_arn", "aws_iam_policy", absorb=False),
    ),
    "aws_iam_user_policy_attachment": (
        Join("user", "aws_iam_user"),
        Join("policy_arn", "aws_iam_policy", absorb=False),
    ),
    "aws_iam_group_policy_attachment": (
        Join("group", "aws_iam_group"),
        Join("policy_arn", "aws_iam_policy", absorb=False),
    ),
    "aws_iam_policy_attachment": Join("policy_arn", "aws_iam_policy", absorb=False),
    "aws_iam_user_login_profile": Join("user", "aws_iam_user"),
    "aws_iam_access_key": Join("user", "aws_iam_user"),
}


# Types the provider cannot tag or label: the tagging control does not apply to them.
UNTAGGABLE = frozenset(
    {"aws_security_group_rule", "aws_vpc_security_group_ingress_rule", "aws_s3_bucket_public_access_block"}
)


def tags_of(native_type: str, values: Mapping[str, Any]) -> dict[str, str]:
    for key in ("tags_all", "tags"):
        found = values.get(key)
        if isinstance(found, Mapping):
            return {str(k): str(v) for k, v in found.items() if isinstance(v, str)}
    return {}


def region_of(native_type: str, values: Mapping[str, Any]) -> str | None:
    region = values.get("region")
    return region if isinstance(region, str) else None


# Live: AWS API payloads (as boto3 returns them, gathered per resource by discovery/aws.py).
# The same fact names and meanings as the planned side, so one control judges both alike.

PUBLIC_GRANTEES = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)
_BLOCK_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def _blocked(configuration: Any) -> bool:
    return isinstance(configuration, Mapping) and all(configuration.get(f) is True for f in _BLOCK_FLAGS)


def _read(payload: Mapping[str, Any], part: str, *path: str, default: Any = None) -> Any:
    """`dig` into one call's answer in a live payload; a part that is missing was never read, so
    what it would have said is unknown, never absent (a bucket whose location could not be read)."""
    if part not in payload:
        raise Unknown
    return dig(payload, part, *path, default=default)


def live_s3_bucket(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()

    def algorithm() -> str | None:
        rules = _read(payload, "encryption", "ServerSideEncryptionConfiguration", "Rules", default=[])
        for rule in rules:
            found = dig(rule, "ApplyServerSideEncryptionByDefault", "SSEAlgorithm")
            if found:
                return str(found)
        return None

    def encrypted() -> bool:
        # Every bucket has default encryption since 2023; a failed read still leaves it unverified.
        _read(payload, "encryption")
        return True

    facts.derive("encrypted_at_rest", encrypted)
    facts.derive("encryption_cmk", lambda: algorithm() in KMS_SSE_ALGORITHMS)

    def public() -> bool:
        bucket_block = _read(payload, "public_access_block", "PublicAccessBlockConfiguration")
        if _blocked(bucket_block) or _blocked(_read(payload, "account_public_access_block")):
            return False
        document = _read(payload, "policy", "Policy")
        if document is not None and policy_is_public(document):
            return True
        grants = _read(payload, "acl", "Grants", default=[])
        return any(dig(g, "Grantee", "URI") in PUBLIC_GRANTEES for g in grants)

    def https_only() -> bool:
        document = _read(payload, "policy", "Policy")
        return document is not None and policy_denies_plain_http(document)

    facts.derive("public", public)
    facts.derive("https_only", https_only)
    facts.derive("versioning", lambda: _read(payload, "versioning", "Status") == "Enabled")
    facts.derive("access_logging", lambda: _read(payload, "logging", "LoggingEnabled") is not None)
    return facts.values


def _permission_spans(permission: Mapping[str, Any]) -> tuple[int, int]:
    return _rule_spans(permission.get("IpProtocol"), permission.get("FromPort"), permission.get("ToPort"))


def live_security_group(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()

    def open_ports() -> list[list[int]]:
        spans = []
        for permission in dig(payload, "description", "IpPermissions", default=[]):
            sources = [r.get("CidrIp") for r in permission.get("IpRanges", [])] + [
                r.get("CidrIpv6") for r in permission.get("Ipv6Ranges", [])
            ]
            if any(s is not None and is_internet(s) for s in sources):
                spans.append(_permission_spans(permission))
        return port_ranges(spans)

    facts.derive("internet_ingress_ports", open_ports)
    facts.derive("direction", lambda: "ingress")
    facts.derive("enabled", lambda: True)
    return facts.values


def _customer_key(payload: Mapping[str, Any]) -> bool:
    return bool(dig(payload, "key_manager") == "CUSTOMER")


def _live_tls(payload: Mapping[str, Any], description: Mapping[str, Any]) -> bool:
    parameters = known(payload.get("parameters"))
    if parameters is None:
        # Default groups force TLS from RDS for PostgreSQL 15 on, and not before.
        engine = str(description.get("Engine", ""))
        major = str(description.get("EngineVersion", "0")).split(".")[0]
        return engine == "postgres" and major.isdigit() and int(major) >= 15
    for parameter in parameters:
        name, value = parameter.get("ParameterName"), str(parameter.get("ParameterValue", "")).lower()
        if name in {"rds.force_ssl", "require_secure_transport"} and value in {"1", "on", "true"}:
            return True
    return False


def live_db_instance(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()

    def description() -> Any:
        return known(payload.get("description"))

    facts.derive("encrypted_at_rest", lambda: description().get("StorageEncrypted") is True)
    facts.derive(
        "encryption_cmk", lambda: description().get("StorageEncrypted") is True and _customer_key(payload)
    )
    facts.derive("public", lambda: description().get("PubliclyAccessible") is True)
    facts.derive("backup_days", lambda: int(description().get("BackupRetentionPeriod", 0)))
    facts.derive("pitr", lambda: int(description().get("BackupRetentionPeriod", 0)) > 0)
    facts.derive("zone_redundant", lambda: description().get("MultiAZ") is True)
    facts.derive("deletion_protection", lambda: description().get("DeletionProtection") is True)
    facts.derive("engine", lambda: str(description().get("Engine")))
    facts.derive("tls_enforced", lambda: _live_tls(payload, description()))
    facts.derive(
        "audit_logging",
        lambda: _audit_logs_exported(
            description().get("Engine"), description().get("EnabledCloudwatchLogsExports")
        ),
    )
    return facts.values


def live_rds_cluster(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()

    def description() -> Any:
        return known(payload.get("description"))

    facts.derive("encrypted_at_rest", lambda: description().get("StorageEncrypted") is True)
    facts.derive(
        "encryption_cmk", lambda: description().get("StorageEncrypted") is True and _customer_key(payload)
    )
    facts.derive("backup_days", lambda: int(description().get("BackupRetentionPeriod", 0)))
    facts.derive("pitr", lambda: int(description().get("BackupRetentionPeriod", 0)) > 0)
    facts.derive("zone_redundant", lambda: len(description().get("AvailabilityZones", [])) > 1)
    facts.derive("deletion_protection", lambda: description().get("DeletionProtection") is True)
    facts.derive("engine", lambda: str(description().get("Engine")))
    facts.derive(
        "audit_logging",
        lambda: _audit_logs_exported(
            description().get("Engine"), description().get("EnabledCloudwatchLogsExports")
        ),
    )
    return facts.values


def live_dynamodb_table(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    # `audit_logging` is the stage's trails' to say (aws_data_events.settle).
    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive(
        "encryption_cmk",
        lambda: (
            dig(payload, "description", "SSEDescription", "SSEType") == "KMS"
            and bool(dig(payload, "description", "SSEDescription", "KMSMasterKeyArn"))
        ),
    )
    facts.derive(
        "pitr",
        lambda: (
            dig(payload, "continuous_backups", "PointInTimeRecoveryDescription", "PointInTimeRecoveryStatus")
            == "ENABLED"
        ),
    )
    facts.derive(
        "deletion_protection",
        lambda: dig(payload, "description", "DeletionProtectionEnabled", default=False) is True,
    )
    facts.derive("public", lambda: False)
    # Tables are reached only through the service's HTTPS API, which refuses plain connections.
    facts.derive("tls_enforced", lambda: True)
    facts.derive("engine", lambda: "dynamodb")
    return facts.values


def live_kms_key(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    facts.derive("rotation_enabled", lambda: dig(payload, "rotation", "KeyRotationEnabled") is True)
    facts.derive(
        "rotation_period_days",
        lambda: (
            int(dig(payload, "rotation", "RotationPeriodInDays", default=365))
            if dig(payload, "rotation", "KeyRotationEnabled") is True
            else None
        ),
    )

    # Live, the deletion window exists only once deletion is scheduled: a key not pending
    # deletion is protected; one pending deletion is judged by its window.
    def protected() -> bool:
        if dig(payload, "description", "KeyState") != "PendingDeletion":
            return True
        return int(dig(payload, "description", "PendingDeletionWindowInDays", default=0)) >= 30

    facts.derive("deletion_protected", protected)
    facts.derive(
        "rotatable",
        lambda: dig(payload, "description", "KeySpec", default="SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT",
    )

    def access_gaps() -> list[str]:
        document = known(payload.get("policy"))
        public = ["key policy allows any principal"] if policy_is_public(document) else []
        return public + key_policy_duty_gaps(document)

    facts.derive("access_gaps", access_gaps)
    return facts.values


def _live_management_events(selectors: Any) -> bool:
    """Whether GetEventSelectors says the trail records management events."""
    advanced = dig(selectors, "AdvancedEventSelectors", default=None) or []
    if advanced:
        return any(
            dig(field, "Field") == "eventCategory"
            and "Management" in (dig(field, "Equals", default=None) or [])
            for selector in advanced
            for field in dig(selector, "FieldSelectors", default=None) or []
        )
    basic = dig(selectors, "EventSelectors", default=None) or []
    return not basic or any(dig(s, "IncludeManagementEvents", default=True) is True for s in basic)


def live_cloudtrail(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    facts.derive(
        "enabled",
        lambda: (
            dig(payload, "status", "IsLogging") is True
            and _live_management_events(_read(payload, "event_selectors"))
        ),
    )
    facts.derive("covers_all_regions", lambda: dig(payload, "description", "IsMultiRegionTrail") is True)
    facts.derive(
        "integrity_validation", lambda: dig(payload, "description", "LogFileValidationEnabled") is True
    )
    facts.derive("encryption_cmk", lambda: bool(dig(payload, "description", "KmsKeyId")))
    facts.derive(
        "provides",
        lambda: _trail_tokens(
            _log_group_of(dig(payload, "description", "CloudWatchLogsLogGroupArn")),
            facts.values,
        ),
    )
    facts.derive(
        "dynamodb_data_events",
        lambda: (
            dynamodb_scopes(*live_selectors(_read(payload, "event_selectors")))
            if dig(payload, "status", "IsLogging") is True
            else []
        ),
    )
    return facts.values


def live_log_group(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    facts.derive(
        "retention_days", lambda: int(dig(payload, "description", "retentionInDays", default=0)) or 36500
    )
    facts.derive("encryption_cmk", lambda: bool(dig(payload, "description", "kmsKeyId")))
    return facts.values


def live_load_balancer(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    facts.derive("internet_facing", lambda: dig(payload, "description", "Scheme") == "internet-facing")
    facts.derive(
        "deletion_protection",
        lambda: any(
            a.get("Key") == "deletion_protection.enabled" and a.get("Value") == "true"
            for a in dig(payload, "attributes", default=[])
        ),
    )

    def listeners() -> list[Mapping[str, Any]]:
        return list(dig(payload, "listeners", default=[]))

    def tls_min_version() -> str | None:
        versions = []
        for listener in listeners():
            # Only TLS listeners count: an HTTP listener may still report a policy.
            if listener.get("Protocol") in {"HTTPS", "TLS"}:
                policy = listener.get("SslPolicy")
                if policy not in ELB_POLICY_TLS_MIN:
                    raise Unknown
                versions.append(ELB_POLICY_TLS_MIN[policy])
        return min(versions) if versions else None

    def plaintext_listener() -> bool:
        for listener in listeners():
            if listener.get("Protocol") in PLAINTEXT_PROTOCOLS:
                # As planned: a rule that forwards plain HTTP serves it however the default redirects.
                rules = known(listener.get("Rules", UNKNOWN))
                actions = [*listener.get("DefaultActions", [])]
                actions += [action for rule in rules for action in rule.get("Actions", [])]
                redirects = all(
                    a.get("Type") == "redirect" and (a.get("RedirectConfig") or {}).get("Protocol") == "HTTPS"
                    for a in actions
                )
                if not (actions and redirects):
                    return True
        return False

    facts.derive("waf_attached", lambda: bool(known(payload.get("web_acl"))))

    def attribute(name: str) -> Any:
        return {a.get("Key"): a.get("Value") for a in dig(payload, "attributes", default=[])}.get(name)

    facts.derive("access_logs", lambda: attribute("access_logs.s3.enabled") == "true")
    if known(payload.get("listeners")):
        facts.derive("tls_min_version", tls_min_version)
        facts.derive("plaintext_listener", plaintext_listener)
    return facts.values


def live_ebs_volume(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    facts.derive("encrypted_at_rest", lambda: dig(payload, "description", "Encrypted") is True)
    facts.derive("encryption_cmk", lambda: _customer_key(payload))
    return facts.values


def live_instance(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    facts.derive("public_ip", lambda: bool(dig(payload, "description", "PublicIpAddress")))

    def disk_encrypted() -> bool:
        attached = {
            dig(mapping, "Ebs", "VolumeId")
            for mapping in dig(payload, "description", "BlockDeviceMappings", default=[])
        }
        volumes = _read(payload, "volumes")
        if not attached or attached - {dig(volume, "VolumeId") for volume in volumes}:
            raise Unknown  # instance-store only, or a volume discovery did not see
        return all(dig(volume, "Encrypted") is True for volume in volumes)

    facts.derive("disk_encrypted", disk_encrypted)
    facts.derive(
        "imdsv2_required", lambda: dig(payload, "description", "MetadataOptions", "HttpTokens") == "required"
    )
    facts.derive(
        "hardening_gaps",
        lambda: (
            []
            if dig(payload, "description", "MetadataOptions", "HttpTokens") == "required"
            else ["IMDSv1 allowed"]
        ),
    )
    return facts.values


def live_lambda(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    facts.derive("runtime", lambda: dig(payload, "description", "Runtime"))
    facts.derive("encryption_cmk", lambda: bool(dig(payload, "description", "KMSKeyArn")))
    facts.derive(
        "plaintext_secrets", lambda: _live_plaintext_secrets(dig(payload, "description", "Environment"))
    )
    return facts.values


def _live_plaintext_secrets(environment: Any) -> list[str]:
    if not isinstance(environment, Mapping) or "Variables" not in environment:
        # Not read: an environment Lambda could not decrypt, or a source that does not record one.
        raise Unknown
    return plaintext_secrets(environment["Variables"], SECRET_REFERENCES)


def environment_without_values(environment: Mapping[str, Any] | None) -> dict[str, Any]:
    """A function's `Environment`, as ListFunctions gives it, fit to become evidence.

    Values are often secrets. A secret-store reference is kept (it names a secret and is not one)
    and an empty value stays empty; every other value is withheld, which is all KMS-004 needs to
    tell a literal under a secret-like name from a reference. `Variables` is always there, so a
    function without any reads as having none. An `Error` (Lambda could not decrypt the values)
    is kept without variables, so that what they hold stays unknown."""
    if environment and environment.get("Error"):
        return {"Error": environment["Error"]}
    variables = (environment or {}).get("Variables") or {}
    return {
        "Variables": {
            name: value if value == "" or str(value).startswith(SECRET_REFERENCES) else WITHHELD_VALUE
            for name, value in variables.items()
        }
    }


def live_iam_user(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    facts.derive("console_access", lambda: known(payload.get("login_profile")) is not None)
    facts.derive("mfa_enabled", lambda: bool(known(payload.get("mfa_devices"))))
    _trust(facts, None)

    def key_age() -> int | None:
        now = payload["now"]
        ages = [
            (now - key["CreateDate"]).days
            for key in known(payload.get("access_keys"))
            if key.get("Status") == "Active"
        ]
        return max(ages) if ages else None

    facts.derive("access_key_max_age_days", key_age)
    facts.values.update(_held_grants(payload.get("policy_documents")))
    facts.derive("direct_policies", lambda: bool(known(payload.get("attached_policies"))))
    return facts.values


def live_iam_role(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    _no_credentials(facts)
    _trust(facts, dig(payload, "description", "AssumeRolePolicyDocument", default=UNKNOWN))
    facts.values.update(_held_grants(payload.get("policy_documents")))
    return facts.values


def live_iam_policy(payload: Mapping[str, Any]) -> dict[str, Any]:
    return _held_grants([payload.get("document")])


def live_account(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    facts.derive("root_mfa", lambda: dig(payload, "summary", "AccountMFAEnabled") == 1)
    facts.derive(
        "root_access_keys", lambda: int(dig(payload, "summary", "AccountAccessKeysPresent", default=0)) > 0
    )
    facts.derive("password_policy", lambda: known(payload.get("password_policy")) is not None)
    facts.derive(
        "password_min_length",
        lambda: int(dig(payload, "password_policy", "MinimumPasswordLength", default=0)),
    )
    return facts.values


def live_account_block(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    facts.derive("public_access_blocked", lambda: _blocked(known(payload.get("configuration"))))
    return facts.values


def live_ebs_default(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    facts.derive("ebs_default_encryption", lambda: dig(payload, "setting", "EbsEncryptionByDefault") is True)
    return facts.values


def live_config_recorder(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()

    def recording() -> bool:
        return any(
            s.get("recording") is True
            for s in dig(payload, "status", "ConfigurationRecordersStatus", default=[])
        )

    facts.derive("recording", recording)
    facts.derive("provides", lambda: ["config_recorder", "config_recording"] if recording() else [])
    return facts.values


# Alerts (MON-003, MON-004), read per region by discovery/aws.py: a rule or alarm as ListRules
# and DescribeAlarms give it, a metric filter as DescribeMetricFilters does, each under
# `description`; a listing that failed is one resource whose `description` is UNKNOWN, so what
# the region alerts on stays unknown. Judged by the functions the planned side uses.


def live_rule_categories(rule: Any) -> list[str]:
    """The categories an EventBridge rule of the default bus, as ListRules gives it, alerts on
    once it has a target: none while disabled. Discovery asks for the targets of these only."""
    categories = event_pattern_categories(dig(rule, "EventPattern"))
    if not categories or dig(rule, "State") == RULE_DISABLED:
        return []
    return categories if _is_default_bus(dig(rule, "EventBusName", default="default")) else []


def _live_event_rule(payload: Mapping[str, Any]) -> list[str]:
    categories = live_rule_categories(_read(payload, "description"))
    # Targets were asked for only where there are categories; ListTargetsByRule failed: unknown.
    if not categories or not known_list(_read(payload, "targets")):
        return []
    arn = str(dig(payload, "description", "Arn", default=""))
    return _rule_tokens(categories, arn.split(":")[3] if arn.count(":") >= 5 else None)


def _live_metric_alarm(payload: Mapping[str, Any]) -> list[str]:
    return _alarm_link(_read(payload, "description"), _LIVE_ALARM)


def _live_metric_filter(payload: Mapping[str, Any]) -> list[str]:
    description = _read(payload, "description")
    return _filter_categories(description, _LIVE_FILTER, dig(description, "logGroupName"))


def _live_service(provides: Callable[[Mapping[str, Any]], list[str]]) -> tuple[str, LiveNormaliser]:
    service = live_security_service(provides)
    return service.kind, service.facts


LIVE: dict[str, tuple[str, LiveNormaliser]] = {
    "aws_s3_bucket": ("object_store", live_s3_bucket),
    "aws_security_group": ("network_rule", live_security_group),
    "aws_db_instance": ("database", live_db_instance),
    "aws_rds_cluster": ("database", live_rds_cluster),
    "aws_dynamodb_table": ("database", live_dynamodb_table),
    "aws_kms_key": ("key", live_kms_key),
    "aws_cloudtrail": ("audit_trail", live_cloudtrail),
    "aws_cloudwatch_log_group": ("log_store", live_log_group),
    "aws_lb": ("load_balancer", live_load_balancer),
    "aws_ebs_volume": ("disk", live_ebs_volume),
    "aws_instance": ("compute", live_instance),
    "aws_lambda_function": ("function", live_lambda),
    "aws_iam_user": ("identity", live_iam_user),
    "aws_iam_role": ("identity", live_iam_role),
    "aws_iam_policy": ("access_policy", live_iam_policy),
    "aws_iam_account": ("account", live_account),
    "aws_s3_account_public_access_block": ("account", live_account_block),
    "aws_ebs_encryption_by_default": ("account", live_ebs_default),
    "aws_config_configuration_recorder": ("account", live_config_recorder),
    "aws_cloudwatch_event_rule": _live_service(_live_event_rule),
    "aws_cloudwatch_metric_alarm": _live_service(_live_metric_alarm),
    "aws_cloudwatch_log_metric_filter": _live_service(_live_metric_filter),
}
