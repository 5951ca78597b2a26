"""`regops verify` and signed bundles: any change to a bundle is caught."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regops.cli import main
from regops.evidence.signing import SIGNATURE, verify_bundle
from tests.helpers import only_bundle
from tests.plans import compliant_bucket, write_plan

CONTROL = '''
import pytest

@pytest.mark.control(id="V-001", layer="system", severity="high", kinds=("object_store",),
                     facts=("public",), frameworks={"pci-dss": ["1.3.1"]})
def test_not_public(resource):
    """Buckets are not public"""
    assert resource.fact("public") is False, f"{resource.id}: public"
'''


def keygen(directory: Path, name: str) -> Path:
    assert main(["keygen", str(directory / name)]) == 0
    return directory / name


def test_a_new_private_key_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    key = keygen(tmp_path, "k.pem")
    assert key.stat().st_mode & 0o777 == 0o600


@pytest.fixture(scope="module")
def signed_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A real bundle from a real run, signed; and the public key."""
    work = tmp_path_factory.mktemp("signed")
    (work / "test_controls.py").write_text(CONTROL)
    write_plan(work / "plan.json", *compliant_bucket())
    key = keygen(work, "signing.pem")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--stage=system",
            "--plan",
            "plan.json",
            "--evidence-dir",
            "out",
            "--signing-key",
            str(key),
        ],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return only_bundle(work / "out", "system"), work / "signing.pem.pub"


def test_signed_bundle_verifies(signed_bundle: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    bundle, public = signed_bundle
    assert (bundle / SIGNATURE).is_file()
    assert main(["verify", str(bundle), "--public-key", str(public)]) == 0
    assert "signature valid (pinned key)" in capsys.readouterr().out


def test_another_trusted_key_is_refused(signed_bundle: tuple[Path, Path], tmp_path: Path) -> None:
    bundle, _ = signed_bundle
    other = keygen(tmp_path, "other.pem")
    result = verify_bundle(bundle, Path(f"{other}.pub"))
    assert "MANIFEST.sha256.sig: signed with another key than the one given" in result.problems
    assert "MANIFEST.sha256.sig: the signature does not match MANIFEST.sha256" in result.problems


def test_an_unsigned_bundle_fails_when_a_key_is_pinned(
    signed_bundle: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle, public = signed_bundle
    copy = Path(shutil.copytree(bundle, tmp_path / "copy"))
    (copy / SIGNATURE).unlink()
    assert verify_bundle(copy).ok
    assert verify_bundle(copy, public).problems == [
        "MANIFEST.sha256.sig: missing, but a public key was given to check it"
    ]


def test_added_and_removed_files_are_caught(signed_bundle: tuple[Path, Path], tmp_path: Path) -> None:
    bundle, _ = signed_bundle
    copy = Path(shutil.copytree(bundle, tmp_path / "copy"))
    (copy / "extra.txt").write_text("planted")
    (copy / "junit.xml").unlink()
    problems = verify_bundle(copy).problems
    assert "extra.txt: not listed in MANIFEST.sha256" in problems
    assert "junit.xml: listed in MANIFEST.sha256 but missing" in problems


def test_verify_command_exits_non_zero(signed_bundle: tuple[Path, Path], tmp_path: Path) -> None:
    bundle, _ = signed_bundle
    copy = Path(shutil.copytree(bundle, tmp_path / "copy"))
    (copy / "evidence.json").write_text("{}")
    completed = subprocess.run(
        [sys.executable, "-m", "regops.cli", "verify", str(copy)], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 1
    assert "evidence.json: sha256 differs from MANIFEST.sha256" in completed.stderr
    assert "'schema' is a required property" in completed.stderr


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_flipped_byte_anywhere_is_caught(signed_bundle: tuple[Path, Path], data: st.DataObject) -> None:
    bundle, public = signed_bundle
    files = sorted(p.name for p in bundle.iterdir())
    name = data.draw(st.sampled_from(files), label="file")
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(shutil.copytree(bundle, Path(scratch) / "bundle"))
        content = bytearray((copy / name).read_bytes())
        position = data.draw(st.integers(0, len(content) - 1), label="position")
        mask = data.draw(st.integers(1, 255), label="mask")
        content[position] ^= mask
        (copy / name).write_bytes(bytes(content))
        assert not verify_bundle(copy, public).ok
        assert not verify_bundle(copy).ok


def test_a_bundle_that_is_not_there_is_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert verify_bundle(tmp_path / "nowhere").problems == [f"{tmp_path}/nowhere: no such bundle directory"]
    assert verify_bundle(tmp_path / "file").problems == [f"{tmp_path}/file: not a directory"]


def test_a_public_key_that_cannot_be_loaded_is_a_usage_error(
    signed_bundle: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle, _ = signed_bundle
    (tmp_path / "plan.json").write_text("{}")
    assert main(["verify", str(bundle), "--public-key", str(tmp_path / "plan.json")]) == 2
    assert capsys.readouterr().err == f"regops verify: {tmp_path}/plan.json: not a PEM public key\n"
    assert main(["verify", str(bundle), "--public-key", str(tmp_path / "missing.pub")]) == 2
    assert capsys.readouterr().err.startswith(f"regops verify: {tmp_path}/missing.pub: cannot read")


def test_an_unreadable_manifest_is_one_problem(signed_bundle: tuple[Path, Path], tmp_path: Path) -> None:
    bundle, _ = signed_bundle
    copy = Path(shutil.copytree(bundle, tmp_path / "copy"))
    (copy / "MANIFEST.sha256").write_bytes(bytes(range(256)))
    assert verify_bundle(copy).problems == ["MANIFEST.sha256: not a sha256sum manifest"]


def test_keygen_overwrites_neither_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "k.pem.pub").write_text("trusted elsewhere")
    assert main(["keygen", str(tmp_path / "k.pem")]) == 2
    assert capsys.readouterr().err == f"{tmp_path}/k.pem.pub: exists; not overwriting a key\n"
    assert (tmp_path / "k.pem.pub").read_text() == "trusted elsewhere"
    assert not (tmp_path / "k.pem").exists()


@pytest.mark.parametrize(
    ("output", "problem"), [("out", "a directory"), ("nodir/x.json", "no directory nodir")]
)
def test_snapshot_to_a_place_it_cannot_go_is_a_usage_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    output: str,
    problem: str,
) -> None:
    write_plan(tmp_path / "plan.json", *compliant_bucket())
    (tmp_path / "out").mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["snapshot", "--stage=system", "--plan=plan.json", "-o", output]) == 2
    assert capsys.readouterr().err == f"regops snapshot: {output}: cannot write the inventory ({problem})\n"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["out", "plan.json"]


def test_snapshot_that_cannot_be_written_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_plan(tmp_path / "plan.json", *compliant_bucket())
    (tmp_path / "snap.json.partial").mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["snapshot", "--stage=system", "--plan=plan.json", "-o", "snap.json"]) == 2
    assert capsys.readouterr().err.endswith(
        "regops snapshot: snap.json: cannot write the inventory (Is a directory)\n"
    )
    assert not (tmp_path / "snap.json").exists()


def test_an_embedded_key_that_cannot_be_loaded_is_named(
    signed_bundle: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle, _ = signed_bundle
    copy = Path(shutil.copytree(bundle, tmp_path / "copy"))
    document = json.loads((copy / SIGNATURE).read_text())
    document["public_key"] = "not a key"
    (copy / SIGNATURE).write_text(json.dumps(document, indent=1) + "\n")
    problems = verify_bundle(copy).problems
    assert any(p.startswith(f"{SIGNATURE}: the embedded public key cannot be loaded (") for p in problems), (
        problems
    )
