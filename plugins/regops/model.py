"""The resource, control and outcome model: plain data, standard library only, no I/O."""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

STAGES: Final = ("system", "acceptance", "production")
LAYERS: Final = ("system", "acceptance", "production", "regulatory")
SEVERITIES: Final = ("low", "medium", "high", "critical")
PROVIDERS: Final = ("aws", "azure", "gcp", "github", "gitlab", "host", "terraform")
ORIGINS: Final = ("planned", "live")

# The normalised kinds; a native type no normaliser knows is kept as "other" so that it still
# counts in the inventory (and in the "no resources" check) without any control applying to it.
# A resource that holds data and that a plan deletes: it is gone after apply, so only the control
# that asks whether the deletion was approved looks at it.
PLANNED_DELETION: Final = "planned_deletion"
KINDS: Final = (
    "object_store",
    "database",
    "network_rule",
    "key",
    "secret_store",
    "audit_trail",
    "log_store",
    "load_balancer",
    "compute",
    "disk",
    "function",
    "identity",
    # A grant of rights apart from whoever holds it: an IAM policy, a custom role definition.
    "access_policy",
    # A code repository's default branch, with the rules every change to it must pass.
    "repository_branch",
    "account",
    "host",
    "tls_endpoint",
    "network",
    "cluster",
    "certificate",
    "backup_vault",
    "secret",
    # Settings that provide a capability to the whole stage (a threat detector, an alert
    # route), and the per-provider estate that gathers them (normalize/estate.py).
    "security_service",
    "estate",
    PLANNED_DELETION,
    "other",
)
# Kinds whose deletion or replacement destroys data.
STATEFUL_KINDS: Final = (
    "database",
    "object_store",
    "key",
    "log_store",
    "audit_trail",
    "secret_store",
    "secret",
    "disk",
    "backup_vault",
)

# Kinds that are assets of the stage: tagged, classified and placed in a region. Hosts and TLS
# endpoints are looked at from outside; accounts, identities, access policies and security
# services are settings.
ASSET_KINDS: Final = tuple(
    kind
    for kind in KINDS
    if kind
    not in {
        "identity",
        "access_policy",
        "account",
        "host",
        "tls_endpoint",
        "security_service",
        "estate",
        PLANNED_DELETION,
        "other",
    }
)


class _Unknown:
    """A value the source could not establish: distinct from None, False and absence."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        raise TypeError("UNKNOWN has no truth value: check `is UNKNOWN` first")

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()


class Outcome(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    WAIVED = "waived"
    ERROR = "error"
    NOT_APPLICABLE = "not_applicable"


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


# The facts a control reads while it runs, recorded as the result's observed values.
_observed: ContextVar[dict[str, Any] | None] = ContextVar("regops_observed", default=None)


def observed_json(seen: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Observed facts as JSON values, and the names of those that were unknown."""
    return (
        {name: None if value is UNKNOWN else value for name, value in seen.items()},
        sorted(name for name, value in seen.items() if value is UNKNOWN),
    )


@contextlib.contextmanager
def observing() -> Iterator[dict[str, Any]]:
    """Collect every fact read through `Resource.fact` inside the block: name -> value."""
    seen: dict[str, Any] = {}
    token = _observed.set(seen)
    try:
        yield seen
    finally:
        _observed.reset(token)


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


class FactUnknown(Exception):
    """A control needed a fact that the source could not establish for this resource."""

    def __init__(self, resource_id: str, fact: str) -> None:
        super().__init__(f"{resource_id}: fact {fact!r} could not be established from the source")
        self.resource_id = resource_id
        self.fact = fact


@dataclass(frozen=True, slots=True)
class Resource:
    """One discovered resource, the same shape for every source."""

    id: str
    provider: str
    native_type: str
    kind: str
    region: str | None
    stage: str
    origin: str
    address: str | None = None
    # Kept out of repr: pytest's assertion explanations print the resource, and a page of
    # attributes there hides the message.
    tags: Mapping[str, str] = field(default_factory=dict, repr=False)
    attributes: Mapping[str, Any] = field(default_factory=dict, repr=False)
    facts: Mapping[str, Any] = field(default_factory=dict, repr=False)
    # Terraform blocks joined into this resource (an S3 bucket's versioning block, a security
    # group's rule resources), address -> redacted attributes, so evidence shows every input.
    components: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)
    source: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", _frozen(self.tags))
        object.__setattr__(self, "attributes", _frozen(self.attributes))
        object.__setattr__(self, "facts", _frozen(self.facts))
        object.__setattr__(self, "components", _frozen(self.components))

    def fact(self, name: str) -> Any:
        """The fact's value; raises FactUnknown when the source could not establish it."""
        value = self.facts.get(name, UNKNOWN)
        seen = _observed.get()
        if seen is not None:
            seen[name] = value
        if value is UNKNOWN:
            raise FactUnknown(self.id, name)
        return value

    def has_fact(self, name: str) -> bool:
        return self.facts.get(name, UNKNOWN) is not UNKNOWN

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "native_type": self.native_type,
            "kind": self.kind,
            "region": self.region,
            "stage": self.stage,
            "origin": self.origin,
            "address": self.address,
            "source": self.source,
            "tags": dict(self.tags),
            "facts": dict(self.facts),
            "attributes": dict(self.attributes),
            "components": {k: dict(v) for k, v in self.components.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Resource:
        return cls(
            id=data["id"],
            provider=data["provider"],
            native_type=data["native_type"],
            kind=data["kind"],
            region=data.get("region"),
            stage=data["stage"],
            origin=data["origin"],
            address=data.get("address"),
            source=data.get("source", ""),
            tags=data.get("tags") or {},
            attributes=data.get("attributes") or {},
            facts=data.get("facts") or {},
            components=data.get("components") or {},
        )


@dataclass(frozen=True)
class SourceReport:
    """What one discovery source looked at and whether it saw everything it should have."""

    kind: str
    location: str
    sha256: str | None
    resource_count: int
    complete: bool
    errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    # For plans: the digest of the Terraform configuration (the code, not the variable values),
    # which stays the same when one commit is planned for different stages.
    configuration_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "location": self.location,
            "sha256": self.sha256,
            "configuration_sha256": self.configuration_sha256,
            "resource_count": self.resource_count,
            "complete": self.complete,
            "errors": list(self.errors),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SourceReport:
        return cls(
            kind=data["kind"],
            location=data["location"],
            sha256=data.get("sha256"),
            resource_count=data["resource_count"],
            complete=data["complete"],
            errors=tuple(data.get("errors", ())),
            notes=tuple(data.get("notes", ())),
            configuration_sha256=data.get("configuration_sha256"),
        )


@dataclass(frozen=True)
class Discovery:
    """The resources of one source plus its report."""

    resources: tuple[Resource, ...]
    report: SourceReport
    # A saved inventory's own sources, as they were when it was taken: a replay judges them
    # again, so a source that was incomplete or found nothing fails the replay's gate too.
    saved_sources: tuple[SourceReport, ...] = ()


@dataclass(frozen=True)
class Control:
    """A control's metadata, as declared on its pytest marker."""

    id: str
    title: str
    layer: str
    severity: str
    stages: tuple[str, ...]
    kinds: tuple[str, ...]
    frameworks: Mapping[str, tuple[str, ...]]
    facts: tuple[str, ...] = ()
    rationale: str = ""
    # References that could not be confirmed against the primary text: reported as such.
    unverified: tuple[str, ...] = ()
    # Who evaluates it: regops itself, or a tool run in the same session ("checkov 3.3.30"),
    # and the regops control a tool's check stands beside.
    source: str = "regops"
    maps_to: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "source": self.source,
            "maps_to": self.maps_to,
            "unverified": list(self.unverified),
            "layer": self.layer,
            "severity": self.severity,
            "stages": list(self.stages),
            "kinds": list(self.kinds),
            "facts": list(self.facts),
            "frameworks": {k: list(v) for k, v in self.frameworks.items()},
            "rationale": self.rationale,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Control:
        return cls(
            id=data["id"],
            title=data["title"],
            layer=data["layer"],
            severity=data["severity"],
            stages=tuple(data["stages"]),
            kinds=tuple(data["kinds"]),
            frameworks={key: tuple(refs) for key, refs in data["frameworks"].items()},
            facts=tuple(data.get("facts", ())),
            rationale=data.get("rationale", ""),
            unverified=tuple(data.get("unverified", ())),
            source=data.get("source", "regops"),
            maps_to=data.get("maps_to"),
        )


# Slotted: a large run holds a result per control and resource to the end.
@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of one control on one resource (resource_id None: the control had none)."""

    control_id: str
    resource_id: str | None
    outcome: Outcome
    message: str
    nodeid: str
    address: str | None = None
    provider: str | None = None
    origin: str | None = None
    # The facts the control read and the values it saw; a fact it could not have is null
    # there and named in `unknown_facts`.
    observed: Mapping[str, Any] | None = None
    unknown_facts: tuple[str, ...] = ()
    # For a failure: the assert as evaluated, observed against required ("assert 90 >= 365").
    comparison: str | None = None

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "resource_id": self.resource_id,
            "address": self.address,
            "provider": self.provider,
            "origin": self.origin,
            "outcome": self.outcome.value,
            "message": self.message,
            "nodeid": self.nodeid,
        }
        if self.observed is not None:
            found["observed"] = dict(self.observed)
        if self.unknown_facts:
            found["unknown_facts"] = list(self.unknown_facts)
        if self.comparison is not None:
            found["comparison"] = self.comparison
        return found
