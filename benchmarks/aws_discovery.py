"""Live AWS discovery at scale: 1,000 tagged resources over 4 regions in a moto server on loopback.

Prints the time to seed moto, the time and peak RSS of `discover_aws` alone (in a process of its
own), and the
wall time and peak RSS of a whole `pytest --stage=acceptance` run (discovery, every control on
every resource, evidence bundle) against the same server.

    python benchmarks/aws_discovery.py [--resources 1000] [--regions 4] [--workers 8]
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))

from regops.discovery.aws import AwsSource, discover_aws  # noqa: E402

REGIONS = ("eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1")
STAGE = "acceptance"
# What each region holds, by share of the total; KMS keys are slow to create in moto, so fewer.
MIX = {"bucket": 0.25, "security_group": 0.35, "table": 0.2, "key": 0.05, "db": 0.15}


def seed(endpoint: str, total: int, regions: tuple[str, ...]) -> int:
    tags = {"stage": STAGE, "owner": "bench@example.com", "data_classification": "internal"}
    pairs = [{"Key": k, "Value": v} for k, v in tags.items()]
    created = 0
    per_region = total // len(regions)
    for region in regions:

        def client(service: str, region: str = region) -> Any:
            return boto3.client(
                service,
                region_name=region,
                endpoint_url=endpoint,
                config=Config(s3={"addressing_style": "path"}),
            )

        s3, ec2, ddb, kms, rds = (client(s) for s in ("s3", "ec2", "dynamodb", "kms", "rds"))
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        counts = {kind: int(per_region * share) for kind, share in MIX.items()}
        counts["security_group"] += per_region - sum(counts.values())
        for i in range(counts["bucket"]):
            name = f"bench-{region}-{i}"
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": pairs})
        for i in range(counts["security_group"]):
            group = ec2.create_security_group(
                GroupName=f"bench-{i}",
                Description="bench",
                VpcId=vpc,
                TagSpecifications=[{"ResourceType": "security-group", "Tags": pairs}],
            )["GroupId"]
            ec2.authorize_security_group_ingress(
                GroupId=group,
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 443,
                        "ToPort": 443,
                        "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
                    }
                ],
            )
        for i in range(counts["table"]):
            ddb.create_table(
                TableName=f"bench-{i}",
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                Tags=pairs,
            )
        key = None
        for _ in range(counts["key"]):
            key = kms.create_key(Tags=[{"TagKey": k, "TagValue": v} for k, v in tags.items()])["KeyMetadata"][
                "Arn"
            ]
        for i in range(counts["db"]):
            rds.create_db_instance(
                DBInstanceIdentifier=f"bench-{i}",
                DBInstanceClass="db.t3.micro",
                Engine="postgres",
                AllocatedStorage=20,
                StorageEncrypted=True,
                # moto names no real key unless one is given, and discovery rightly fails on that.
                **({"KmsKeyId": key} if key else {}),
                Tags=pairs,
            )
        created += per_region
    return created


def run_plugin(endpoint: str, regions: tuple[str, ...], workers: int) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MiB and exit code of a whole regops run over the live stage."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "pyproject.toml").write_text(
            "[tool.pytest.ini_options]\n"
            'addopts = ["-p", "no:cacheprovider"]\n'
            f"[tool.regops.stages.{STAGE}.aws]\n"
            f"regions = {list(regions)!r}\n"
            'account_id = "123456789012"\n'
            f"max_workers = {workers}\n"
        )
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "--no-header",
            "-p",
            "no:randomly",
            "--rootdir",
            tmp,
            "-c",
            str(Path(tmp, "pyproject.toml")),
            f"--stage={STAGE}",
            f"--aws-endpoint={endpoint}",
            f"--evidence-dir={tmp}/reports",
            str(ROOT / "suites"),
        ]
        started = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    summary = [line for line in completed.stdout.splitlines() if " in " in line and "passed" in line]
    if completed.returncode not in (0, 1):
        sys.exit(f"regops run failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    print(f"  pytest summary: {summary[-1].strip('= ') if summary else '?'}")
    return elapsed, peak, completed.returncode


def discover_only(endpoint: str, regions: tuple[str, ...], workers: int) -> None:
    """Run in a child process so its time and peak RSS are discovery's own."""
    source = AwsSource(regions=regions, account_id="123456789012", endpoint_url=endpoint, max_workers=workers)
    started = time.perf_counter()
    discovery = discover_aws(source, STAGE)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = discovery.report
    print(
        f"discover_aws: {len(discovery.resources)} resources in {elapsed:.2f} s, "
        f"peak RSS {peak:.0f} MiB, complete={report.complete}"
    )
    for error in report.errors[:5]:
        print(f"  error: {error}")


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    """A moto server in its own process, as AWS would be: it must not share discovery's GIL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            return server, endpoint
        except OSError:
            time.sleep(0.05)
    server.kill()
    sys.exit("the moto server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=1000)
    parser.add_argument("--regions", type=int, default=4, choices=range(1, len(REGIONS) + 1))
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--discover-only", metavar="ENDPOINT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    regions = REGIONS[: args.regions]
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": regions[0],
        }
    )
    if args.discover_only:
        discover_only(args.discover_only, regions, args.workers)
        return

    server, endpoint = start_moto()
    try:
        started = time.perf_counter()
        created = seed(endpoint, args.resources, regions)
        print(
            f"seeded {created} tagged resources over {len(regions)} regions "
            f"in {time.perf_counter() - started:.1f} s"
        )
        subprocess.run(
            [
                sys.executable,
                __file__,
                f"--regions={args.regions}",
                f"--workers={args.workers}",
                f"--discover-only={endpoint}",
            ],
            check=True,
        )
        wall, rss, code = run_plugin(endpoint, regions, args.workers)
        print(
            f"pytest --stage={STAGE} (discovery + controls + bundle): {wall:.2f} s, "
            f"peak RSS {rss:.0f} MiB, exit {code}"
        )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
