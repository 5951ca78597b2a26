"""Plan-based runs at scale: regops's native catalogue, bare pytest and checkov, side by side.

For each size, generates a Terraform plan of that many resources (S3 buckets with their split
encryption, public access and versioning blocks, security groups, RDS instances, KMS keys) and
measures, each in a fresh process: `pytest --stage=system` with the native catalogue and the
evidence bundle (checkov off), with one pytest item per control and resource and with one per
control (`--item-per=control`); bare pytest over as many trivial parametrised items as regops ran
(so the two differ only in what regops does per item and around the items), once as it is and
once leaving its objects out of the interpreter's last collection at exit as regops does; the
checkov CLI on the same plan. Prints the median wall time and the largest peak RSS of `--repeat`
runs of regops and of bare pytest, which take turns after one uncounted run of each (timings
vary by 5-15% and more from run to run), and the median of the run-by-run ratios; checkov and
`-n` run once.

    python benchmarks/plan_scale.py --sizes 1000 10000 [--repeat 3] [--skip-checkov] [-n 2]
    python benchmarks/plan_scale.py --sizes 50000 --per-control-only --skip-checkov
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
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


def measure(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int]:
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


def median_row(runs: list[tuple[float, float, int]]) -> tuple[float, float, int, list[float]]:
    """The median wall seconds and the largest peak of repeated runs; every run's seconds."""
    seconds = [run[0] for run in runs]
    return statistics.median(seconds), max(run[1] for run in runs), runs[-1][2], seconds


BARE = """
import pytest

@pytest.mark.parametrize("item", range({items}))
def test_item(item):
    assert item >= 0
"""


# regops leaves the objects of a run out of the interpreter's last collection at exit; bare pytest
# with the same done for it shows how much of the difference that alone makes.
BARE_FROZEN_AT_EXIT = """
import atexit, gc

atexit.register(gc.freeze)
"""


def checkov_command() -> list[str]:
    return [
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
    ]


def print_row(size: int, label: str, row: tuple[float, float, int, list[float]]) -> None:
    seconds, peak, items, each = row
    per_item = f"{1000 * seconds / items:8.2f}" if items else f"{'':>8}"
    spread = f"  ({', '.join(f'{s:.2f}' for s in each)})" if len(each) > 1 else ""
    print(f"{size:>9} {label:<30} {seconds:>8.2f} {peak:>9.0f} {items:>7} {per_item}{spread}", flush=True)


def run_and_print(
    size: int, label: str, command: list[str], work: Path, env: dict[str, str]
) -> tuple[float, int]:
    """Measure one command once and print its row; its seconds and items."""
    seconds, peak, items = measure(command, work, env)
    print_row(size, label, (seconds, peak, items, [seconds]))
    return seconds, items


def print_ratio(size: int, label: str, ratio: float, detail: str = "") -> None:
    print(f"{size:>9} {'  ' + label:<30} {ratio:>7.2f}x{detail}", flush=True)


def measure_size(size: int, args: argparse.Namespace, env: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "plan.json").write_text(json.dumps(plan(size)))
        (work / "pyproject.toml").write_text("[tool.regops]\n")
        # Laid out as in a repository that runs regops: the suites under the root directory.
        shutil.copytree(ROOT / "suites", work / "suites", ignore=shutil.ignore_patterns("__pycache__"))
        # hypothesis's plugin (a development dependency, not regops's) imports hypothesis to
        # write its summary: a third of a second in both runs that neither needs.
        common = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-q", "--no-header"]
        regops = [
            *(sys.executable, "-m", "pytest", *common, "-c", "pyproject.toml", "--rootdir", tmp),
            *("suites", "--stage=system", "--plan=plan.json"),
        ]
        per_control = [*regops, "--evidence-dir=out-control", "--item-per=control"]
        if args.per_control_only:
            measure(per_control, work, env)  # not counted: it writes the rewritten bytecode
            per_control_row = median_row([measure(per_control, work, env) for _ in range(args.repeat)])
            print_row(size, "regops --item-per=control", per_control_row)
            compare_with_checkov(size, args, work, env, {"--item-per=control": per_control_row[0]})
            print_bundle_writing(size, work / "out-control", "--item-per=control")
            return
        # One run of each that is not counted: it writes the suites' and the bare test's
        # rewritten bytecode, and tells how many items bare pytest must run. Then they take
        # turns, so that the machine's drift over the runs weighs on each alike.
        items = measure([*regops, "--evidence-dir=out"], work, env)[2]
        bare = {}
        for name, conftest in (("bare", ""), ("bare-frozen", BARE_FROZEN_AT_EXIT)):
            (work / name).mkdir()
            (work / name / "test_bare.py").write_text(BARE.format(items=items))
            (work / name / "conftest.py").write_text(conftest)
            bare[name] = [sys.executable, "-m", "pytest", *common, name, "-p", "no:regops"]
            measure(bare[name], work, env)
        runs = [
            (
                measure([*regops, "--evidence-dir=out"], work, env),
                measure(bare["bare"], work, env),
                measure(bare["bare-frozen"], work, env),
                measure(per_control, work, env),
            )
            for _ in range(args.repeat)
        ]
        regops_row = median_row([run[0] for run in runs])
        print_row(size, "regops (native, bundle)", regops_row)
        per_control_row = median_row([run[3] for run in runs])
        print_row(size, "regops --item-per=control", per_control_row)
        same = results_of(work / "out") == results_of(work / "out-control")
        print(f"{size:>9} {'  the same results':<30} {'yes' if same else 'NO':>8}", flush=True)
        for column, label in ((1, "bare pytest, same items"), (2, "bare, frozen at exit")):
            bare_row = median_row([run[column] for run in runs])
            print_row(size, label, bare_row)
            ratios = sorted(run[0][0] / run[column][0] for run in runs)
            each = f"  ({', '.join(f'{ratio:.2f}' for ratio in ratios)})" if len(ratios) > 1 else ""
            print_ratio(size, "regops against it, run by run", statistics.median(ratios), each)
        regops_seconds = regops_row[0]
        if args.workers:
            parallel = [*regops, "--evidence-dir=out-n", "-n", str(args.workers)]
            parallel_seconds, _ = run_and_print(size, f"regops -n {args.workers}", parallel, work, env)
            print_ratio(size, f"-n {args.workers} against one process", parallel_seconds / regops_seconds)
        compare_with_checkov(
            size, args, work, env, {"regops": regops_seconds, "--item-per=control": per_control_row[0]}
        )
        print_bundle_writing(size, work / "out", "regops")
        print_bundle_writing(size, work / "out-control", "--item-per=control")


def compare_with_checkov(
    size: int, args: argparse.Namespace, work: Path, env: dict[str, str], seconds: dict[str, float]
) -> None:
    if args.skip_checkov:
        return
    checkov_seconds, _ = run_and_print(size, "checkov CLI (terraform_plan)", checkov_command(), work, env)
    for label, regops_seconds in seconds.items():
        print_ratio(size, f"checkov against {label}", checkov_seconds / regops_seconds)


def print_bundle_writing(size: int, evidence_dir: Path, label: str) -> None:
    bundle = max((evidence_dir / "system").iterdir(), key=lambda run: run.stat().st_mtime)
    # evidence.json is the first file sessionfinish writes, MANIFEST.sha256 the last.
    writing = (bundle / "MANIFEST.sha256").stat().st_mtime - (bundle / "evidence.json").stat().st_mtime
    print(f"{size:>9} {'  bundle after evidence.json':<30} {writing:>8.2f}  (last {label} run)")


def results_of(evidence_dir: Path) -> list[tuple[str, str, str]]:
    """(control, resource, outcome) of the newest bundle's results, to compare the two item modes."""
    bundle = max((evidence_dir / "system").iterdir(), key=lambda run: run.stat().st_mtime)
    document = json.loads((bundle / "evidence.json").read_text())
    return sorted(
        (control["id"], str(result["resource_id"]), result["outcome"])
        for control in document["controls"]
        for result in control["results"]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of regops and of bare pytest; the median is shown"
    )
    parser.add_argument("--skip-checkov", action="store_true")
    parser.add_argument(
        "--per-control-only",
        action="store_true",
        help="only regops --item-per=control (and checkov): for sizes where the rest takes long",
    )
    parser.add_argument("-n", dest="workers", type=int, default=0, help="also run regops with pytest -n N")
    args = parser.parse_args()
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "SKIP_PACKAGE_UPDATE_CHECK": "TRUE"}
    # The uncounted first runs write the rewritten bytecode that the counted ones read.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    print(f"regops and bare pytest: median of {args.repeat} run(s); {os.cpu_count()} cores")
    print(f"{'resources':>9} {'run':<30} {'seconds':>8} {'peak MiB':>9} {'items':>7} {'ms/item':>8}")
    for size in args.sizes:
        measure_size(size, args, env)


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - started:.0f} s")
