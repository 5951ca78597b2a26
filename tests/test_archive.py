"""Archiving bundles to a folder and to S3 with Object Lock, on a moto server on loopback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from regops.evidence.archive import ArchiveError, archive_bundle
from tests.helpers import only_bundle
from tests.plans import compliant_bucket, write_plan
from tests.test_plugin import CONTROLS

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-central-1",
    }.items():
        monkeypatch.setenv(name, value)
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
    return boto3.client("s3", endpoint_url=endpoint)


def make_bundle(tmp_path: Path) -> Path:
    bundle = tmp_path / "reports" / "production" / "20261125T000000Z-abcdef"
    bundle.mkdir(parents=True)
    (bundle / "evidence.json").write_text("{}")
    (bundle / "MANIFEST.sha256").write_text("x  evidence.json\n")
    return bundle


def test_local_archive_copies_and_never_overwrites(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    location = archive_bundle(bundle, str(tmp_path / "archive"), "production", retention_days=1)
    assert Path(location, "evidence.json").read_text() == "{}"
    with pytest.raises(ArchiveError, match="already archived"):
        archive_bundle(bundle, str(tmp_path / "archive"), "production", retention_days=1)


def test_a_local_archive_that_is_a_file_is_an_archive_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a folder")
    with pytest.raises(ArchiveError, match=r"afile: cannot archive 20261125T000000Z-abcdef there \("):
        archive_bundle(make_bundle(tmp_path), str(tmp_path / "afile"), "production", retention_days=1)
    assert (tmp_path / "afile").read_text() == "not a folder"


def test_a_copy_that_fails_leaves_no_bundle_in_the_archive(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    (bundle / "unreadable").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ArchiveError, match="cannot archive"):
        archive_bundle(bundle, str(tmp_path / "archive"), "production", retention_days=1)
    assert list((tmp_path / "archive" / "production").iterdir()) == []


def test_s3_archive_uses_compliance_mode_object_lock(s3: Any, endpoint: str, tmp_path: Path) -> None:
    s3.create_bucket(
        Bucket="evidence",
        CreateBucketConfiguration={"LocationConstraint": "eu-central-1"},
        ObjectLockEnabledForBucket=True,
    )
    bundle = make_bundle(tmp_path)
    location = archive_bundle(
        bundle, "s3://evidence/payments", "production", retention_days=400, endpoint_url=endpoint
    )
    assert location == "s3://evidence/payments/production/20261125T000000Z-abcdef/"
    head = s3.head_object(Bucket="evidence", Key="payments/production/20261125T000000Z-abcdef/evidence.json")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC) + timedelta(days=399)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="evidence")["Contents"])
    assert keys == [
        "payments/production/20261125T000000Z-abcdef/MANIFEST.sha256",
        "payments/production/20261125T000000Z-abcdef/evidence.json",
    ]


def test_s3_bucket_without_object_lock_is_refused(s3: Any, endpoint: str, tmp_path: Path) -> None:
    s3.create_bucket(Bucket="plain", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    with pytest.raises(ArchiveError, match=r"s3://plain/x: ObjectLockConfigurationNotFoundError"):
        archive_bundle(
            make_bundle(tmp_path), "s3://plain/x", "production", retention_days=1, endpoint_url=endpoint
        )
    assert "Contents" not in s3.list_objects_v2(Bucket="plain")


def test_a_failed_archive_fails_the_run(pytester: pytest.Pytester, s3: Any, endpoint: str) -> None:
    s3.create_bucket(Bucket="plain", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    pytester.makepyfile(test_controls=CONTROLS)
    write_plan(pytester.path / "plan.json", *compliant_bucket())
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--stage=system",
        "--plan",
        "plan.json",
        "--evidence-dir",
        "out",
        "--evidence-archive",
        "s3://plain/evidence",
        "--aws-endpoint",
        endpoint,
        "--control",
        "T-001",
    )
    result.stdout.fnmatch_lines(
        ["*ARCHIVE FAILED: s3://plain/evidence: ObjectLockConfigurationNotFoundError*"]
    )
    assert result.ret == 1
    assert only_bundle(pytester.path / "out", "system").is_dir()


def test_an_archive_folder_that_is_a_file_fails_the_run_with_the_summary(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_controls=CONTROLS)
    write_plan(pytester.path / "plan.json", *compliant_bucket())
    (pytester.path / "afile").write_text("not a folder")
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--stage=system",
        "--plan",
        "plan.json",
        "--evidence-dir",
        "out",
        "--evidence-archive=afile",
        "--control",
        "T-001",
    )
    result.stdout.fnmatch_lines(["*gate: PASS*", "*ARCHIVE FAILED: *afile: cannot archive * there (*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert result.ret == 1
    assert (only_bundle(pytester.path / "out", "system") / "MANIFEST.sha256").is_file()
