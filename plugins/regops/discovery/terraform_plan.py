"""Planned resources from the JSON of `terraform show -json PLAN`.

Every value the plan marks unknown ("known after apply") or sensitive reaches the
normalisers as `UNKNOWN`, so no fact is ever derived from it, and reaches the inventory only
as a placeholder text, so a secret cannot surface in evidence, messages or reports.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from regops.model import PLANNED_DELETION, STATEFUL_KINDS, UNKNOWN, Discovery, Resource, SourceReport
from regops.normalize.common import (
    CONFIGURATION,
    REGION,
    Join,
    Joined,
    PlannedType,
    Unknown,
    json_text,
    secret_bearing,
    secret_pair_values,
    tags_fit_for_evidence,
)

SENSITIVE_TEXT = "(sensitive value)"
UNKNOWN_TEXT = "(known after apply)"
WITHHELD_TEXT = "(value withheld)"
# Values providers do not mark sensitive that still carry secrets in practice: every value of
# an environment or app-settings map (as live discovery withholds a function's environment).
# Settings named like credentials or boot scripts are withheld wherever they are.
_ENVIRONMENT_KEYS = frozenset({"variables", "environment_variables", "app_settings"})

_PREFIXES = (
    ("aws_", "aws"),
    ("azurerm_", "azure"),
    ("google_", "gcp"),
    ("github_", "github"),
    ("gitlab_", "gitlab"),
)
# Terraform's plan actions; "forget" (1.7+) drops a resource from state and leaves it running.
ACTIONS = frozenset({"no-op", "create", "read", "update", "delete", "forget"})
# Actions after which the resource exists and is managed by this configuration.
STAYING = frozenset({"no-op", "create", "read", "update"})
_INDEX = re.compile(r"\[[^\]]*\]$")


class PlanError(Exception):
    """The plan file cannot be read as Terraform plan JSON."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def _cloud(provider: str) -> Any:
    """The normaliser module of a provider regops reads, None for other Terraform providers."""
    if provider not in {"aws", "azure", "gcp", "github", "gitlab"}:
        return None
    return importlib.import_module(f"regops.normalize.{provider}")


def provider_of(native_type: str) -> str:
    for prefix, provider in _PREFIXES:
        if native_type.startswith(prefix):
            return provider
    return "terraform"


def overlay(value: Any, unknown: Any, sensitive: Any) -> tuple[Any, Any]:
    """(value for normalisers, value for display) with unknown and sensitive leaves masked.

    `unknown` and `sensitive` mirror the shape of `value` (Terraform's after_unknown and
    after_sensitive): `true` at a node masks the node and everything below it.
    """
    if sensitive is True:
        return UNKNOWN, SENSITIVE_TEXT
    if unknown is True:
        return UNKNOWN, UNKNOWN_TEXT
    if isinstance(value, Mapping) or isinstance(unknown, Mapping) or isinstance(sensitive, Mapping):
        value = value if isinstance(value, Mapping) else {}
        unknown = unknown if isinstance(unknown, Mapping) else {}
        sensitive = sensitive if isinstance(sensitive, Mapping) else {}
        view: dict[str, Any] = {}
        display: dict[str, Any] = {}
        for key in sorted(
            {*value, *(k for k, v in unknown.items() if v), *(k for k, v in sensitive.items() if v)}
        ):
            view[str(key)], display[str(key)] = overlay(value.get(key), unknown.get(key), sensitive.get(key))
        return view, display
    if isinstance(value, list) or isinstance(unknown, list) or isinstance(sensitive, list):
        value = value if isinstance(value, list) else []
        unknown = unknown if isinstance(unknown, list) else []
        sensitive = sensitive if isinstance(sensitive, list) else []
        pairs = [
            overlay(
                value[i] if i < len(value) else None,
                unknown[i] if i < len(unknown) else None,
                sensitive[i] if i < len(sensitive) else None,
            )
            for i in range(max(len(value), len(unknown), len(sensitive)))
        ]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    return value, value


def withheld(display: Any, everything: bool = False) -> Any:
    """The display value with secret-bearing strings replaced, inside JSON text too (an ECS task's
    container definitions hold its environment); facts never read it."""
    if isinstance(display, Mapping):
        shown: dict[str, Any] = {}
        pairs = secret_pair_values(display)
        for key, value in display.items():
            if isinstance(value, str) and (everything or secret_bearing(key) or key in pairs):
                shown[key] = value if value in ("", SENSITIVE_TEXT, UNKNOWN_TEXT) else WITHHELD_TEXT
            else:
                # Blocks under a credential's name (`connection_string { name, value }`) hold it
                # in fields of their own.
                shown[key] = withheld(value, key in _ENVIRONMENT_KEYS or secret_bearing(key))
        return shown
    if isinstance(display, list):
        return [withheld(value, everything) for value in display]
    if isinstance(display, str) and (document := json_text(display)) is not None:
        shown_document = withheld(document, everything)
        return display if shown_document == document else json.dumps(shown_document)
    return display


@dataclass
class _Block:
    address: str
    native_type: str
    name: str
    index: Any
    module: str  # module instance prefix, "" at the root: "module.a[0].module.b"
    view: Mapping[str, Any]
    display: Mapping[str, Any]
    expressions: Mapping[str, Any]
    provider_key: str | None
    # Whether the plan's configuration section has this block (hand-written plans may not).
    configured: bool
    related: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict)
    components: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    # The block a non-absorbing join points at (a key's vault): where its region comes from.
    linked: _Block | None = None
    action: str = "create"
    # A data source the plan read: something a block may see (the policy an attachment names),
    # never a resource of the stage and never folded into.
    data: bool = False

    @property
    def local_name(self) -> str:
        return f"{'data.' if self.data else ''}{self.native_type}.{self.name}"


def _module_path(module_address: str) -> tuple[str, ...]:
    """'module.a[0].module.b["x"]' -> ('a', 'b'): the configuration path, instance keys dropped."""
    names = []
    for part in re.findall(r"module\.([A-Za-z0-9_-]+)(?:\[[^\]]*\])?", module_address):
        names.append(part)
    return tuple(names)


class _Configuration:
    """Expressions and provider settings from the plan's `configuration` section."""

    def __init__(self, configuration: Mapping[str, Any]) -> None:
        self.modules: dict[tuple[str, ...], dict[str, Mapping[str, Any]]] = {}
        self.provider_regions: dict[str, str] = {}
        providers = configuration.get("provider_config") or {}
        for key, provider in providers.items() if isinstance(providers, Mapping) else ():
            expressions = provider.get("expressions") if isinstance(provider, Mapping) else None
            region = (expressions or {}).get("region") or (expressions or {}).get("location")
            if isinstance(region, Mapping) and isinstance(region.get("constant_value"), str):
                self.provider_regions[str(key)] = region["constant_value"]
        self._walk(configuration.get("root_module") or {}, ())

    def _walk(self, module: Mapping[str, Any], path: tuple[str, ...]) -> None:
        resources = self.modules.setdefault(path, {})
        for resource in module.get("resources") or ():
            if isinstance(resource, Mapping) and resource.get("mode", "managed") == "managed":
                resources[f"{resource.get('type')}.{resource.get('name')}"] = resource
        for name, call in (module.get("module_calls") or {}).items():
            if isinstance(call, Mapping):
                self._walk(call.get("module") or {}, (*path, str(name)))

    def resource(self, module: str, local_name: str) -> Mapping[str, Any]:
        return self.modules.get(_module_path(module), {}).get(local_name, {})

    def region(self, provider_key: str | None) -> str | None:
        if not provider_key:
            return None
        if provider_key in self.provider_regions:
            return self.provider_regions[provider_key]
        # Inside modules the key reads "module_name:aws"; the provider is passed down.
        return self.provider_regions.get(provider_key.rsplit(":", 1)[-1])


def _references(expressions: Mapping[str, Any], attribute: str) -> list[str]:
    expression = expressions.get(attribute)
    if isinstance(expression, Mapping):
        refs = expression.get("references") or []
        return [str(r) for r in refs]
    return []


def _load(path: Path) -> tuple[Mapping[str, Any], str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PlanError(path, f"cannot read the plan: {exc.strerror or exc}") from None
    digest = hashlib.sha256(raw).hexdigest()
    try:
        plan = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PlanError(path, f"not valid JSON ({exc}); expected `terraform show -json` output") from None
    except RecursionError:
        raise PlanError(path, "nested too deeply to be Terraform plan JSON") from None
    if not isinstance(plan, Mapping) or "format_version" not in plan:
        raise PlanError(
            path, "not a Terraform plan: no `format_version` (expected `terraform show -json` output)"
        )
    version = plan["format_version"]
    if not isinstance(version, str) or not re.fullmatch(r"[01]\.\d+", version):
        # A new major version may move what regops reads; judging it anyway could pass blind.
        raise PlanError(path, f"format_version {version!r} is not one regops reads (0.x or 1.x)")
    if not any(key in plan for key in ("resource_changes", "planned_values", "values")):
        raise PlanError(path, "not a Terraform plan: no `resource_changes`, `planned_values` or `values`")
    if not isinstance(plan.get("resource_changes", []), list):
        raise PlanError(path, "`resource_changes` is not a list")
    for section in ("configuration", "prior_state"):
        if not isinstance(plan.get(section, {}), Mapping):
            raise PlanError(path, f"`{section}` is not an object")
    return plan, digest


def _is_action(value: Any) -> bool:
    return isinstance(value, str) and value in ACTIONS


def _changes(plan: Mapping[str, Any], path: Path) -> Iterator[tuple[Mapping[str, Any], Any, Any, Any]]:
    """(resource, after, after_unknown, after_sensitive) for each managed resource that stays."""
    if "resource_changes" in plan:
        for position, entry in enumerate(plan["resource_changes"]):
            change = entry.get("change") if isinstance(entry, Mapping) else None
            if not isinstance(change, Mapping) or "address" not in entry or "type" not in entry:
                raise PlanError(path, f"resource_changes[{position}] has no address, type or change")
            if entry.get("mode", "managed") != "managed":
                continue
            actions = change.get("actions")
            where = f"resource_changes[{position}] ({entry['address']})"
            if not (isinstance(actions, list) and actions and all(_is_action(a) for a in actions)):
                raise PlanError(path, f"{where} has actions {actions!r}, not a list of {sorted(ACTIONS)}")
            if not set(actions) & STAYING:
                continue
            if not isinstance(change.get("after"), Mapping):
                # Dropping it would leave a resource the plan keeps unjudged.
                raise PlanError(path, f"{where} plans {actions} but has no `after` object")
            yield entry, change["after"], change.get("after_unknown"), change.get("after_sensitive")
        return
    # A plan without resource_changes (or state JSON): walk the module tree.
    for resource in _module_resources(plan.get("planned_values") or plan.get("values"), "managed"):
        yield resource, resource.get("values"), None, resource.get("sensitive_values")


def _module_resources(values: Any, mode: str) -> Iterator[Mapping[str, Any]]:
    """The resources of one mode ("managed", "data") in a values representation's module tree,
    the root module's first and each module's before its children's."""
    stack = [(values or {}).get("root_module") or {}]
    while stack:
        module = stack.pop()
        for resource in module.get("resources") or ():
            if isinstance(resource, Mapping) and resource.get("mode", "managed") == mode:
                yield resource
        stack.extend(reversed(module.get("child_modules") or []))


def _data_sources(plan: Mapping[str, Any]) -> Iterator[tuple[Mapping[str, Any], Any, Any, Any]]:
    """(data source, values, unknown, sensitive) for each data source the plan read: while
    planning (`prior_state`), or deferred to apply (a `read` in `resource_changes`, which wins)."""
    deferred = {}
    for entry in plan.get("resource_changes") or ():
        if isinstance(entry, Mapping) and entry.get("mode") == "data" and "address" in entry:
            change = entry.get("change") or {}
            deferred[entry["address"]] = (entry, change.get("after"), change.get("after_unknown"), None)
    for resource in _module_resources((plan.get("prior_state") or {}).get("values"), "data"):
        if "address" in resource and resource["address"] not in deferred:
            yield resource, resource.get("values"), None, resource.get("sensitive_values")
    yield from deferred.values()


def _action(entry: Mapping[str, Any]) -> str:
    actions = (entry.get("change") or {}).get("actions") or ["no-op"]
    if "create" in actions and "delete" in actions:
        return "replace"
    return str(actions[0]) if len(actions) == 1 else "update"


def _local_of(address: str, module: str) -> str:
    local = address[len(module) + 1 :] if module else address
    return _INDEX.sub("", local)


def discover_plan(path: Path, stage: str) -> Discovery:
    """The resources a plan will leave in place, normalised, with the source's report."""
    plan, digest = _load(path)
    try:
        return _discover(plan, digest, path, stage)
    except RecursionError:
        raise PlanError(path, "values nested too deeply to read") from None
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        # The parser's boundary: a plan of an unexpected shape is bad input, not a crash.
        raise PlanError(path, f"unexpected plan structure ({type(exc).__name__}: {exc})") from None


def _discover(plan: Mapping[str, Any], digest: str, path: Path, stage: str) -> Discovery:
    configuration = _Configuration(plan.get("configuration") or {})
    blocks: dict[str, _Block] = {}
    notes: list[str] = []
    errors: list[str] = []
    if plan.get("errored") is True:
        errors.append("the plan reports errored: true; it may not list every resource")
    if plan.get("complete") is False:
        # Terraform 1.8+: made with -target, or with changes deferred to a later plan.
        errors.append("the plan reports complete: false; it does not cover the whole configuration")
    deletions = 0
    deleted: list[Resource] = []
    for entry in plan.get("resource_changes") or []:
        actions = (entry.get("change") or {}).get("actions") or [] if isinstance(entry, Mapping) else []
        if actions in (["delete"], ["forget"]):
            deletions += 1
        if actions == ["delete"] and entry.get("mode", "managed") == "managed":
            found = _deletion(entry, stage, path)
            if found is not None:
                deleted.append(found)
    for entry, after, after_unknown, after_sensitive in _changes(plan, path):
        address = str(entry["address"])
        module = str(entry.get("module_address") or "")
        if not module and address.startswith("module."):
            module = address.rsplit(".", 2)[0]
        local = _local_of(address, module)
        config = configuration.resource(module, local)
        view, display = overlay(after, after_unknown, after_sensitive)
        if not isinstance(view, Mapping):
            view, display = {}, {}
        blocks[address] = _Block(
            address=address,
            native_type=str(entry["type"]),
            name=str(entry.get("name", local.split(".")[-1])),
            index=entry.get("index"),
            module=module,
            view=view,
            display=withheld(display),
            expressions=config.get("expressions") or {},
            provider_key=config.get("provider_config_key"),
            configured=bool(config),
            action=_action(entry),
        )
    for entry, values, unknown, sensitive in _data_sources(plan):
        view, _ = overlay(values, unknown, sensitive)
        address = str(entry["address"])
        blocks[address] = _Block(
            address=address,
            native_type=str(entry.get("type")),
            name=str(entry.get("name")),
            index=entry.get("index"),
            module=address.rsplit(".data.", 1)[0] if address.startswith("module.") else "",
            view=view if isinstance(view, Mapping) else {},
            display={},
            expressions={},
            provider_key=None,
            configured=False,
            data=True,
        )
    absorbed = _join(blocks, notes)
    resources = []
    for block in blocks.values():
        if block.address in absorbed or block.data:
            continue
        resource = _resource(block, stage, configuration, path, errors, notes)
        resources.append(resource)
    if deletions:
        notes.append(
            f"{deletions} planned deletion(s) left out of the inventory"
            + (f", {len(deleted)} of them stateful and kept as planned_deletion" if deleted else "")
        )
    resources.extend(deleted)
    resources.sort(key=lambda r: r.id)
    report = SourceReport(
        kind="terraform_plan",
        location=str(path),
        sha256=digest,
        resource_count=len(resources),
        complete=not errors,
        errors=tuple(errors),
        notes=tuple(notes),
        configuration_sha256=hashlib.sha256(
            json.dumps(plan.get("configuration") or {}, sort_keys=True).encode("utf-8")
        ).hexdigest(),
    )
    return Discovery(tuple(resources), report)


def _joins_for(native_type: str) -> tuple[Join, ...]:
    cloud = _cloud(provider_of(native_type))
    joins = cloud.JOINS.get(native_type, ()) if cloud else ()
    return (joins,) if isinstance(joins, Join) else tuple(joins)


def _join(blocks: Mapping[str, _Block], notes: list[str]) -> set[str]:
    """Hand each joining block's values to its partners; the addresses folded away.

    Every target is found before any block is handed over, so the plan's order does not matter
    and chains are followed whole: a listener rule is entered among its listener's related
    blocks, the listener (carrying them, as a `Joined`) among its load balancer's, and both
    become components of the load balancer, the resource at the end of the chain. A chain whose
    next link is not in the plan ends at the block that misses it, which stays a resource (the
    default security group of a VPC the plan does not hold, with its rules). A block may both
    see one block and be folded into another: a policy attachment sees the policy it attaches
    and is folded into the role that holds it, carrying the policy there.
    """
    by_local: dict[tuple[str, str], list[_Block]] = {}
    for block in blocks.values():
        by_local.setdefault((block.module, block.local_name), []).append(block)
    folds: dict[str, tuple[Join, _Block | None]] = {}
    for block in blocks.values():
        for join in () if block.data else _joins_for(block.native_type):
            target = _find_target(block, join, by_local, blocks)
            if join.absorb:
                folds[block.address] = (join, target)
            elif target is not None:
                # The entry shares the target's `related`, so what is folded into the target
                # later still reaches whoever sees it.
                block.related.setdefault(target.native_type, []).append(Joined(target.view, target.related))
                block.linked = block.linked or target
    absorbed: set[str] = set()
    for address, (join, target) in folds.items():
        block = blocks[address]
        if target is None:
            notes.append(
                f"{address}: the {' or '.join(join.target_types)} it configures is not in this plan;"
                " kept as a resource of its own"
            )
            continue
        owner = _owner(block, folds)
        if owner is None:
            notes.append(f"{address}: its joins lead back to it; kept as a resource of its own")
            continue
        target.related.setdefault(block.native_type, []).append(Joined(block.view, block.related))
        owner.components[address] = block.display
        absorbed.add(address)
    return absorbed


def _owner(block: _Block, folds: Mapping[str, tuple[Join, _Block | None]]) -> _Block | None:
    """The block an absorbing block ends up in: its target's, followed while each link is folded
    into a target the plan holds; None for a chain that returns to a block it passed."""
    passed = {block.address}
    current = block
    while True:
        join, target = folds.get(current.address, (None, None))
        if join is None or target is None:
            return current
        if target.address in passed:
            return None
        passed.add(target.address)
        current = target


def _find_target(
    block: _Block,
    join: Join,
    by_local: Mapping[tuple[str, str], list[_Block]],
    blocks: Mapping[str, _Block],
) -> _Block | None:
    for reference in _references(block.expressions, join.attribute):
        parts = reference.split(".")
        # A data source may be seen (`data.aws_iam_policy.x.arn`), never folded into.
        data = parts[0] == "data" and not join.absorb
        if data:
            parts = parts[1:]
        if len(parts) < 2 or parts[0] not in join.target_types:
            continue
        local = f"{'data.' if data else ''}{parts[0]}.{_INDEX.sub('', parts[1])}"
        candidates = by_local.get((block.module, local), [])
        if len(candidates) == 1:
            return candidates[0]
        for candidate in candidates:
            if candidate.index == block.index:
                return candidate
    # No usable reference (hand-written JSON, or a literal): match the referring value.
    wanted = block.view.get(join.attribute)
    if wanted is None or wanted is UNKNOWN:
        return None
    matches = [
        other
        for other in blocks.values()
        if other.native_type in join.target_types
        and not (other.data and join.absorb)
        and any(other.view.get(key) == wanted for key in ("id", "arn", "bucket", "name"))
    ]
    return matches[0] if len(matches) == 1 else None


def _deletion(entry: Mapping[str, Any], stage: str, path: Path) -> Resource | None:
    """A planned delete of a resource that holds data: DEL-002 judges it; nothing else does."""
    native_type = str(entry["type"])
    provider = provider_of(native_type)
    cloud = _cloud(provider)
    planned: PlannedType | None = cloud.PLANNED.get(native_type) if cloud else None
    if planned is None or planned.kind not in STATEFUL_KINDS:
        return None
    return Resource(
        id=str(entry["address"]),
        provider=provider,
        native_type=native_type,
        kind=PLANNED_DELETION,
        region=None,
        stage=stage,
        origin="planned",
        address=str(entry["address"]),
        facts={"planned_action": "delete", "deleted_kind": planned.kind},
        source=str(path),
    )


def _resource(
    block: _Block,
    stage: str,
    configuration: _Configuration,
    path: Path,
    errors: list[str],
    notes: list[str],
) -> Resource:
    provider = provider_of(block.native_type)
    cloud = _cloud(provider)
    planned: PlannedType | None = cloud.PLANNED.get(block.native_type) if cloud else None
    region = cloud.region_of(block.native_type, block.view) if cloud else None
    if region is None and block.linked is not None and cloud is not None:
        region = cloud.region_of(block.linked.native_type, block.linked.view)
    region = region or configuration.region(block.provider_key)
    facts: dict[str, Any] = {}
    if planned is not None:
        related: dict[str, list[Mapping[str, Any]]] = {**block.related, REGION: [{"region": region}]}
        if block.configured:
            related[CONFIGURATION] = [block.expressions]
        try:
            facts = planned.facts(block.view, related)
        except Unknown:
            # A normaliser read an unknown value outside a fact: no fact of it can be trusted.
            notes.append(f"{block.address}: facts left unknown (an input is known only after apply)")
        except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
            errors.append(f"{block.address}: values of an unexpected shape ({type(exc).__name__}: {exc})")
    if cloud is not None:
        facts = {
            **facts,
            "taggable": block.native_type not in cloud.UNTAGGABLE,
            "planned_action": block.action,
        }
    tags = cloud.tags_of(block.native_type, block.view) if cloud else {}
    return Resource(
        id=block.address,
        provider=provider,
        native_type=block.native_type,
        kind=planned.kind if planned else "other",
        region=region,
        stage=stage,
        origin="planned",
        address=block.address,
        tags=tags_fit_for_evidence(tags, WITHHELD_TEXT),
        attributes=block.display,
        facts=facts,
        components=block.components,
        source=str(path),
    )
