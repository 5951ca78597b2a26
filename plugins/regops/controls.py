"""Control metadata from `@pytest.mark.control(...)` markers, validated up front."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from regops.frameworks import load_frameworks
from regops.model import KINDS, LAYERS, SEVERITIES, STAGES, Control

# Layers give the default stages: production readiness is judged at production only.
LAYER_STAGES: dict[str, tuple[str, ...]] = {
    "system": STAGES,
    "acceptance": STAGES,
    "production": ("production",),
    "regulatory": STAGES,
}

_ALLOWED = {"id", "layer", "severity", "stages", "kinds", "frameworks", "facts", "title", "unverified"}


class ControlDefinitionError(Exception):
    """One or more controls are declared wrongly; the message lists every problem."""


def control_from_marker(
    kwargs: Mapping[str, Any], function: Callable[..., Any]
) -> tuple[Control | None, list[str]]:
    """The control a marker declares, or None with the problems that prevent it."""
    where = f"{function.__module__}.{function.__qualname__}"
    problems: list[str] = []
    unknown = sorted(set(kwargs) - _ALLOWED)
    if unknown:
        problems.append(f"{where}: unknown control marker argument(s) {', '.join(unknown)}")
    control_id = kwargs.get("id")
    if not isinstance(control_id, str) or not control_id:
        problems.append(f"{where}: the control marker needs id='...'")
        control_id = "?"
    layer = kwargs.get("layer")
    if layer not in LAYERS:
        problems.append(f"{control_id} ({where}): layer {layer!r} is not one of {', '.join(LAYERS)}")
    severity = kwargs.get("severity")
    if severity not in SEVERITIES:
        problems.append(
            f"{control_id} ({where}): severity {severity!r} is not one of {', '.join(SEVERITIES)}"
        )
    stages = tuple(kwargs.get("stages") or LAYER_STAGES.get(str(layer), ()))
    bad_stages = [s for s in stages if s not in STAGES]
    if bad_stages:
        problems.append(f"{control_id} ({where}): unknown stage(s) {', '.join(map(str, bad_stages))}")
    kinds = tuple(kwargs.get("kinds") or ())
    bad_kinds = [k for k in kinds if k not in KINDS]
    if not kinds or bad_kinds:
        problems.append(f"{control_id} ({where}): kinds must name known kinds, got {list(kinds)}")
    frameworks = kwargs.get("frameworks") or {}
    if not isinstance(frameworks, Mapping) or not frameworks:
        problems.append(f"{control_id} ({where}): frameworks must map framework keys to requirement ids")
        frameworks = {}
    known = load_frameworks()
    for key, refs in frameworks.items():
        if (
            isinstance(refs, str)
            or not isinstance(refs, Iterable)
            or not all(isinstance(r, str) for r in refs)
        ):
            problems.append(f"{control_id} ({where}): requirement ids for {key!r} must be a list of strings")
            continue
        if key not in known:
            problems.append(f"{control_id} ({where}): unknown framework {key!r}")
            continue
        missing = [r for r in refs if not known[key].has(r)]
        if missing:
            problems.append(
                f"{control_id} ({where}): {key} has no requirement {', '.join(map(repr, missing))}"
                f" (plugins/regops/framework_data/{key}.yaml)"
            )
    docstring = inspect.getdoc(function) or ""
    title = kwargs.get("title") or docstring.split("\n", 1)[0].strip()
    if not title:
        problems.append(f"{control_id} ({where}): no title (give the function a docstring)")
    if problems:
        return None, problems
    rationale = docstring.split("\n", 1)[1].strip() if "\n" in docstring else ""
    return (
        Control(
            id=control_id,
            title=str(title),
            layer=str(layer),
            severity=str(severity),
            stages=stages,
            kinds=kinds,
            frameworks={str(k): tuple(v) for k, v in frameworks.items() if v},
            facts=tuple(kwargs.get("facts") or ()),
            rationale=rationale,
            unverified=tuple(kwargs.get("unverified") or ()),
        ),
        [],
    )
