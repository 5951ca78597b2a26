"""Archiving bundles: to a local folder, or to S3 under Object Lock in compliance mode."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse


class ArchiveError(Exception):
    """The bundle could not be archived; the message says where and why."""


def archive_bundle(
    bundle: Path,
    destination: str,
    stage: str,
    *,
    retention_days: int,
    endpoint_url: str | None = None,
) -> str:
    """Copy the bundle to `<destination>/<stage>/<run_id>/`; the archived location."""
    if destination.startswith("s3://"):
        return _to_s3(bundle, destination, stage, retention_days, endpoint_url)
    target = Path(destination).expanduser().resolve() / stage / bundle.name
    if target == bundle.resolve():
        return str(target)
    # Copied beside and moved into place: a copy that fails half way is never an archived bundle.
    partial = target.with_name(f".{target.name}.partial")
    try:
        if target.exists():
            raise ArchiveError(f"{target}: already archived; an archived bundle is never overwritten")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(bundle, partial)
        partial.rename(target)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise ArchiveError(f"{destination}: cannot archive {bundle.name} there ({exc})") from None
    return str(target)


def _to_s3(bundle: Path, destination: str, stage: str, retention_days: int, endpoint_url: str | None) -> str:
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise ArchiveError(
            f"{destination}: archiving to S3 needs boto3: pip install 'pytest-regops[aws]'"
        ) from None

    parsed = urlparse(destination)
    bucket, prefix = parsed.netloc, parsed.path.strip("/")
    key_prefix = "/".join(part for part in (prefix, stage, bundle.name) if part)
    retain_until = datetime.now(UTC) + timedelta(days=retention_days)
    client = boto3.client("s3", endpoint_url=endpoint_url)
    try:
        lock = client.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
        if lock.get("ObjectLockEnabled") != "Enabled":
            raise ArchiveError(f"s3://{bucket}: Object Lock is not enabled; evidence could be deleted")
        for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
            key = f"{key_prefix}/{path.relative_to(bundle).as_posix()}"
            with path.open("rb") as body:
                client.put_object(
                    Bucket=bucket,
                    Key=key,
                    Body=body,
                    ObjectLockMode="COMPLIANCE",
                    ObjectLockRetainUntilDate=retain_until,
                    ChecksumAlgorithm="SHA256",
                )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise ArchiveError(
            f"{destination}: {error.get('Code', 'error')}: {error.get('Message', exc)}"
        ) from None
    except BotoCoreError as exc:
        raise ArchiveError(f"{destination}: {exc}") from None
    return f"s3://{bucket}/{key_prefix}/"
