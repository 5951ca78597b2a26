"""Which DynamoDB tables a CloudTrail trail records every item-level access of.

DynamoDB has no audit log of its own: reads and writes of items reach the audit trail only as
CloudTrail data events, which a trail's event selectors choose. So whether a table's access is
logged (LOG-005, PCI DSS 10.2.1.1) is a fact of the stage rather than of the table: each trail
says which tables it covers (`dynamodb_data_events`), and `settle` gives every table in the
inventory its `audit_logging` from the trails beside it.

Selectors read in one shape, whatever their source: an advanced selector is a mapping from a
field (`eventCategory`, `resources.type`, `resources.ARN`, `readOnly`, ...) to its conditions
(`equals`, `starts_with`, `not_equals`, ...); a basic selector is its read/write type and its
data resources.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from regops.model import Resource
from regops.normalize.common import blocks, dig, known

DYNAMODB_TABLE = "AWS::DynamoDB::Table"
# A basic selector's value for every table of the account.
_ALL_TABLES = {"arn:aws:dynamodb", "arn:aws:dynamodb:"}
_HALVES = {"All": {"read", "write"}, "ReadOnly": {"read"}, "WriteOnly": {"write"}}
_LIVE_OPERATORS = {
    "Equals": "equals",
    "StartsWith": "starts_with",
    "EndsWith": "ends_with",
    "NotEquals": "not_equals",
    "NotStartsWith": "not_starts_with",
    "NotEndsWith": "not_ends_with",
}

Conditions = Mapping[str, list[str]]
AdvancedSelector = Mapping[str, Conditions]
BasicSelector = tuple[str, list[tuple[str, list[str]]]]
Selectors = tuple[Sequence[AdvancedSelector], Sequence[BasicSelector]]


def _values(value: Any) -> list[str]:
    return [str(known(v)) for v in known(value) or []]


# Where each part of the selectors is, in Terraform's block names and in the API's answer.
_PLANNED_NAMES = {
    "advanced": "advanced_event_selector",
    "fields": "field_selector",
    "field": "field",
    "basic": "event_selector",
    "read_write": "read_write_type",
    "resources": "data_resource",
    "type": "type",
    "values": "values",
}
_LIVE_NAMES = {
    "advanced": "AdvancedEventSelectors",
    "fields": "FieldSelectors",
    "field": "Field",
    "basic": "EventSelectors",
    "read_write": "ReadWriteType",
    "resources": "DataResources",
    "type": "Type",
    "values": "Values",
}


def _selectors(document: Any, names: Mapping[str, str], operators: Mapping[str, str]) -> Selectors:
    """The selectors of a trail's block or answer, its parts found by `names` and its conditions'
    operators by `operators` (as spelled there, to the one shape)."""
    advanced = [
        {
            str(dig(field, names["field"])): {
                operator: _values(dig(field, key, default=[]))
                for key, operator in operators.items()
                if dig(field, key, default=[])
            }
            for field in blocks(selector, names["fields"])
        }
        for selector in blocks(document, names["advanced"])
    ]
    basic = [
        (
            str(dig(selector, names["read_write"], default="All")),
            [
                (str(dig(resource, names["type"])), _values(dig(resource, names["values"], default=[])))
                for resource in blocks(selector, names["resources"])
            ],
        )
        for selector in blocks(document, names["basic"])
    ]
    return advanced, basic


def planned_selectors(values: Mapping[str, Any]) -> Selectors:
    """An `aws_cloudtrail` block's selectors."""
    return _selectors(values, _PLANNED_NAMES, {name: name for name in _LIVE_OPERATORS.values()})


def live_selectors(answer: Any) -> Selectors:
    """A GetEventSelectors answer's selectors."""
    return _selectors(answer, _LIVE_NAMES, _LIVE_OPERATORS)


def _advanced_scopes(fields: AdvancedSelector) -> tuple[list[str], set[str]]:
    """The tables one advanced selector records, and which halves (reads, writes) of their access."""
    if fields.get("eventCategory") != {"equals": ["Data"]}:
        return [], set()
    if fields.get("resources.type") != {"equals": [DYNAMODB_TABLE]}:
        return [], set()
    if set(fields) - {"eventCategory", "resources.type", "resources.ARN", "readOnly"}:
        return [], set()  # narrowed by event name, source or caller: not every access
    arn = fields.get("resources.ARN")
    if arn is None:
        scopes = ["*"]
    elif set(arn) <= {"equals", "starts_with"}:
        scopes = [*arn.get("equals", []), *(f"{prefix}*" for prefix in arn.get("starts_with", []))]
    else:
        return [], set()  # exclusions: which tables remain is not a list this can give
    read_only = fields.get("readOnly")
    if read_only is None:
        return scopes, {"read", "write"}
    if read_only == {"equals": ["true"]}:
        return scopes, {"read"}
    if read_only == {"equals": ["false"]}:
        return scopes, {"write"}
    return [], set()


def dynamodb_scopes(advanced: Sequence[AdvancedSelector], basic: Sequence[BasicSelector]) -> list[str]:
    """The tables whose every item read and write the selectors record: `*` for every table,
    else table ARNs and ARN prefixes ending in `*`. Advanced selectors replace basic ones."""
    halves: dict[str, set[str]] = {}
    if advanced:
        for fields in advanced:
            scopes, recorded = _advanced_scopes(fields)
            for scope in scopes:
                halves.setdefault(scope, set()).update(recorded)
    else:
        for read_write, resources in basic:
            for kind, values in resources:
                if kind != DYNAMODB_TABLE:
                    continue
                for value in values:
                    scope = "*" if value in _ALL_TABLES else value
                    halves.setdefault(scope, set()).update(_HALVES.get(read_write, set()))
    return sorted(scope for scope, recorded in halves.items() if recorded == {"read", "write"})


def _covers(scope: str, table: Resource) -> bool | None:
    """Whether a scope holds the table; None where a planned table's ARN is not known yet."""
    if scope == "*":
        return True
    if table.origin == "live":
        return table.id == scope or (scope.endswith("*") and table.id.startswith(scope[:-1]))
    name = table.attributes.get("name")
    # The display of a planned value the plan does not know yet is a marker, not a name.
    if not isinstance(name, str) or name.startswith("(") or scope.endswith("*"):
        return None
    parts = scope.split(":")
    return len(parts) == 6 and parts[3] == table.region and parts[5] == f"table/{name}"


def _audited(table: Resource, trails: Iterable[Resource]) -> bool | None:
    undetermined = False
    for trail in trails:
        scopes = trail.facts.get("dynamodb_data_events")
        everywhere = trail.facts.get("covers_all_regions")
        if not isinstance(scopes, list) or not isinstance(everywhere, bool):
            undetermined = True
            continue
        if not everywhere and trail.region != table.region:
            continue
        for scope in scopes:
            covered = _covers(str(scope), table)
            if covered:
                return True
            undetermined = undetermined or covered is None
    return None if undetermined else False


def settle(resources: Sequence[Resource]) -> list[Resource]:
    """The inventory with each DynamoDB table's `audit_logging` decided by the stage's trails:
    true when a trail records its item reads and writes, false when none does, and left unknown
    when a trail's selectors or a planned table's ARN could not be read."""
    trails = [r for r in resources if r.native_type == "aws_cloudtrail"]
    settled = []
    for resource in resources:
        if resource.native_type == "aws_dynamodb_table" and resource.kind == "database":
            facts = {name: value for name, value in resource.facts.items() if name != "audit_logging"}
            audited = _audited(resource, trails)
            if audited is not None:
                facts["audit_logging"] = audited
            resource = replace(resource, facts=facts)
        settled.append(resource)
    return settled
