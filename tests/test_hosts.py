"""Hosts through testinfra (local and over SSH to a real sshd), TLS endpoints through `ssl`."""

from __future__ import annotations

import base64
import datetime
import hashlib
import os
import socket
import ssl
import threading
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regops.discovery.hosts import (
    HostConfigError,
    HostTarget,
    discover_hosts,
    legacy_tls_offerable,
    parse_sshd_t,
    targets_from_ansible,
)
from tests.helpers import leaks, load_evidence, only_bundle, run_project_suites
from tests.sshd_server import COMPLIANT, NON_COMPLIANT, Sshd, sshd  # noqa: F401

pytest.importorskip("testinfra")


def one(targets: list[HostTarget], endpoints: list[str] | None = None) -> tuple[dict[str, object], list[str]]:
    discovery = discover_hosts(targets, endpoints or [], "acceptance", timeout=5)
    (resource,) = discovery.resources
    assert discovery.report.complete is (not discovery.report.errors)
    return dict(resource.facts), list(discovery.report.errors)


def test_local_host_facts_are_established_or_absent_with_a_reason() -> None:
    facts, errors = one([HostTarget("local://")])
    expected = {
        "ssh_root_login_forbidden": bool,
        "ssh_password_auth_disabled": bool,
        "ssh_ciphers": list,
        "ssh_macs": list,
        "ssh_kex": list,
        "audit_persistent": bool,
        "time_synchronised": bool,
        "world_writable_in_etc": list,
    }
    for name, kind in expected.items():
        if name in facts:
            assert isinstance(facts[name], kind), name
    missing = set(expected) - set(facts)
    # Every fact that could not be established is explained by an error of the source.
    assert bool(missing) == bool(errors), (missing, errors)


def test_a_clock_the_system_says_is_unsynchronised_is_not_saved_by_a_running_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This machine's own answers, replaced: timedatectl says "no" while a time daemon runs.
    for name, script in (("timedatectl", "echo no"), ("pgrep", "echo 4242")):
        command = tmp_path / name
        command.write_text(f"#!/bin/sh\n{script}\n")
        command.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    facts, _ = one([HostTarget("local://")])
    assert facts["time_synchronised"] is False


def test_a_world_writable_file_under_etc_is_found() -> None:
    path = Path("/etc") / f"regops-test-{uuid.uuid4().hex}"
    path.write_text("anyone may change me\n")
    path.chmod(0o666)
    try:
        facts, _ = one([HostTarget("local://")])
    finally:
        path.unlink()
    assert str(path) in facts["world_writable_in_etc"]  # type: ignore[operator]


def test_over_ssh_a_compliant_sshd(sshd: Sshd) -> None:  # noqa: F811
    target = HostTarget(
        sshd.spec,
        ssh_config=str(sshd.client_config()),
        ssh_identity_file=str(sshd.identity),
        sshd_config=str(sshd.config_file("good", COMPLIANT)),
    )
    facts, _ = one([target])
    assert facts["ssh_root_login_forbidden"] is True
    assert facts["ssh_password_auth_disabled"] is True
    assert not [c for c in facts["ssh_ciphers"] if "cbc" in c]  # type: ignore[attr-defined]
    assert not [m for m in facts["ssh_macs"] if "sha1" in m]  # type: ignore[attr-defined]


def test_over_ssh_a_non_compliant_sshd(sshd: Sshd) -> None:  # noqa: F811
    target = HostTarget(
        sshd.spec,
        ssh_config=str(sshd.client_config()),
        ssh_identity_file=str(sshd.identity),
        sshd_config=str(sshd.config_file("bad", NON_COMPLIANT)),
    )
    facts, _ = one([target])
    assert facts["ssh_root_login_forbidden"] is False
    assert facts["ssh_password_auth_disabled"] is False
    assert "aes128-cbc" in facts["ssh_ciphers"]  # type: ignore[operator]
    assert "hmac-sha1" in facts["ssh_macs"]  # type: ignore[operator]


def test_a_match_block_that_loosens_sshd_for_remote_addresses_is_seen(sshd: Sshd) -> None:  # noqa: F811
    loosened = (
        COMPLIANT + "\nMatch Address *,!127.0.0.1\n    PermitRootLogin yes\n    PasswordAuthentication yes\n"
    )
    target = HostTarget(
        sshd.spec,
        ssh_config=str(sshd.client_config()),
        ssh_identity_file=str(sshd.identity),
        sshd_config=str(sshd.config_file("loosened", loosened)),
    )
    facts, _ = one([target])
    assert facts["ssh_root_login_forbidden"] is False
    assert facts["ssh_password_auth_disabled"] is False


def test_an_unreadable_sshd_config_leaves_the_ssh_facts_absent(sshd: Sshd) -> None:  # noqa: F811
    target = HostTarget(
        sshd.spec,
        ssh_config=str(sshd.client_config()),
        ssh_identity_file=str(sshd.identity),
        sshd_config="/nonexistent/sshd_config",
    )
    facts, errors = one([target])
    assert "ssh_root_login_forbidden" not in facts
    assert any("sshd -T" in e for e in errors)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_an_unreachable_host_has_no_facts_and_says_why() -> None:
    target = HostTarget(f"paramiko://root@127.0.0.1:{_closed_port()}", name="gone")
    discovery = discover_hosts([target], [], "acceptance", timeout=2)
    (resource,) = discovery.resources
    assert (resource.id, dict(resource.facts)) == ("host:gone", {})
    assert discovery.report.complete is False
    assert discovery.report.errors[0].startswith("gone: unreachable: ")


# TLS endpoints


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def serve_tls(certificate: tuple[Path, Path], minimum: ssl.TLSVersion) -> Iterator[str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # an old server on purpose
        context.minimum_version = minimum
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            try:
                with context.wrap_socket(connection, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    listener.close()


@pytest.fixture
def modern(certificate: tuple[Path, Path]) -> Iterator[str]:
    yield from serve_tls(certificate, ssl.TLSVersion.TLSv1_2)


@pytest.fixture
def legacy(certificate: tuple[Path, Path]) -> Iterator[str]:
    yield from serve_tls(certificate, ssl.TLSVersion.TLSv1)


def test_tls_endpoint_refusing_legacy_versions(modern: str) -> None:
    facts, errors = one([], [modern])
    if not legacy_tls_offerable():
        pytest.skip("this OpenSSL cannot offer TLS 1.0/1.1 at all")
    assert errors == []
    assert facts["tls_legacy_refused"] is True
    assert "TLSv1.2" in facts["tls_versions_accepted"]  # type: ignore[operator]


def test_tls_endpoint_accepting_legacy_versions(legacy: str) -> None:
    if not legacy_tls_offerable():
        pytest.skip("this OpenSSL cannot offer TLS 1.0/1.1 at all")
    facts, _ = one([], [legacy])
    assert facts["tls_legacy_refused"] is False
    assert "TLSv1" in facts["tls_versions_accepted"]  # type: ignore[operator]


def test_tls_endpoint_unreachable_is_an_error() -> None:
    facts, errors = one([], [f"127.0.0.1:{_closed_port()}"])
    assert facts == {}
    assert "unreachable" in errors[0]


# Ansible inventories and the sshd -T parser


def test_ansible_ini_and_yaml_inventories(tmp_path: Path) -> None:
    ini = tmp_path / "hosts.ini"
    ini.write_text(
        "[web]\napi1 ansible_host=10.0.1.5 ansible_user=deploy ansible_port=2222\napi2\n"
        "[db]\nledger ansible_host=10.0.2.7 ansible_ssh_private_key_file=/keys/db\n"
        "[web:vars]\nntp=pool\n"
    )
    assert [(t.name, t.spec, t.ssh_identity_file) for t in targets_from_ansible(ini)] == [
        ("api1", "ssh://deploy@10.0.1.5:2222", None),
        ("api2", "ssh://api2", None),
        ("ledger", "ssh://10.0.2.7", "/keys/db"),
    ]
    yml = tmp_path / "hosts.yaml"
    yml.write_text(
        "all:\n  children:\n    web:\n      hosts:\n"
        "        api1: {ansible_host: 10.0.1.5, ansible_user: deploy}\n"
        "    db:\n      hosts:\n        ledger:\n"
    )
    assert [(t.name, t.spec) for t in targets_from_ansible(yml)] == [
        ("api1", "ssh://deploy@10.0.1.5"),
        ("ledger", "ssh://ledger"),
    ]


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("bad.ini", "[web\napi1\n", r"bad.ini:1: unterminated section"),
        ("bad.ini", "[web]\napi1 ansible_host\n", r"bad.ini:2: expected key=value"),
        ("bad.yaml", "all: [unclosed\n", r"bad.yaml:\d+: not valid YAML"),
        ("bad.yaml", "all:\n  hosts:\n    api1: 5\n", r"bad.yaml: host api1 in all must map variables"),
    ],
)
def test_a_broken_inventory_names_the_file(tmp_path: Path, name: str, text: str, problem: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(HostConfigError, match=problem):
        targets_from_ansible(tmp_path / name)


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40), max_size=20))
def test_sshd_t_parser_never_invents_a_keyword(lines: list[str]) -> None:
    parsed = parse_sshd_t("\n".join(lines))
    for keyword, value in parsed.items():
        assert any(line.strip().startswith(f"{keyword} ") for line in lines)
        assert value


# The host controls in a run


def test_host_controls_in_a_run(pytester: pytest.Pytester, sshd: Sshd) -> None:  # noqa: F811
    bad = sshd.config_file("run-bad", NON_COMPLIANT)
    pytester.makepyprojecttoml(
        "[tool.regops.stages.production.hosts]\n"
        # testinfra takes a password in the spec; it must reach neither evidence nor output.
        f'targets = ["{sshd.spec}", "paramiko://root:pw-SECRET-77@127.0.0.1:{_closed_port()}"]\n'
        f'ssh_config = "{sshd.client_config()}"\n'
        f'ssh_identity_file = "{sshd.identity}"\n'
        f'sshd_config = "{bad}"\n'
    )
    result = run_project_suites(
        pytester,
        "--stage=production",
        "--evidence-dir=out",
        "-k",
        "HST or host",
    )
    assert result.ret == 1
    document = load_evidence(only_bundle(pytester.path / "out", "production"))
    outcomes = {
        (c["id"], r["resource_id"]): r["outcome"]
        for c in document["controls"]
        if c["id"].startswith("HST-")
        for r in c["results"]
    }
    reachable = f"host:root@127.0.0.1:{sshd.port}"
    assert outcomes[("HST-001", reachable)] == "failed"
    assert outcomes[("HST-002", reachable)] == "failed"
    assert outcomes[("HST-003", reachable)] == "failed"
    unreachable = {k: v for k, v in outcomes.items() if k[1] not in (reachable, None)}
    assert unreachable
    assert set(unreachable.values()) == {"error"}
    (hosts,) = (s for s in document["sources"] if s["kind"] == "hosts")
    assert hosts["complete"] is False
    assert "root@127.0.0.1" in hosts["location"]
    assert leaks("pw-SECRET-77", result, only_bundle(pytester.path / "out", "production")) == []


def test_live_compute_instances_become_ssh_targets(sshd: Sshd) -> None:  # noqa: F811
    from regops.discovery import _discover_hosts
    from regops.model import Resource
    from regops.stages import HostsConfig

    instance = Resource(
        id="arn:aws:ec2:eu-central-1:123456789012:instance/i-0abc",
        provider="aws",
        native_type="aws_instance",
        kind="compute",
        region="eu-central-1",
        stage="acceptance",
        origin="live",
        tags={"stage": "acceptance"},
        # The instance's private address is where the loopback sshd listens, with its port.
        attributes={"description": {"PrivateIpAddress": f"127.0.0.1:{sshd.port}"}},
    )
    config = HostsConfig(
        live_instances=True,
        ssh_user="root",
        ssh_config=str(sshd.client_config()),
        ssh_identity_file=str(sshd.identity),
        sshd_config=str(sshd.config_file("live", COMPLIANT)),
    )
    discovery = _discover_hosts("acceptance", config, [instance], None)
    (host,) = discovery.resources
    assert host.id == f"host:{instance.id}"
    assert host.tags == {"stage": "acceptance"}
    assert host.address == f"ssh://root@127.0.0.1:{sshd.port}"
    assert discovery.report.errors == (), discovery.report.errors
    assert host.facts["ssh_root_login_forbidden"] is True


def test_an_unknown_host_key_is_refused_not_trusted(sshd: Sshd, tmp_path: Path) -> None:  # noqa: F811
    empty = tmp_path / "ssh_config"
    empty.write_text(
        f"Host *\n  UserKnownHostsFile {tmp_path / 'known_hosts'}\n  StrictHostKeyChecking yes\n"
    )
    target = HostTarget(
        f"ssh://root@127.0.0.1:{sshd.port}",
        name="stranger",
        ssh_config=str(empty),
        ssh_identity_file=str(sshd.identity),
    )
    facts, errors = one([target])
    assert facts == {}
    (error,) = errors
    assert error.startswith("stranger: unreachable: RuntimeError: No ED25519 host key is known for")


def _fingerprint(public_key_line: str) -> str:
    blob = base64.b64decode(public_key_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


@pytest.mark.parametrize("known", ["nothing", "another key", "no ssh_config"])
def test_paramiko_refuses_a_host_key_no_known_hosts_lists(
    sshd: Sshd,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    known: str,
) -> None:
    # testinfra's paramiko backend would accept the key with a warning; regops does not.
    monkeypatch.setenv("HOME", str(tmp_path))
    known_hosts = tmp_path / "known_hosts"
    if known == "another key":
        import paramiko

        other = paramiko.RSAKey.generate(2048)
        known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {other.get_name()} {other.get_base64()}\n")
    config = tmp_path / "ssh_config"
    config.write_text(f"Host *\n  UserKnownHostsFile {known_hosts}\n")
    target = HostTarget(
        sshd.spec,
        name="stranger",
        ssh_config=None if known == "no ssh_config" else str(config),
        ssh_identity_file=str(sshd.identity),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        facts, errors = one([target])
    assert facts == {}
    fingerprint = _fingerprint(sshd.host_key.with_suffix(".pub").read_text())
    assert errors == [
        f"stranger: host key not verified: [127.0.0.1]:{sshd.port} offered ssh-ed25519 key "
        f"{fingerprint}, which no known_hosts file lists"
    ]


@pytest.mark.parametrize(
    ("known_hosts_line", "option"),
    [("payments-host-1 {key}", "HostKeyAlias payments-host-1"), ("", "StrictHostKeyChecking no")],
    ids=["pinned under its HostKeyAlias", "any key when the ssh_config says so"],
)
def test_paramiko_accepts_a_key_as_openssh_would(
    sshd: Sshd,  # noqa: F811
    tmp_path: Path,
    known_hosts_line: str,
    option: str,
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(known_hosts_line.format(key=sshd.host_key.with_suffix(".pub").read_text()))
    config = tmp_path / "ssh_config"
    config.write_text(f"Host *\n  UserKnownHostsFile {known_hosts}\n  {option}\n")
    target = HostTarget(
        sshd.spec,
        ssh_config=str(config),
        ssh_identity_file=str(sshd.identity),
        sshd_config=str(sshd.config_file("accepted", COMPLIANT)),
    )
    facts, errors = one([target])
    assert errors == []
    assert facts["ssh_root_login_forbidden"] is True
