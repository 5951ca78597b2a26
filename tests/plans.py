"""Build small Terraform plan documents (the `terraform show -json` shape) for tests."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TAGS = {
    "owner": "payments-platform",
    "stage": "acceptance",
    "data_classification": "internal",
    "service": "payments",
    "criticality": "cif",
}


@dataclass
class Change:
    address: str
    type: str
    after: Mapping[str, Any] | None
    unknown: Mapping[str, Any] = field(default_factory=dict)
    sensitive: Mapping[str, Any] = field(default_factory=dict)
    actions: tuple[str, ...] = ("create",)
    expressions: Mapping[str, Any] = field(default_factory=dict)
    provider_key: str = ""

    @property
    def module(self) -> str:
        match = re.match(r"^((?:module\.[^.\[]+(?:\[[^\]]*\])?\.)*)", self.address)
        return match.group(1).rstrip(".") if match else ""

    @property
    def name(self) -> str:
        return re.sub(r"\[[^\]]*\]$", "", self.address.rsplit(".", 1)[-1])

    @property
    def index(self) -> Any:
        found = re.search(r"\[([^\]]*)\]$", self.address)
        if not found:
            return None
        text = found.group(1)
        return json.loads(text) if text.startswith('"') else int(text)


def refer(*references: str) -> dict[str, Any]:
    return {"references": list(references)}


def plan(*changes: Change, region: str = "eu-central-1") -> dict[str, Any]:
    resource_changes = []
    modules: dict[tuple[str, ...], dict[str, Any]] = {(): {"resources": [], "module_calls": {}}}
    for change in changes:
        entry: dict[str, Any] = {
            "address": change.address,
            "mode": "managed",
            "type": change.type,
            "name": change.name,
            "provider_name": "registry.terraform.io/hashicorp/" + change.type.split("_", 1)[0],
            "change": {
                "actions": list(change.actions),
                "before": None,
                "after": None if change.after is None else dict(change.after),
                "after_unknown": dict(change.unknown),
                "before_sensitive": False,
                "after_sensitive": dict(change.sensitive),
            },
        }
        if change.module:
            entry["module_address"] = change.module
        if change.index is not None:
            entry["index"] = change.index
        resource_changes.append(entry)
        path = tuple(re.findall(r"module\.([^.\[]+)", change.module))
        for depth in range(1, len(path) + 1):
            parent = modules.setdefault(path[: depth - 1], {"resources": [], "module_calls": {}})
            modules.setdefault(path[:depth], {"resources": [], "module_calls": {}})
            parent["module_calls"].setdefault(
                path[depth - 1], {"source": "./m", "module": modules[path[:depth]]}
            )
        local = [r for r in modules[path]["resources"] if r["address"] == f"{change.type}.{change.name}"]
        if not local:
            modules[path]["resources"].append(
                {
                    "address": f"{change.type}.{change.name}",
                    "mode": "managed",
                    "type": change.type,
                    "name": change.name,
                    "provider_config_key": change.provider_key or change.type.split("_", 1)[0],
                    "expressions": dict(change.expressions),
                }
            )
    return {
        "format_version": "1.2",
        "terraform_version": "1.9.8",
        "planned_values": {"root_module": planned_values(resource_changes)},
        "resource_changes": resource_changes,
        "configuration": {
            "provider_config": {
                "aws": {"name": "aws", "expressions": {"region": {"constant_value": region}}},
                "aws.london": {
                    "name": "aws",
                    "alias": "london",
                    "expressions": {"region": {"constant_value": "eu-west-2"}},
                },
                "aws.virginia": {
                    "name": "aws",
                    "alias": "virginia",
                    "expressions": {"region": {"constant_value": "us-east-1"}},
                },
            },
            "root_module": modules[()],
        },
        "applyable": True,
        "complete": True,
        "errored": False,
    }


def write_plan(path: Path, *changes: Change, **kwargs: Any) -> Path:
    path.write_text(json.dumps(plan(*changes, **kwargs), indent=1), encoding="utf-8")
    return path


def compliant_bucket(name: str = "card", stage: str = "acceptance") -> list[Change]:
    tags = {**TAGS, "stage": stage}
    bucket = f"aws_s3_bucket.{name}"
    return [
        Change(
            bucket,
            "aws_s3_bucket",
            {"bucket": f"payments-{name}", "tags": tags, "tags_all": tags, "acl": None},
        ),
        Change(
            f"aws_s3_bucket_server_side_encryption_configuration.{name}",
            "aws_s3_bucket_server_side_encryption_configuration",
            {
                "bucket": f"payments-{name}",
                "rule": [
                    {
                        "apply_server_side_encryption_by_default": [
                            {
                                "sse_algorithm": "aws:kms",
                                "kms_master_key_id": "arn:aws:kms:eu-central-1:1:key/k",
                            }
                        ]
                    }
                ],
            },
            expressions={"bucket": refer(f"{bucket}.id", bucket)},
        ),
        Change(
            f"aws_s3_bucket_public_access_block.{name}",
            "aws_s3_bucket_public_access_block",
            {
                "bucket": f"payments-{name}",
                "block_public_acls": True,
                "block_public_policy": True,
                "ignore_public_acls": True,
                "restrict_public_buckets": True,
            },
            expressions={"bucket": refer(f"{bucket}.id", bucket)},
        ),
        Change(
            f"aws_s3_bucket_versioning.{name}",
            "aws_s3_bucket_versioning",
            {"bucket": f"payments-{name}", "versioning_configuration": [{"status": "Enabled"}]},
            expressions={"bucket": refer(f"{bucket}.id", bucket)},
        ),
    ]


def planned_values(resource_changes: list[dict[str, Any]]) -> dict[str, Any]:
    """The `planned_values` tree Terraform writes beside `resource_changes` (checkov reads this one)."""
    root: dict[str, Any] = {"resources": [], "child_modules": []}
    modules: dict[str, dict[str, Any]] = {"": root}
    for entry in resource_changes:
        if entry["change"]["actions"] == ["delete"]:
            continue
        module = entry.get("module_address", "")
        parts = re.findall(r"module\.[^.\[]+(?:\[[^\]]*\])?", module)
        for depth in range(1, len(parts) + 1):
            address = ".".join(parts[:depth])
            if address not in modules:
                modules[address] = {"address": address, "resources": [], "child_modules": []}
                modules[".".join(parts[: depth - 1])]["child_modules"].append(modules[address])
        resource = {
            key: entry[key]
            for key in ("address", "mode", "type", "name", "index", "provider_name")
            if key in entry
        }
        resource["schema_version"] = 0
        resource["values"] = entry["change"]["after"] or {}
        resource["sensitive_values"] = {}
        modules[module]["resources"].append(resource)
    return root
