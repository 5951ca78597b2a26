"""The `regops` command: work with evidence bundles outside pytest."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from regops import __version__


def _verify(arguments: argparse.Namespace) -> int:
    from regops.evidence.signing import SigningError, load_public_key, verify_bundle

    public_key = Path(arguments.public_key) if arguments.public_key else None
    if public_key is not None:
        # A key that cannot be used says nothing about the bundles: bad input, not a failed check.
        try:
            load_public_key(public_key)
        except SigningError as exc:
            print(f"regops verify: {exc}", file=sys.stderr)
            return 2
    status = 0
    for bundle in arguments.bundles:
        result = verify_bundle(Path(bundle), public_key)
        if result.ok:
            signed = "signature valid" if result.signed else "not signed"
            pinned = " (pinned key)" if arguments.public_key and result.signed else ""
            print(f"{bundle}: OK, {result.checked_files} files, {signed}{pinned}")
        else:
            status = 1
            print(f"{bundle}: FAILED", file=sys.stderr)
            for problem in result.problems:
                print(f"  {problem}", file=sys.stderr)
    return status


def _history(arguments: argparse.Namespace) -> int:
    from regops.history import render_trend_html, stage_history, trend

    skipped: list[str] = []
    runs = stage_history(Path(arguments.archive), arguments.stage, skipped=skipped, inventories=False)
    for reason in skipped:
        print(f"skipped {reason}", file=sys.stderr)
    if not runs:
        print(f"{arguments.archive}/{arguments.stage}: no bundles", file=sys.stderr)
        return 1
    points = trend(runs)
    print(f"{'run':32} {'gate':5} {'passed':>7} {'failed':>7} {'error':>6} {'waived':>7}")
    for point in points:
        counts = point["by_outcome"]
        print(
            f"{point['run']:32} {point['verdict']:5} {counts['passed']:7} {counts['failed']:7} "
            f"{counts['error']:6} {counts['waived']:7}"
        )
    if arguments.html:
        try:
            Path(arguments.html).write_text(render_trend_html(arguments.stage, points), encoding="utf-8")
        except OSError as exc:
            print(f"regops history: {arguments.html}: cannot write ({exc.strerror})", file=sys.stderr)
            return 2
        print(f"trend: {arguments.html}")
    return 0


def _keygen(arguments: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    private = Path(arguments.output)
    public = private.with_name(private.name + ".pub")
    for path in (private, public):
        if path.exists():
            print(f"{path}: exists; not overwriting a key", file=sys.stderr)
            return 2
    key = Ed25519PrivateKey.generate()
    # Owner-only from the first byte, and never over a key that appeared since the check.
    with os.fdopen(os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
        out.write(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    print(f"private key: {private}\npublic key: {public}")
    return 0


def _snapshot(arguments: argparse.Namespace) -> int:
    from regops.discovery import InventoryError, discover
    from regops.discovery.terraform_plan import PlanError
    from regops.stages import ConfigError, resolve

    output = Path(arguments.output)
    # Checked before discovery, which may take long: a place the inventory cannot go is bad input.
    if output.is_dir() or not output.parent.is_dir():
        problem = "a directory" if output.is_dir() else f"no directory {output.parent}"
        print(f"regops snapshot: {output}: cannot write the inventory ({problem})", file=sys.stderr)
        return 2
    pyproject = Path("pyproject.toml")
    try:
        settings = resolve(
            stage=arguments.stage,
            plans=arguments.plan,
            aws_endpoint=arguments.aws_endpoint,
            evidence_dir=None,
            fail_on=None,
            controls=(),
            frameworks=(),
            rootdir=Path.cwd(),
            pyproject=pyproject if pyproject.is_file() else None,
        )
        inventory = discover(settings, lambda line: print(line, file=sys.stderr))
    except (ConfigError, PlanError, InventoryError) as exc:
        print(f"regops snapshot: {exc}", file=sys.stderr)
        return 2
    # Written beside and moved into place: an interrupted snapshot never leaves half a file.
    partial = output.with_name(output.name + ".partial")
    try:
        digest = inventory.write(partial)
        partial.replace(output)
    except OSError as exc:
        if partial.is_file():
            partial.unlink()
        print(f"regops snapshot: {output}: cannot write the inventory ({exc.strerror})", file=sys.stderr)
        return 2
    print(f"{output}: {len(inventory.resources)} resources, sha256 {digest}")
    for source in inventory.sources:
        if not source.complete:
            print(
                f"  INCOMPLETE {source.kind} {source.location}: {'; '.join(source.errors)}", file=sys.stderr
            )
    return 0 if inventory.complete else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="regops", description="regops evidence tools")
    parser.add_argument("--version", action="version", version=f"regops {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="Check a bundle's schema, every hash and its signature")
    verify.add_argument("bundles", nargs="+", metavar="BUNDLE", help="reports/<stage>/<run_id> folder")
    verify.add_argument(
        "--public-key", metavar="PEM", help="Trusted Ed25519 public key the bundle must be signed with"
    )
    verify.set_defaults(handler=_verify)
    history = commands.add_parser("history", help="Outcome counts per run of a stage, from the archive")
    history.add_argument("--stage", required=True, choices=["system", "acceptance", "production"])
    history.add_argument(
        "--archive", default="reports", metavar="DIR", help="Evidence archive (default: reports)"
    )
    history.add_argument("--html", metavar="FILE", help="Also write a self-contained HTML page with a plot")
    history.set_defaults(handler=_history)
    keygen = commands.add_parser("keygen", help="Create an Ed25519 signing key (PEM) and its public key")
    keygen.add_argument(
        "output", metavar="PATH", help="Where to write the private key; PATH.pub gets the public key"
    )
    keygen.set_defaults(handler=_keygen)
    snapshot = commands.add_parser(
        "snapshot", help="Discover a stage as pyproject.toml configures it and save its inventory"
    )
    snapshot.add_argument("--stage", required=True, choices=["system", "acceptance", "production"])
    snapshot.add_argument("-o", "--output", required=True, metavar="FILE", help="inventory.json to write")
    snapshot.add_argument("--plan", action="append", default=[], metavar="PATH", help="overrides pyproject")
    snapshot.add_argument("--aws-endpoint", metavar="URL", help="AWS endpoint (a test server)")
    snapshot.set_defaults(handler=_snapshot)
    arguments = parser.parse_args(argv)
    status: int = arguments.handler(arguments)
    return status


if __name__ == "__main__":
    sys.exit(main())
