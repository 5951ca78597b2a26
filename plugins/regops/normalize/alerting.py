"""Security alerting: which categories of critical control-plane events an alert covers.

MON-003 and MON-004 ask for alerts on named categories of events, not for any alert. Each
category is the set of events it stands for: sample CloudTrail records (AWS), activity-log
operation names (Azure) and audit-log entries (GCP). A rule, metric filter or log filter
covers a category when it would match every one of its events; the normalisers give one
estate token per covered category, so `security_alerting_gaps` names the categories nobody
alerts on.

The patterns are evaluated, not searched: an EventBridge event pattern (its literal values
and the prefix, suffix, wildcard, equals-ignore-case, anything-but and exists filters, and
`$or`), a CloudWatch Logs JSON metric filter (`{ $.eventName = ... && ... || ... }`, with
`*` wildcards, `NOT EXISTS`, `IS NULL`), and a Cloud Logging query (comparisons, `:` and
`:*`, AND, OR binding tighter than AND, NOT, bare terms). Syntax regops does not read
(numeric and CIDR filters, space-delimited metric filters, regular expressions it cannot
compile) matches nothing: an alert nobody can show to fire counts for no category.

A metric filter or a log-based metric alerts nobody by itself: it provides its categories
only `when` an alarm or alert policy with somebody to notify watches its metric
(`conditional` tokens, resolved in normalize/estate.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from regops.normalize.common import Unknown, known


class _Unsupported(Exception):
    """Pattern syntax regops does not evaluate: the pattern matches nothing."""


# AWS: CloudTrail records ----------------------------------------------------------------------

_SOURCE_IP = "198.51.100.7"
# Global services: CloudTrail records their calls, and EventBridge delivers them, in us-east-1.
AWS_GLOBAL_REGION = "us-east-1"
_GLOBAL_SERVICES = frozenset({"iam", "signin"})


def _api_calls(service: str, *names: str, **fields: Any) -> tuple[dict[str, Any], ...]:
    return tuple(
        {
            "eventVersion": "1.09",
            "eventSource": f"{service}.amazonaws.com",
            "eventName": name,
            "eventType": "AwsApiCall",
            "awsRegion": AWS_GLOBAL_REGION if service in _GLOBAL_SERVICES else "eu-central-1",
            "sourceIPAddress": _SOURCE_IP,
            "userIdentity": {"type": "AssumedRole", "principalId": "AROAEXAMPLE:operator"},
            "readOnly": False,
            "managementEvent": True,
            **fields,
        }
        for name in names
    )


def _console_login(identity: str, mfa: str) -> dict[str, Any]:
    return {
        "eventVersion": "1.09",
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "eventType": "AwsConsoleSignIn",
        "awsRegion": AWS_GLOBAL_REGION,
        "sourceIPAddress": _SOURCE_IP,
        "userIdentity": {"type": identity},
        "responseElements": {"ConsoleLogin": "Success"},
        "additionalEventData": {"MFAUsed": mfa},
        "managementEvent": True,
    }


# CIS AWS Foundations v3.0.0 section 4, one category per recommendation regops checks.
AWS_SECURITY_EVENTS: dict[str, tuple[dict[str, Any], ...]] = {
    # 4.1
    "unauthorized_api_calls": (
        *_api_calls("ec2", "RunInstances", errorCode="Client.UnauthorizedOperation"),
        *_api_calls("s3", "PutBucketPolicy", errorCode="AccessDenied"),
    ),
    # 4.2
    "console_signin_without_mfa": (_console_login("IAMUser", "No"),),
    # 4.3
    "root_account_use": (
        _console_login("Root", "Yes"),
        *_api_calls("iam", "CreateAccessKey", userIdentity={"type": "Root", "principalId": "123456789012"}),
    ),
    # 4.4
    "iam_policy_changes": _api_calls(
        "iam",
        "DeleteGroupPolicy",
        "DeleteRolePolicy",
        "DeleteUserPolicy",
        "PutGroupPolicy",
        "PutRolePolicy",
        "PutUserPolicy",
        "CreatePolicy",
        "DeletePolicy",
        "CreatePolicyVersion",
        "DeletePolicyVersion",
        "AttachRolePolicy",
        "DetachRolePolicy",
        "AttachUserPolicy",
        "DetachUserPolicy",
        "AttachGroupPolicy",
        "DetachGroupPolicy",
    ),
    # 4.5
    "cloudtrail_changes": _api_calls(
        "cloudtrail", "CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging"
    ),
    # 4.7
    "cmk_disable_or_deletion": _api_calls("kms", "DisableKey", "ScheduleKeyDeletion"),
    # 4.9
    "config_changes": _api_calls(
        "config",
        "StopConfigurationRecorder",
        "DeleteDeliveryChannel",
        "PutDeliveryChannel",
        "PutConfigurationRecorder",
    ),
    # 4.10
    "security_group_changes": _api_calls(
        "ec2",
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress",
        "CreateSecurityGroup",
        "DeleteSecurityGroup",
    ),
    # 4.11
    "nacl_changes": _api_calls(
        "ec2",
        "CreateNetworkAcl",
        "CreateNetworkAclEntry",
        "DeleteNetworkAcl",
        "DeleteNetworkAclEntry",
        "ReplaceNetworkAclEntry",
        "ReplaceNetworkAclAssociation",
    ),
    # 4.12
    "network_gateway_changes": _api_calls(
        "ec2",
        "CreateCustomerGateway",
        "DeleteCustomerGateway",
        "AttachInternetGateway",
        "CreateInternetGateway",
        "DeleteInternetGateway",
        "DetachInternetGateway",
    ),
    # 4.13
    "route_table_changes": _api_calls(
        "ec2",
        "CreateRoute",
        "CreateRouteTable",
        "ReplaceRoute",
        "ReplaceRouteTableAssociation",
        "DeleteRouteTable",
        "DeleteRoute",
        "DisassociateRouteTable",
    ),
    # 4.14
    "vpc_changes": _api_calls(
        "ec2",
        "CreateVpc",
        "DeleteVpc",
        "ModifyVpcAttribute",
        "AcceptVpcPeeringConnection",
        "CreateVpcPeeringConnection",
        "DeleteVpcPeeringConnection",
        "RejectVpcPeeringConnection",
        "AttachClassicLinkVpc",
        "DetachClassicLinkVpc",
        "DisableVpcClassicLink",
        "EnableVpcClassicLink",
    ),
}

# MON-004: the calls that switch audit logging or configuration recording off or blind them.
AWS_TAMPER_EVENTS: dict[str, tuple[dict[str, Any], ...]] = {
    "trail_tampering": _api_calls(
        "cloudtrail", "StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors"
    ),
    "recorder_tampering": _api_calls("config", "StopConfigurationRecorder", "DeleteDeliveryChannel"),
}

# Every category an alert is judged against, MON-003's and MON-004's.
AWS_ALERT_EVENTS = {**AWS_SECURITY_EVENTS, **AWS_TAMPER_EVENTS}

# The categories whose every event is a global service's: an EventBridge rule sees them only in
# us-east-1, and there it sees them for the whole account. Every other category's events happen
# in each region, and a rule sees only its own region's.
AWS_ACCOUNT_WIDE_CATEGORIES = frozenset(
    category
    for category, events in AWS_ALERT_EVENTS.items()
    if all(event["awsRegion"] == AWS_GLOBAL_REGION for event in events)
)


def _eventbridge_event(record: Mapping[str, Any]) -> dict[str, Any]:
    """The event EventBridge's default bus carries for a CloudTrail record."""
    source = str(record["eventSource"]).split(".", 1)[0]
    sign_in = record["eventType"] == "AwsConsoleSignIn"
    return {
        "version": "0",
        "detail-type": "AWS Console Sign In via CloudTrail" if sign_in else "AWS API Call via CloudTrail",
        "source": f"aws.{source}",
        "region": record["awsRegion"],
        "resources": [],
        "detail": dict(record),
    }


def _categories(
    matches: Callable[[Mapping[str, Any]], bool], events: Mapping[str, Sequence[Mapping[str, Any]]]
) -> list[str]:
    return [name for name, samples in events.items() if all(matches(sample) for sample in samples)]


def _pattern_categories(
    text: Any,
    read: Callable[[str], Callable[[Mapping[str, Any]], bool]],
    events: Mapping[str, Sequence[Mapping[str, Any]]],
    unreadable: tuple[type[Exception], ...] = (_Unsupported,),
) -> list[str]:
    """The categories whose every sample a pattern's text matches, `read` making the text a
    matcher; none for what is no text, or a pattern regops does not read (`unreadable`)."""
    if not isinstance(text, str):
        return []
    try:
        return _categories(read(text), events)
    except unreadable:
        return []


def _tokens(grammar: re.Pattern[str], text: str) -> list[tuple[str, str]]:
    """(kind, text) of each token of a filter, the kind being the name of the grammar's group that
    matched; a filter with anything the grammar does not know is not read."""
    tokens, position, text = [], 0, text.strip()
    while position < len(text):
        match = grammar.match(text, position)
        if not match or match.end() == position:
            raise _Unsupported
        position = match.end()
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
    return tokens


def _wildcard(pattern: str, text: str, ignore_case: bool = False) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, text, re.I if ignore_case else 0) is not None


def _eb_filter(matcher: Any, present: bool, value: Any) -> bool:
    """One element of an EventBridge pattern's value list against one event value."""
    if not isinstance(matcher, Mapping):
        if isinstance(matcher, list):
            raise _Unsupported
        return present and type(matcher) is type(value) and matcher == value
    if len(matcher) != 1:
        raise _Unsupported
    ((operator, operand),) = matcher.items()
    if operator == "exists":
        if not isinstance(operand, bool):
            raise _Unsupported
        return present is operand
    if not present:
        return False
    if operator == "anything-but":
        operands = operand if isinstance(operand, list) else [operand]
        return not any(_eb_filter(o, present, value) for o in operands)
    ignore_case = operator == "equals-ignore-case"
    if operator in {"prefix", "suffix"} and isinstance(operand, Mapping):
        # {"prefix": {"equals-ignore-case": "..."}}
        operand = operand.get("equals-ignore-case") if len(operand) == 1 else None
        ignore_case = True
    if operator not in {"prefix", "suffix", "equals-ignore-case", "wildcard"} or not isinstance(operand, str):
        raise _Unsupported  # numeric and cidr filters, and what AWS does not define
    if not isinstance(value, str):
        return False
    text, wanted = (value.lower(), operand.lower()) if ignore_case else (value, operand)
    if operator == "prefix":
        return text.startswith(wanted)
    if operator == "suffix":
        return text.endswith(wanted)
    if operator == "wildcard":
        return _wildcard(wanted, text)
    return text == wanted


def _eb_match(pattern: Any, event: Any) -> bool:
    if not isinstance(pattern, Mapping) or not pattern:
        raise _Unsupported
    for key, rule in pattern.items():
        if key == "$or":
            if not isinstance(rule, list) or not rule:
                raise _Unsupported
            if not any(_eb_match(alternative, event) for alternative in rule):
                return False
            continue
        present = isinstance(event, Mapping) and key in event
        value = event.get(key) if present else None
        if isinstance(rule, Mapping):
            if not present or not isinstance(value, Mapping) or not _eb_match(rule, value):
                return False
        elif isinstance(rule, list) and rule:
            values = value if isinstance(value, list) else [value]
            if not any(_eb_filter(m, present, v) for m in rule for v in values or [None]):
                return False
        else:
            raise _Unsupported
    return True


def aws_event_pattern_categories(
    pattern: Any, events: Mapping[str, Sequence[Mapping[str, Any]]]
) -> list[str]:
    """The categories an EventBridge rule's `event_pattern` (JSON text) matches every event of."""

    def read(text: str) -> Callable[[Mapping[str, Any]], bool]:
        document = json.loads(text)
        return lambda record: _eb_match(document, _eventbridge_event(record))

    # A pattern is interpreted as it is matched: what it does not support shows only then.
    return _pattern_categories(known(pattern), read, events, (ValueError, _Unsupported, RecursionError))


# CloudWatch Logs JSON metric filters.

_CW_TOKEN = re.compile(
    r"""\s*(?:
        (?P<punct>&&|\|\||!=|<=|>=|[{}()=<>])
      | (?P<selector>\$(?:\.[A-Za-z0-9_@:-]+|\[\d+\])*)
      | "(?P<quoted>(?:[^"\\]|\\.)*)"
      | (?P<word>[^\s(){}&|=!<>"]+)
    )""",
    re.X,
)
_MISSING: Any = object()


def _cw_select(record: Any, selector: str) -> Any:
    current = record
    for step in re.findall(r"\.([^.\[]+)|\[(\d+)\]", selector[1:]):
        key, index = step
        if key and isinstance(current, Mapping) and key in current:
            current = current[key]
        elif index and isinstance(current, list) and int(index) < len(current):
            current = current[int(index)]
        else:
            return _MISSING
    return current


Predicate = Callable[[Any], bool]


class _Parser:
    """Reads a pattern's tokens by recursive descent; running out of them, like any syntax it does
    not know, raises _Unsupported."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.position = 0

    def _peek(self, offset: int = 0) -> tuple[str, str] | None:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise _Unsupported
        self.position += 1
        return token

    def _joined(
        self,
        operator: tuple[str, str],
        operand: Callable[[], Predicate],
        combine: Callable[[Iterable[bool]], bool],
    ) -> Predicate:
        """Operands between `operator` tokens, their values combined (`any` for OR, `all` for AND)."""
        terms = [operand()]
        while self._peek() == operator:
            self._take()
            terms.append(operand())
        return lambda record: combine(term(record) for term in terms)


class _MetricFilter(_Parser):
    """`{ <expression> }` of CloudWatch Logs JSON filter syntax, as a predicate on a record."""

    def __init__(self, text: str) -> None:
        super().__init__(_tokens(_CW_TOKEN, text))
        if self._take() != ("punct", "{"):
            raise _Unsupported  # a term or space-delimited filter: not read
        self.expression = self._or()
        if self._take() != ("punct", "}") or self.position != len(self.tokens):
            raise _Unsupported

    def _or(self) -> Predicate:
        return self._joined(("punct", "||"), self._and, any)

    def _and(self) -> Predicate:
        return self._joined(("punct", "&&"), self._term, all)

    def _term(self) -> Predicate:
        token = self._take()
        if token == ("punct", "("):
            inner = self._or()
            if self._take() != ("punct", ")"):
                raise _Unsupported
            return inner
        if token[0] != "selector":
            raise _Unsupported
        selector = token[1]
        operator = self._take()
        if operator in {("word", "NOT"), ("word", "not")}:
            if self._take() not in {("word", "EXISTS"), ("word", "exists")}:
                raise _Unsupported
            return lambda record: _cw_select(record, selector) is _MISSING
        if operator in {("word", "IS"), ("word", "is")}:
            value = self._take()
            wanted = {"TRUE": True, "FALSE": False, "NULL": None}.get(value[1].upper(), _MISSING)
            if wanted is _MISSING:
                raise _Unsupported
            return lambda record: _cw_select(record, selector) is wanted
        if operator[0] != "punct" or operator[1] not in {"=", "!=", "<", ">", "<=", ">="}:
            raise _Unsupported
        value = self._take()
        if value[0] not in {"quoted", "word"}:
            raise _Unsupported
        return self._comparison(selector, operator[1], value)

    @staticmethod
    def _comparison(selector: str, operator: str, value: tuple[str, str]) -> Predicate:
        kind, text = value
        number: float | None = None
        if kind == "word":
            try:
                number = float(text)
            except ValueError:
                number = None

        def compare(record: Any) -> bool:
            found = _cw_select(record, selector)
            if found is _MISSING or found is None or isinstance(found, Mapping | list):
                return False
            if operator in {"=", "!="}:
                if number is not None and isinstance(found, int | float) and not isinstance(found, bool):
                    equal = found == number
                else:
                    equal = _wildcard(text, str(found))
                return equal if operator == "=" else not equal
            if number is None or not isinstance(found, int | float) or isinstance(found, bool):
                return False
            return {"<": found < number, ">": found > number, "<=": found <= number, ">=": found >= number}[
                operator
            ]

        return compare


def aws_metric_filter_categories(
    pattern: Any, events: Mapping[str, Sequence[Mapping[str, Any]]]
) -> list[str]:
    """The categories a CloudWatch Logs metric filter `pattern` matches every CloudTrail record of."""
    return _pattern_categories(known(pattern), lambda text: _MetricFilter(text).expression, events)


# Azure: activity-log operations -------------------------------------------------------------

# CIS Azure Foundations v3.0.0 6.2.1-6.2.10: one activity-log alert per operation.
AZURE_SECURITY_OPERATIONS: dict[str, str] = {
    "policy_assignment_write": "Microsoft.Authorization/policyAssignments/write",
    "policy_assignment_delete": "Microsoft.Authorization/policyAssignments/delete",
    "nsg_write": "Microsoft.Network/networkSecurityGroups/write",
    "nsg_delete": "Microsoft.Network/networkSecurityGroups/delete",
    "security_solution_write": "Microsoft.Security/securitySolutions/write",
    "security_solution_delete": "Microsoft.Security/securitySolutions/delete",
    "sql_firewall_rule_write": "Microsoft.Sql/servers/firewallRules/write",
    "sql_firewall_rule_delete": "Microsoft.Sql/servers/firewallRules/delete",
    "public_ip_write": "Microsoft.Network/publicIPAddresses/write",
    "public_ip_delete": "Microsoft.Network/publicIPAddresses/delete",
}

# MON-004: changing or deleting the diagnostic settings that export the activity log.
AZURE_TAMPER_OPERATIONS: dict[str, str] = {
    "diagnostic_settings_write": "Microsoft.Insights/diagnosticSettings/write",
    "diagnostic_settings_delete": "Microsoft.Insights/diagnosticSettings/delete",
}
AZURE_ALERT_OPERATIONS = {**AZURE_SECURITY_OPERATIONS, **AZURE_TAMPER_OPERATIONS}

_SUBSCRIPTION = re.compile(r"/subscriptions/[^/]+/?", re.I)


def azure_alert_categories(
    conditions: Iterable[tuple[str, Any]], scopes: Any, operations: Mapping[str, str]
) -> list[str]:
    """The categories an enabled activity-log alert with an action group covers.

    `conditions` are (field, allowed value or values) that must all hold, in ARM's field names
    (`category`, `operationName`, `resourceType`, `caller`, ...); None, "" or [] leaves a field
    unrestricted. The alert covers an operation when its conditions admit every event of that
    operation in a whole subscription: an operation name among the allowed ones, the
    Administrative category, the operation's resource provider and type, and no caller, level,
    status, resource group or resource narrowing it. An unknown value that could hide the
    answer leaves it unknown.
    """

    def allowed_values(allowed: Any) -> list[str]:
        allowed = known(allowed)
        if allowed is None or allowed == "":
            return []
        values = list(allowed) if isinstance(allowed, list | tuple) else [allowed]
        return [str(known(v)).lower() for v in values]

    conditions = list(conditions)
    names = {
        v
        for field, allowed in conditions
        if field.lower() == "operationname"
        for v in allowed_values(allowed)
    }
    covered = [token for token, operation in operations.items() if operation.lower() in names]
    if not covered:
        return []
    restrictions = [
        (field.lower(), values)
        for field, allowed in conditions
        if field.lower() != "operationname" and (values := allowed_values(allowed))
    ]
    if not any(_SUBSCRIPTION.fullmatch(str(known(scope))) for scope in known_list(scopes)):
        return []  # scoped to a resource group or a resource: the rest of the subscription is unwatched

    def admitted(operation: str) -> bool:
        operation = operation.lower()
        provider = operation.split("/", 1)[0]
        resource_type = operation.rsplit("/", 1)[0]
        for field, values in restrictions:
            if field == "category":
                ok = "administrative" in values
            elif field == "resourceprovider":
                ok = provider in values
            elif field == "resourcetype":
                ok = resource_type in values
            else:
                ok = False  # caller, level, status, resource group, resource: narrowed
            if not ok:
                return False
        return True

    return [token for token in covered if admitted(operations[token])]


# GCP: audit-log entries ---------------------------------------------------------------------


def _audit(resource_type: str, service: str, *methods: str, **payload: Any) -> tuple[dict[str, Any], ...]:
    return tuple(
        {
            "logName": "projects/payments/logs/cloudaudit.googleapis.com%2Factivity",
            "severity": "NOTICE",
            "resource": {"type": resource_type, "labels": {"project_id": "payments"}},
            "protoPayload": {
                "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
                "serviceName": service,
                "methodName": method,
                "authenticationInfo": {"principalEmail": "operator@payments.example"},
                **payload,
            },
        }
        for method in methods
    )


def _owner_delta(action: str) -> dict[str, Any]:
    return {
        "policyDelta": {
            "bindingDeltas": [{"action": action, "role": "roles/owner", "member": "user:x@ex.com"}]
        }
    }


_AUDIT_CONFIG_CHANGE = _audit(
    "project",
    "cloudresourcemanager.googleapis.com",
    "SetIamPolicy",
    serviceData={
        "policyDelta": {
            "auditConfigDeltas": [{"action": "REMOVE", "service": "allServices", "logType": "DATA_READ"}]
        }
    },
)

# CIS GCP Foundations v3.0.0 2.4-2.11.
GCP_SECURITY_EVENTS: dict[str, tuple[dict[str, Any], ...]] = {
    "project_ownership_changes": (
        *_audit(
            "project", "cloudresourcemanager.googleapis.com", "SetIamPolicy", serviceData=_owner_delta("ADD")
        ),
        *_audit(
            "project",
            "cloudresourcemanager.googleapis.com",
            "SetIamPolicy",
            serviceData=_owner_delta("REMOVE"),
        ),
    ),
    "audit_config_changes": _AUDIT_CONFIG_CHANGE,
    "custom_role_changes": _audit(
        "iam_role",
        "iam.googleapis.com",
        "google.iam.admin.v1.CreateRole",
        "google.iam.admin.v1.DeleteRole",
        "google.iam.admin.v1.UpdateRole",
    ),
    "firewall_rule_changes": _audit(
        "gce_firewall_rule",
        "compute.googleapis.com",
        "v1.compute.firewalls.insert",
        "v1.compute.firewalls.patch",
        "v1.compute.firewalls.delete",
    ),
    "route_changes": _audit(
        "gce_route", "compute.googleapis.com", "v1.compute.routes.insert", "v1.compute.routes.delete"
    ),
    "network_changes": _audit(
        "gce_network",
        "compute.googleapis.com",
        "v1.compute.networks.insert",
        "v1.compute.networks.patch",
        "v1.compute.networks.delete",
        "v1.compute.networks.removePeering",
        "v1.compute.networks.addPeering",
    ),
    "storage_iam_changes": _audit("gcs_bucket", "storage.googleapis.com", "storage.setIamPermissions"),
    "sql_config_changes": _audit("cloudsql_database", "cloudsql.googleapis.com", "cloudsql.instances.update"),
}

# MON-004: audit configuration changes (CIS GCP 2.5) switch data-access logging off.
GCP_TAMPER_EVENTS: dict[str, tuple[dict[str, Any], ...]] = {"audit_config_changes": _AUDIT_CONFIG_CHANGE}
GCP_ALERT_EVENTS = {**GCP_SECURITY_EVENTS, **GCP_TAMPER_EVENTS}


_LQ_TOKEN = re.compile(
    r"""\s*(?:
        (?P<punct>[()]|!=|=~|!~|<=|>=|[=:<>])
      | "(?P<quoted>(?:[^"\\]|\\.)*)"
      | (?P<word>[^\s()"=:<>!]+|!)
    )""",
    re.X,
)
_LQ_OPERATORS = frozenset({"=", "!=", ":", "=~", "!~", "<", ">", "<=", ">="})


def _lq_tokens(text: str) -> list[tuple[str, str]]:
    return [
        (kind, value.replace('\\"', '"') if kind == "quoted" else value)
        for kind, value in _tokens(_LQ_TOKEN, text)
    ]


def _lq_values(entry: Any, path: Sequence[str]) -> list[Any]:
    """Every value at `path`, through repeated fields."""
    current = [entry]
    for step in path:
        following: list[Any] = []
        for item in current:
            items = item if isinstance(item, list) else [item]
            following.extend(i[step] for i in items if isinstance(i, Mapping) and step in i)
        current = following
    flat: list[Any] = []
    for item in current:
        flat.extend(item if isinstance(item, list) else [item])
    return flat


def _leaves(value: Any) -> Iterable[str]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif value is not None:
        yield str(value)


class _LogQuery(_Parser):
    """A Cloud Logging query as a predicate on a log entry."""

    def __init__(self, text: str) -> None:
        super().__init__(_lq_tokens(text))
        self.expression = self._and() if self.tokens else (lambda entry: True)
        if self.position != len(self.tokens):
            raise _Unsupported

    def _and(self) -> Predicate:
        # Juxtaposition is AND; OR binds tighter than AND in the Logging query language.
        terms = [self._or()]
        while (token := self._peek()) is not None and token != ("punct", ")"):
            if token == ("word", "AND"):
                self._take()
            terms.append(self._or())
        return lambda entry: all(term(entry) for term in terms)

    def _or(self) -> Predicate:
        return self._joined(("word", "OR"), self._not, any)

    def _not(self) -> Predicate:
        token = self._peek()
        if token == ("word", "NOT"):
            self._take()
            inner = self._not()
            return lambda entry: not inner(entry)
        if token is not None and token[0] == "word" and token[1].startswith("-") and len(token[1]) > 1:
            self.tokens[self.position] = ("word", token[1][1:])
            inner = self._not()
            return lambda entry: not inner(entry)
        return self._primary()

    def _primary(self) -> Predicate:
        token = self._take()
        if token == ("punct", "("):
            inner = self._and()
            if self._take() != ("punct", ")"):
                raise _Unsupported
            return inner
        following = self._peek()
        if (
            token[0] == "word"
            and following is not None
            and following[0] == "punct"
            and following[1] in _LQ_OPERATORS
        ):
            self._take()
            return self._comparison(token[1], following[1], self._take())
        if token[0] in {"word", "quoted"} and token[1] not in {"AND", "OR", "NOT"}:
            term = token[1].lower()
            return lambda entry: any(term in leaf.lower() for leaf in _leaves(entry))
        raise _Unsupported

    @staticmethod
    def _comparison(field: str, operator: str, value: tuple[str, str]) -> Predicate:
        if value[0] not in {"word", "quoted"}:
            raise _Unsupported
        path = [part.strip('"') for part in re.findall(r'"[^"]*"|[^.]+', field)]
        wanted = value[1]
        if operator == ":" and value == ("word", "*"):
            return lambda entry: bool(_lq_values(entry, path))
        if operator in {"=~", "!~"}:
            try:
                regex = re.compile(wanted)
            except re.error:
                raise _Unsupported from None
        if operator in {"<", ">", "<=", ">="}:
            raise _Unsupported

        def compare(entry: Any) -> bool:
            found = [str(v) for v in _lq_values(entry, path) if not isinstance(v, Mapping | list)]
            if operator == "=":
                return wanted in found
            if operator == "!=":
                return bool(found) and wanted not in found
            if operator == ":":
                return any(wanted.lower() in v.lower() for v in found)
            if operator == "=~":
                return any(regex.search(v) for v in found)
            return bool(found) and not any(regex.search(v) for v in found)

        return compare


def gcp_log_filter_categories(text: Any, events: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """The categories a Cloud Logging filter (a log-based metric's, a log-match condition's)
    matches every audit-log entry of. An empty filter matches every entry."""
    text = known(text)
    return _pattern_categories("" if text is None else text, lambda text: _LogQuery(text).expression, events)


_USER_METRIC = re.compile(r'metric\.type\s*=\s*"logging\.googleapis\.com/user/([^"]+)"')


def gcp_watched_metrics(filter_text: Any, comparison: Any, threshold: Any) -> list[str]:
    """The log-based metrics a threshold condition alerts on at their first matching entry:
    `metric.type="logging.googleapis.com/user/<name>"`, a count above zero (or at least one)."""
    text = known(filter_text)
    if not isinstance(text, str):
        return []
    names = _USER_METRIC.findall(text)
    if not names or re.search(r"\b(OR|NOT)\b|metric\.labels?\.", text):
        # a filter that selects by metric labels or combines metric types: not read
        return []
    comparison = str(known(comparison) or "")
    threshold = known(threshold)
    value = 0.0 if threshold is None else float(threshold)
    fires = (comparison == "COMPARISON_GT" and value < 1) or (comparison == "COMPARISON_GE" and value <= 1)
    return [f"log_metric:{name}" for name in names] if fires else []


def known_list(value: Any) -> list[Any]:
    """A list whose length the source knows, even where its items are known only after apply."""
    value = known(value)
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise Unknown
    return list(value)
