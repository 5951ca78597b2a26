"""Plan-based runs at scale: bare pytest, regops's native catalogue, and checkov, side by side.

For each size, generates a Terraform plan of that many resources (S3 buckets with their split
encryption, public access and versioning blocks, security groups, RDS instances, KMS keys) and
measures, each in a fresh process: bare pytest over the same number of trivial parametrised
items; `pytest --stage=system` with the native catalogue and the evidence bundle (checkov off);
the checkov CLI on the same plan. Prints wall time and peak RSS of each.

    python benchmarks/plan_scale.py --sizes 1000 10000 [--skip-checkov] [-n 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TAGS = {
    "owner": "bench",
    "stage": "system",
    "data_classification": "internal",
    "service": "bench",
    "criticality": "non-cif",
}


def _change(
    address: str, kind: str, after: dict[str, Any], refs: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "address": address,
        "mode": "managed",
        "type": kind,
        "name": address.split(".")[-1],
        "provider_name": "registry.terraform.io/hashicorp/aws",
        "change": {
            "actions": ["create"],
            "before": None,
            "after": after,
            "after_unknown": {},
            "before_sensitive": False,
            "after_sensitive": {},
        },
        "_refs": refs or {},
    }


def plan(size: int) -> dict[str, Any]:
    """About `size` resources; a bucket counts its three split blocks as resources of their own."""
    changes: list[dict[str, Any]] = []
    i = 0
    while len(changes) < size:
        name = f"b{i}"
        bucket = f"aws_s3_bucket.{name}"
        ref = {"bucket": {"references": [f"{bucket}.id", bucket]}}
        changes += [
            _change(bucket, "aws_s3_bucket", {"bucket": f"bench-{name}", "tags": TAGS, "tags_all": TAGS}),
            _change(
                f"aws_s3_bucket_server_side_encryption_configuration.{name}",
                "aws_s3_bucket_server_side_encryption_configuration",
                {
                    "bucket": f"bench-{name}",
                    "rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms"}]}],
                },
                ref,
            ),
            _change(
                f"aws_s3_bucket_public_access_block.{name}",
                "aws_s3_bucket_public_access_block",
                {
                    "bucket": f"bench-{name}",
                    **dict.fromkeys(
                        (
                            "block_public_acls",
                            "block_public_policy",
                            "ignore_public_acls",
                            "restrict_public_buckets",
                        ),
                        True,
                    ),
                },
                ref,
            ),
            _change(
                f"aws_s3_bucket_versioning.{name}",
                "aws_s3_bucket_versioning",
                {"bucket": f"bench-{name}", "versioning_configuration": [{"status": "Enabled"}]},
                ref,
            ),
            _change(
                f"aws_security_group.sg{i}",
                "aws_security_group",
                {
                    "name": f"sg{i}",
                    "tags": TAGS,
                    "ingress": [
                        {"from_port": 443, "to_port": 443, "protocol": "tcp", "cidr_blocks": ["10.0.0.0/8"]}
                    ],
                },
            ),
            _change(
                f"aws_db_instance.db{i}",
                "aws_db_instance",
                {
                    "identifier": f"db{i}",
                    "engine": "postgres",
                    "storage_encrypted": True,
                    "publicly_accessible": False,
                    "backup_retention_period": 35,
                    "tags": TAGS,
                },
            ),
            _change(f"aws_kms_key.k{i}", "aws_kms_key", {"enable_key_rotation": True, "tags": TAGS}),
        ]
        i += 1
    changes = changes[:size]
    resources = []
    for change in changes:
        resources.append(
            {
                "address": change["address"],
                "mode": "managed",
                "type": change["type"],
                "name": change["name"],
                "provider_config_key": "aws",
                "expressions": change.pop("_refs"),
            }
        )
    return {
        "format_version": "1.2",
        "terraform_version": "1.9.8",
        "planned_values": {
            "root_module": {
                "resources": [
                    {
                        "address": c["address"],
                        "mode": "managed",
                        "type": c["type"],
                        "name": c["name"],
                        "provider_name": c["provider_name"],
                        "schema_version": 0,
                        "values": c["change"]["after"],
                        "sensitive_values": {},
                    }
                    for c in changes
                ]
            }
        },
        "resource_changes": changes,
        "configuration": {
            "provider_config": {
                "aws": {"name": "aws", "expressions": {"region": {"constant_value": "eu-central-1"}}}
            },
            "root_module": {"resources": resources},
        },
    }


MEASURE = """
import re, resource, subprocess, sys, time
started = time.perf_counter()
completed = subprocess.run(sys.argv[1:], capture_output=True, text=True, check=False)
elapsed = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
last = completed.stdout.strip().splitlines()[-1] if completed.stdout.strip() else ""
found = re.findall(r"(\\d+) (?:passed|failed|skipped|errors?)\\b", last)
items = sum(int(n) for n in found)
print(f"{elapsed:.2f} {peak:.0f} {completed.returncode} {items}")
if completed.returncode not in (0, 1):
    print(completed.stdout[-2000:], completed.stderr[-2000:], file=sys.stderr)
"""


def measure(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MiB) and pytest items run of one command, in a process of its own."""
    completed = subprocess.run(
        [sys.executable, "-c", MEASURE, *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    seconds, peak, code, items = completed.stdout.split()
    if code not in ("0", "1"):
        sys.exit(f"{' '.join(command[:4])}… failed with {code}:\n{completed.stderr}")
    return float(seconds), float(peak), int(items)


BARE = """
import pytest

@pytest.mark.parametrize("item", range({size}))
def test_item(item):
    assert item >= 0
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--skip-checkov", action="store_true")
    parser.add_argument("-n", dest="workers", type=int, default=0, help="also run regops with pytest -n N")
    args = parser.parse_args()
    import os

    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "SKIP_PACKAGE_UPDATE_CHECK": "TRUE"}
    print(f"{'resources':>9} {'run':<28} {'seconds':>8} {'peak MiB':>9} {'items':>7} {'ms/item':>8}")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "plan.json").write_text(json.dumps(plan(size)))
            (work / "pyproject.toml").write_text("[tool.regops]\n")
            (work / "bare").mkdir()
            (work / "bare" / "test_bare.py").write_text(BARE.format(size=size))
            common = ["-p", "no:cacheprovider", "-q", "--no-header", "-p", "no:randomly"]
            runs: list[tuple[str, list[str]]] = [
                ("bare pytest", [sys.executable, "-m", "pytest", *common, "bare", "-p", "no:regops"]),
                (
                    "regops (native, bundle)",
                    [
                        sys.executable,
                        "-m",
                        "pytest",
                        *common,
                        "-c",
                        "pyproject.toml",
                        "--rootdir",
                        tmp,
                        str(ROOT / "suites"),
                        "--stage=system",
                        "--plan=plan.json",
                        "--evidence-dir=out",
                    ],
                ),
            ]
            if args.workers:
                runs.append(
                    (
                        f"regops -n {args.workers}",
                        [*runs[1][1][:-1], "--evidence-dir=out-n", "-n", str(args.workers)],
                    )
                )
            if not args.skip_checkov:
                runs.append(
                    (
                        "checkov CLI (terraform_plan)",
                        [
                            sys.executable,
                            "-m",
                            "checkov.main",
                            "-f",
                            "plan.json",
                            "--framework",
                            "terraform_plan",
                            "--quiet",
                            "--compact",
                            "--skip-download",
                            "-o",
                            "json",
                            "--output-file-path",
                            "ck",
                        ],
                    )
                )
            for label, command in runs:
                seconds, peak, items = measure(command, work, env)
                per_item = f"{1000 * seconds / items:8.2f}" if items else f"{'':>8}"
                print(f"{size:>9} {label:<28} {seconds:>8.2f} {peak:>9.0f} {items:>7} {per_item}", flush=True)
            bundle = next((work / "out" / "system").iterdir())
            # evidence.json is the first file sessionfinish writes, MANIFEST.sha256 the last.
            writing = (bundle / "MANIFEST.sha256").stat().st_mtime - (
                bundle / "evidence.json"
            ).stat().st_mtime
            print(f"{size:>9} {'  bundle after evidence.json':<28} {writing:>8.2f}")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - started:.0f} s")
