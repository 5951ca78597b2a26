"""Helpers shared by the per-cloud normalisers.

A normaliser is a pure function from one resource's native values (plus the values of the
Terraform blocks joined to it) to facts. Native values may hold `UNKNOWN` where the plan says
"known after apply" or the value is sensitive; any fact computed from such a value is left out,
never guessed. `dig` raises `Unknown` on the way, and `Facts.derive` drops the fact.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from regops.model import UNKNOWN

_MISSING: Any = object()

# Anything that lets the whole internet in, in the spellings of the three clouds.
INTERNET_SOURCES = frozenset({"0.0.0.0/0", "::/0", "*", "internet", "any", "0.0.0.0"})

# Address space no internet host is reached from: IPv4 "this network", RFC 1918 10/8, loopback,
# multicast and the reserved 240/4 (the other private blocks are too small to hold a /8), and
# every IPv6 address outside global unicast 2000::/3. Merged, so that a range made of several
# such blocks (224.0.0.0/3) is recognised as wholly inside them.
_NOT_INTERNET_V4 = tuple(
    ipaddress.collapse_addresses(
        ipaddress.IPv4Network(block)
        for block in ("0.0.0.0/8", "10.0.0.0/8", "127.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4")
    )
)
_NOT_INTERNET_V6 = tuple(ipaddress.IPv6Network("::/0").address_exclude(ipaddress.IPv6Network("2000::/3")))


# Setting names that announce a credential (environment variables, app settings, metadata).
# A bare "key" would take in key sources, KMS key names and SSH public keys.
SECRET_NAME = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|client[_-]?key|credential"
    r"|connection[_-]?string",
    re.I,
)

# Settings that hold a boot script or cloud-init document (GCE `startup-script`,
# `windows-startup-script-ps1`, `sysprep-specialize-script-cmd`, `user-data`, a container
# declaration with its environment; Azure `customData`): they embed credentials too often for
# their contents to be shown, whatever they are called.
BOOT_SCRIPT_NAME = re.compile(
    r"user[_-]?data|custom[_-]?data|(startup|shutdown|specialize)[_-]?script|container[_-]?declaration", re.I
)


def secret_bearing(name: str) -> bool:
    """Whether a setting so named holds a credential or a boot script."""
    return bool(SECRET_NAME.search(name) or BOOT_SCRIPT_NAME.search(name))


def secret_pair_values(mapping: Mapping[Any, Any]) -> frozenset[str]:
    """The keys holding the value of a name/value pair whose name is a credential's or a boot
    script's (an environment variable `{name, value}`, a metadata item or tag `{key, value}`):
    the secret's name is in a sibling field, not in the key of its value."""
    names = [v for k, v in mapping.items() if str(k).lower() in {"name", "key"} and isinstance(v, str)]
    if not any(secret_bearing(name) for name in names):
        return frozenset()
    return frozenset(str(k) for k in mapping if str(k).lower() == "value")


def json_text(value: str) -> Any:
    """The document a string holds when it is JSON text of an object or a list (a task's container
    definitions, a policy), else None."""
    if not value.lstrip().startswith(("{", "[")):
        return None
    try:
        document = json.loads(value)
    except ValueError:
        return None
    return document if isinstance(document, Mapping | list) else None


def tags_fit_for_evidence(tags: Mapping[str, str], placeholder: str) -> dict[str, str]:
    """Tags as evidence may hold them: one named like a credential keeps its name, not its value.
    The stage tag and the tags controls read are not so named, so filtering and controls see them."""
    return {str(k): placeholder if secret_bearing(str(k)) else v for k, v in tags.items()}


def merged_labels(*sources: Any) -> dict[str, str]:
    """The string labels of every mapping among `sources`, later ones winning."""
    labels: dict[str, str] = {}
    for source in sources:
        if isinstance(source, Mapping):
            labels.update({str(k): str(v) for k, v in source.items() if isinstance(v, str)})
    return labels


class Unknown(Exception):
    """Raised while deriving a fact from a value the source could not establish."""


def known(value: Any) -> Any:
    if value is UNKNOWN:
        raise Unknown
    return value


def dig(values: Any, *path: str | int, default: Any = _MISSING) -> Any:
    """Walk mapping keys and list indexes; `default` where the path ends early or is null.

    A nested Terraform block is a list; an empty list means the block is absent, so an index
    past the end gives `default`. An `UNKNOWN` anywhere on the path raises `Unknown`, and so
    does a key into a value that is not a mapping (the source is shaped otherwise).
    """
    current = known(values)
    for step in path:
        if isinstance(step, int):
            if not isinstance(current, Sequence) or isinstance(current, str) or step >= len(current):
                current = None
            else:
                current = current[step]
        elif isinstance(current, Mapping):
            current = current.get(step)
        else:
            # A key into a scalar or a list: the source is not shaped as the normaliser reads it,
            # so what it would have said is unknown, never absent.
            raise Unknown
        current = known(current)
        if current is None:
            break
    if current is None:
        if default is _MISSING:
            return None
        return default
    return current


def blocks(values: Any, key: str) -> list[Mapping[str, Any]]:
    """The nested blocks under `key` (an absent block is an empty list)."""
    found = dig(values, key, default=[])
    if isinstance(found, Mapping):
        return [found]
    return [known(item) for item in found if item is not None]


@dataclass
class Facts:
    """Collects facts; a fact whose computation met an unknown value is left out."""

    values: dict[str, Any] = field(default_factory=dict)

    def derive(self, name: str, compute: Callable[[], Any]) -> None:
        try:
            value = compute()
        except Unknown:
            return
        if value is not UNKNOWN:
            self.values[name] = value


def port_ranges(spans: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Sort and merge overlapping or adjacent [low, high] port spans."""
    merged: list[list[int]] = []
    for low, high in sorted(spans):
        if merged and low <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    return merged


def parse_port_span(text: Any) -> tuple[int, int]:
    """'22', '80-443', '*' or an int as a (low, high) span; '*' is every port."""
    text = known(text)
    if isinstance(text, int):
        return (text, text)
    text = str(text).strip()
    if text in {"*", ""}:
        return (0, 65535)
    if "-" in text:
        low, high = text.split("-", 1)
        return (int(low), int(high))
    return (int(text), int(text))


def is_internet(source: Any) -> bool:
    """Whether a source address or tag lets the internet in.

    Named sources ("*", "Internet", "Any", ...) do, and so does any network of prefix length 8
    or less, however spelled ("0.0.0.0/00", "::0/0", host bits set), that is not wholly private
    or reserved: a rule split into halves ("0.0.0.0/1" and "128.0.0.0/1") or into /8s still
    opens the internet, and no partner or office needs a range that wide.
    """
    text = str(known(source)).strip().lower()
    if text in INTERNET_SOURCES:
        return True
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    if network.prefixlen > 8:
        return False
    if isinstance(network, ipaddress.IPv4Network):
        return not any(network.subnet_of(block) for block in _NOT_INTERNET_V4)
    return not any(network.subnet_of(block) for block in _NOT_INTERNET_V6)


def tls_version(text: Any) -> str | None:
    """'TLS1_2', 'TLS_1_2', '1.2', 'TLSv1.2' -> '1.2'; anything else -> None."""
    text = known(text)
    if text is None:
        return None
    digits = "".join(ch for ch in str(text) if ch.isdigit())
    if len(digits) == 2 and digits[0] == "1":
        return f"1.{digits[1]}"
    return None


def days_from_duration(text: Any) -> int | None:
    """'7776000s' (Google) or 'P90D' / 'P1Y' (ISO 8601, Azure) as whole days."""
    text = known(text)
    if text is None:
        return None
    text = str(text).strip().upper()
    if text.endswith("S") and text[:-1].replace(".", "", 1).isdigit():
        return int(float(text[:-1]) // 86400)
    if text.startswith("P"):
        units = {"Y": 365, "M": 30, "W": 7, "D": 1}
        total, number = 0, ""
        for ch in text[1:]:
            if ch == "T":
                break
            if ch.isdigit():
                number += ch
            elif ch in units and number:
                total += int(number) * units[ch]
                number = ""
            else:
                return None
        return total
    return None


Related = Mapping[str, Sequence[Mapping[str, Any]]]
"""Values of the Terraform blocks joined to a resource, by their native type."""

CONFIGURATION = "$configuration"
"""The `Related` entry holding the block's own configuration expressions, when the plan has
them: an attribute known only after apply that the configuration does not set is the
provider's default, not a value someone chose."""
REGION = "$region"
"""The `Related` entry holding the region the plan puts the block in, for a fact that depends
on it (an EventBridge rule sees only its own region's events)."""


def planned_region(related: Related) -> str | None:
    found = related.get(REGION)
    return str(found[0].get("region")) if found and found[0].get("region") else None


def configured(related: Related, attribute: str) -> bool | None:
    """Whether the configuration sets `attribute`; None when the plan carries no configuration."""
    found = related.get(CONFIGURATION)
    return attribute in found[0] if found else None


Normaliser = Callable[[Mapping[str, Any], Related], dict[str, Any]]


@dataclass(frozen=True)
class PlannedType:
    """How one Terraform resource type is normalised: its kind and its facts."""

    kind: str
    facts: Normaliser


def security_service(provides: Callable[[Mapping[str, Any], Related], list[str]]) -> PlannedType:
    """A resource that gives the estate capabilities (normalize/estate.py): its fact is `provides`."""

    def normalise(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
        facts = Facts()
        facts.derive("provides", lambda: provides(values, related))
        return facts.values

    return PlannedType("security_service", normalise)


@dataclass(frozen=True)
class Join:
    """A Terraform block that refers to another through `attribute`.

    With `absorb`, the block describes part of its target (an S3 bucket's versioning) and is
    folded into it; otherwise it stays a resource and merely sees the target's values (a Key
    Vault key sees its vault's purge protection).

    `target_type` may name several types when the attribute can point at any of them (a rule
    of a security group or of the VPC's default group). Joins chain: a block folded into a
    target that is folded in turn reaches the resource at the end of the chain inside its
    target's entry (see `Joined`), so a listener rule reaches its load balancer as a rule of
    its listener, and a key that links to its key ring sees what was folded into the ring.
    """

    attribute: str
    target_type: str | tuple[str, ...]
    absorb: bool = True

    @property
    def target_types(self) -> tuple[str, ...]:
        return (self.target_type,) if isinstance(self.target_type, str) else self.target_type


class Joined(Mapping[str, Any]):
    """One joined block's values, carrying the blocks joined to it in turn.

    It reads as the block's values, so a normaliser that needs no more is unaffected; `related`
    keeps which intermediate block a chained join belongs to (the rules of one listener, the
    standalone rules of one default security group, the IAM bindings of one key ring), which a
    flat list of the final resource's related blocks would lose.
    """

    def __init__(self, values: Mapping[str, Any], related: Related) -> None:
        self._values = values
        self.related = related

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Joined({dict(self._values)!r}, related={dict(self.related)!r})"


def related_of(entry: Mapping[str, Any]) -> Related:
    """The blocks joined to a joined block in turn (a listener's rules); none for plain values."""
    return entry.related if isinstance(entry, Joined) else {}


def plaintext_secrets(settings: Any, references: Sequence[str]) -> list[str]:
    """Names of settings that look like secrets and hold a value instead of a reference.

    A value the plan cannot show (sensitive, or known only after apply) leaves the answer
    unknown: it may be a literal as well as a reference to a secret store.
    """
    found = []
    for name, value in (known(settings) or {}).items():
        if not SECRET_NAME.search(str(name)):
            continue
        value = known(value)
        if value not in (None, "") and not str(value).startswith(tuple(references)):
            found.append(str(name))
    return sorted(found)


@dataclass(frozen=True)
class Capability:
    """What the estate needs for one capability: every token, in every used region when
    `regional` (see normalize/estate.py)."""

    tokens: tuple[str, ...]
    regional: bool = False


WHEN = " when "


AND = " and "


def conditional(token: str, *links: str) -> str:
    """A `provides` token that counts only where resources of the same provider and region
    provide every one of `links`: a metric filter's category counts when an alarm that
    notifies someone watches its metric and a trail delivers to its log group
    (normalize/estate.py resolves it)."""
    return f"{token}{WHEN}{AND.join(links)}"


EVERYWHERE = " everywhere"


def everywhere(token: str) -> str:
    """A `provides` token that counts in every region of the stage, not only in its holder's: an
    alert on events that reach one region for the whole account (IAM's, in us-east-1) or on a
    multi-region trail's log. It may be made conditional in turn."""
    return f"{token}{EVERYWHERE}"


LiveNormaliser = Callable[[Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class LiveType:
    """How one cloud API type (an ARM type, a Cloud Asset type) is normalised.

    A type that is not `taggable` cannot carry the stage's tag or label (subscription and
    project settings, firewall rules, subnets): it belongs to the stage through the discovery
    scope or through its parent.
    """

    kind: str
    facts: LiveNormaliser
    taggable: bool = True


def live_security_service(provides: Callable[[Mapping[str, Any]], list[str]]) -> LiveType:
    def normalise(payload: Mapping[str, Any]) -> dict[str, Any]:
        facts = Facts()
        facts.derive("provides", lambda: provides(payload))
        return facts.values

    return LiveType("security_service", normalise, taggable=False)
