"""Ed25519 signatures over MANIFEST.sha256 and the verification of whole bundles."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from regops.evidence.bundle import MANIFEST, sha256_file, validate_evidence

SIGNATURE = MANIFEST + ".sig"
_LINE = re.compile(r"^([0-9a-f]{64})  (\S(?:.*\S)?)$")


class SigningError(Exception):
    """The signing key cannot be used; the message names the file."""


def load_private_key(path: Path) -> object:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningError(f"{path}: cannot load an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path}: not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> object:
    """The trusted Ed25519 public key in the PEM file; a SigningError naming the file if it is not one."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise SigningError(f"{path}: cannot read the public key ({exc.strerror})") from None
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise SigningError(f"{path}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"{path}: not an Ed25519 public key")
    return key


def _public_pem(key: object) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    assert isinstance(public, Ed25519PublicKey)
    return public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def sign_manifest(directory: Path, private_key: object) -> Path:
    """Write MANIFEST.sha256.sig: the signature and the public key that checks it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    assert isinstance(private_key, Ed25519PrivateKey)
    manifest = (directory / MANIFEST).read_bytes()
    public = _public_pem(private_key)
    document = {
        "algorithm": "ed25519",
        "signed_file": MANIFEST,
        "public_key": public.decode("ascii"),
        "public_key_sha256": hashlib.sha256(public).hexdigest(),
        "signature": base64.b64encode(private_key.sign(manifest)).decode("ascii"),
    }
    path = directory / SIGNATURE
    path.write_bytes(_canonical(document))
    return path


def _canonical(document: object) -> bytes:
    # One byte form per content: verification compares bytes, so no edit hides in white space.
    return (json.dumps(document, indent=1) + "\n").encode("utf-8")


@dataclass
class Verification:
    bundle: Path
    problems: list[str] = field(default_factory=list)
    checked_files: int = 0
    signed: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_bundle(directory: Path, trusted_public_key: Path | None = None) -> Verification:
    """Check the manifest covers every file with the right hash, the schema, and the signature."""
    report = Verification(directory)
    if not directory.is_dir():
        problem = "not a directory" if directory.exists() else "no such bundle directory"
        report.problems.append(f"{directory}: {problem}")
        return report
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        report.problems.append(f"{manifest_path}: missing")
        return report
    listed: dict[str, str] = {}
    try:
        lines = manifest_path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        lines = []
    unparsed = []
    for number, line in enumerate(lines, start=1):
        match = _LINE.match(line)
        if match is None:
            unparsed.append(f"{MANIFEST}:{number}: not a sha256sum line")
            continue
        listed[match.group(2)] = match.group(1)
    if not listed:
        # A manifest of which nothing can be read is one problem, not one per file it fails to vouch for.
        report.problems.append(f"{MANIFEST}: not a sha256sum manifest")
        return report
    report.problems.extend(unparsed)
    present = {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()} - {
        MANIFEST,
        SIGNATURE,
    }
    for name in sorted(present - set(listed)):
        report.problems.append(f"{name}: not listed in {MANIFEST}")
    for name, digest in sorted(listed.items()):
        path = directory / name
        if name not in present:
            report.problems.append(f"{name}: listed in {MANIFEST} but missing")
        elif sha256_file(path) != digest:
            report.problems.append(f"{name}: sha256 differs from {MANIFEST}")
        else:
            report.checked_files += 1
    _check_evidence(directory, report)
    _check_signature(directory, trusted_public_key, report)
    return report


def _check_evidence(directory: Path, report: Verification) -> None:
    path = directory / "evidence.json"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        report.problems.append(f"evidence.json: unreadable ({exc})")
        return
    if not isinstance(document, dict):
        report.problems.append("evidence.json: not a JSON object")
        return
    report.problems.extend(f"evidence.json: {problem}" for problem in validate_evidence(document))


def _check_signature(directory: Path, trusted_public_key: Path | None, report: Verification) -> None:
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    path = directory / SIGNATURE
    if not path.is_file():
        if trusted_public_key is not None:
            report.problems.append(f"{SIGNATURE}: missing, but a public key was given to check it")
        return
    raw = path.read_bytes()
    try:
        document = json.loads(raw)
        embedded = document["public_key"].encode("ascii")
        signature = base64.b64decode(document["signature"], validate=True)
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        report.problems.append(f"{SIGNATURE}: malformed ({type(exc).__name__})")
        return
    expected = {"algorithm": "ed25519", "signed_file": MANIFEST}
    if _canonical(document) != raw or any(document.get(k) != v for k, v in expected.items()):
        report.problems.append(f"{SIGNATURE}: altered (not as regops writes it)")
    if document.get("public_key_sha256") != hashlib.sha256(embedded).hexdigest():
        report.problems.append(f"{SIGNATURE}: public_key_sha256 does not match the embedded key")
    if trusted_public_key is not None:
        try:
            key = load_public_key(trusted_public_key)
        except SigningError as exc:
            report.problems.append(str(exc))
            return
    else:
        try:
            key = load_pem_public_key(embedded)
        except (ValueError, UnsupportedAlgorithm) as exc:
            report.problems.append(f"{SIGNATURE}: the embedded public key cannot be loaded ({exc})")
            return
    if not isinstance(key, Ed25519PublicKey):
        report.problems.append(f"{SIGNATURE}: the embedded public key is not an Ed25519 key")
        return
    if trusted_public_key is not None and _public_pem(key) != embedded:
        report.problems.append(f"{SIGNATURE}: signed with another key than the one given")
    try:
        key.verify(signature, (directory / MANIFEST).read_bytes())
    except InvalidSignature:
        report.problems.append(f"{SIGNATURE}: the signature does not match {MANIFEST}")
        return
    report.signed = True
