"""Hosts and TLS endpoints of a stage: the operating system through testinfra, TLS through `ssl`.

testinfra is imported only here. A host is asked for sshd's effective configuration (`sshd -T`,
which applies the defaults a configuration file leaves out), its audit and time services, and
world-writable files under /etc. TLS endpoints are probed from where regops runs.

Fail closed: a host that cannot be reached, or a command that cannot answer its question
(missing, denied, failed), leaves the facts it would have given absent and records the error,
which makes the source incomplete. No fact is ever guessed from a default.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
import socket
import ssl
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from regops.model import Discovery, Resource, SourceReport

Progress = Callable[[str], None]
# Versions a legacy-only handshake may offer, and the ones regops reports as accepted.
_VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


class HostConfigError(Exception):
    """A host inventory cannot be used; the message names the file and the problem."""


# Connections `sshd -T -C` evaluates Match blocks for: root and an ordinary user, from loopback
# and from a public address (TEST-NET-3, RFC 5737), so a block that loosens the settings for
# some of them is seen.
_SSHD_CONNECTIONS = (
    "user=root,host=localhost,addr=127.0.0.1",
    "user=root,host=remote.example,addr=203.0.113.7",
    "user=nobody,host=remote.example,addr=203.0.113.7",
)


def _password(spec: str) -> str | None:
    try:
        return urlsplit(spec).password
    except ValueError:
        return None


def spec_without_password(spec: str) -> str:
    """A host spec as evidence and messages may hold it: testinfra takes `ssh://user:password@host`."""
    password = _password(spec)
    return spec.replace(f":{password}@", "@", 1) if password else spec


@dataclass(frozen=True)
class HostTarget:
    spec: str  # a testinfra host spec: "local://", "ssh://user@host:22", "paramiko://…"
    name: str | None = None
    ssh_config: str | None = None
    ssh_identity_file: str | None = None
    sudo: bool = False
    sshd_config: str = "/etc/ssh/sshd_config"
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def password(self) -> str | None:
        return _password(self.spec)

    @property
    def shown(self) -> str:
        return spec_without_password(self.spec)

    @property
    def label(self) -> str:
        return self.name or self.shown.split("://", 1)[-1].split("?", 1)[0] or "localhost"


def targets_from_ansible(path: Path) -> list[HostTarget]:
    """SSH targets from an Ansible inventory, INI or YAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HostConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    hosts = _ansible_yaml(path, text) if path.suffix in {".yml", ".yaml"} else _ansible_ini(path, text)
    return [_ansible_target(name, variables) for name, variables in hosts.items()]


def _ansible_target(name: str, variables: Mapping[str, Any]) -> HostTarget:
    address = str(variables.get("ansible_host", name))
    user = variables.get("ansible_user")
    port = variables.get("ansible_port")
    spec = f"ssh://{f'{user}@' if user else ''}{address}{f':{port}' if port else ''}"
    key = variables.get("ansible_ssh_private_key_file")
    return HostTarget(spec, name=name, ssh_identity_file=str(key) if key else None)


def _ansible_ini(path: Path, text: str) -> dict[str, dict[str, str]]:
    hosts: dict[str, dict[str, str]] = {}
    section = "ungrouped"
    for number, raw in enumerate(text.splitlines(), start=1):
        line = (
            raw.split("#", 1)[0].split(";", 1)[0].strip() if not raw.strip().startswith("[") else raw.strip()
        )
        if not line:
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise HostConfigError(f"{path}:{number}: unterminated section {line!r}")
            section = line[1:-1]
            continue
        if section.endswith((":vars", ":children")):
            continue  # group variables and nesting do not name new hosts
        try:
            name, *assignments = shlex.split(line)
        except ValueError as exc:
            raise HostConfigError(f"{path}:{number}: {exc}") from None
        variables = {}
        for assignment in assignments:
            key, equals, value = assignment.partition("=")
            if not equals:
                raise HostConfigError(f"{path}:{number}: expected key=value, got {assignment!r}")
            variables[key] = value
        hosts.setdefault(name, {}).update(variables)
    return hosts


def _ansible_yaml(path: Path, text: str) -> dict[str, dict[str, Any]]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise HostConfigError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(document, dict):
        raise HostConfigError(f"{path}: expected groups at the top level")
    hosts: dict[str, dict[str, Any]] = {}

    def walk(group: Any, where: str) -> None:
        if group is None:
            return
        if not isinstance(group, dict):
            raise HostConfigError(f"{path}: group {where} must be a mapping")
        for name, variables in (group.get("hosts") or {}).items():
            if variables is not None and not isinstance(variables, dict):
                raise HostConfigError(f"{path}: host {name} in {where} must map variables")
            hosts.setdefault(str(name), {}).update(variables or {})
        for child, body in (group.get("children") or {}).items():
            walk(body, child)

    for name, group in document.items():
        walk(group, name)
    return hosts


def parse_sshd_t(output: str) -> dict[str, str]:
    """`sshd -T` prints "keyword value" lines, keywords lower-case; the first one counts."""
    settings: dict[str, str] = {}
    for line in output.splitlines():
        keyword, _, value = line.strip().partition(" ")
        if keyword and value and re.fullmatch(r"[a-z0-9]+", keyword):
            settings.setdefault(keyword, value.strip())
    return settings


class _Host:
    """One host's observations: facts, the raw answers behind them, and what failed."""

    def __init__(self, target: HostTarget, host: Any) -> None:
        self.target = target
        self.host = host
        self.facts: dict[str, Any] = {}
        self.attributes: dict[str, Any] = {}
        self.errors: list[str] = []

    def run(self, command: str) -> Any:
        return self.host.run(command)

    def fail(self, what: str, detail: str) -> None:
        first = (detail.strip().splitlines() or ["failed"])[0]
        self.errors.append(f"{self.target.label} {what}: {first}")

    def sshd(self) -> None:
        config = shlex.quote(self.target.sshd_config)
        evaluations = []
        # Match blocks decide per connection: sshd is judged by the most permissive of them.
        for connection in _SSHD_CONNECTIONS:
            result = self.run(f"sshd -T -f {config} -C {connection}")
            if result.rc != 0:
                result = self.run(f"/usr/sbin/sshd -T -f {config} -C {connection}")
            settings = parse_sshd_t(result.stdout) if result.rc == 0 else {}
            if not settings:
                self.fail("sshd -T", result.stderr or f"exit {result.rc}")
                return
            evaluations.append(settings)
        self.attributes["sshd"] = {k: evaluations[0][k] for k in sorted(evaluations[0]) if k in _SSHD_KEYS}
        if all("permitrootlogin" in settings for settings in evaluations):
            self.facts["ssh_root_login_forbidden"] = all(s["permitrootlogin"] == "no" for s in evaluations)
        password_off = []
        for settings in evaluations:
            interactive = settings.get(
                "kbdinteractiveauthentication", settings.get("challengeresponseauthentication")
            )
            if "passwordauthentication" not in settings or interactive is None:
                break
            password_off.append(settings["passwordauthentication"] == "no" and interactive == "no")
        else:
            self.facts["ssh_password_auth_disabled"] = all(password_off)
        for keyword, fact in (("ciphers", "ssh_ciphers"), ("macs", "ssh_macs"), ("kexalgorithms", "ssh_kex")):
            if all(keyword in settings for settings in evaluations):
                self.facts[fact] = sorted({a for s in evaluations for a in s[keyword].split(",")})

    def audit(self) -> None:
        auditd = self.run("pgrep -x auditd")
        journald = self.run(
            "cat /etc/systemd/journald.conf /etc/systemd/journald.conf.d/*.conf 2>/dev/null; true"
        )
        storage = None
        for line in journald.stdout.splitlines():
            key, _, value = line.strip().partition("=")
            if key.strip() == "Storage":
                storage = value.strip().lower()
        journal_dir = self.host.file("/var/log/journal").is_directory
        self.attributes["audit"] = {"auditd_running": auditd.rc == 0, "journald_storage": storage}
        if auditd.rc not in (0, 1):
            self.fail("pgrep auditd", auditd.stderr or f"exit {auditd.rc}")
            return
        persistent = storage == "persistent" or (storage in (None, "auto") and journal_dir)
        self.facts["audit_persistent"] = auditd.rc == 0 or persistent

    def time(self) -> None:
        synced = self.run("timedatectl show -p NTPSynchronized --value")
        if synced.rc == 0 and synced.stdout.strip() in {"yes", "no"}:
            # The kernel's own flag, which chrony and ntpd set too: a running daemon that has not
            # synchronised the clock does not make it right.
            self.attributes["ntp_synchronized"] = synced.stdout.strip()
            self.facts["time_synchronised"] = synced.stdout.strip() == "yes"
            return
        daemons = self.run("pgrep -x 'chronyd|ntpd|systemd-timesyn|ntpsec'")
        if daemons.rc not in (0, 1):
            self.fail("pgrep time daemons", daemons.stderr or f"exit {daemons.rc}")
            return
        self.attributes["time_daemon_running"] = daemons.rc == 0
        self.facts["time_synchronised"] = daemons.rc == 0

    def world_writable(self) -> None:
        found = self.run(r"find /etc -xdev \( -type f -o -type d \) -perm -0002 ! -perm -1000 -print")
        if found.rc != 0:
            self.fail("find /etc", found.stderr or f"exit {found.rc}")
            return
        self.facts["world_writable_in_etc"] = sorted(line for line in found.stdout.splitlines() if line)


_SSHD_KEYS = {
    "permitrootlogin",
    "passwordauthentication",
    "kbdinteractiveauthentication",
    "challengeresponseauthentication",
    "pubkeyauthentication",
    "ciphers",
    "macs",
    "kexalgorithms",
    "port",
    "listenaddress",
}


class HostKeyNotVerified(Exception):
    """The host's key is in no known_hosts file: whatever answered could be any machine."""


def _verify_host_key(backend: Any) -> None:
    """Refuse a paramiko connection to a host whose key no known_hosts file lists.

    testinfra's paramiko backend accepts any host key (with a warning) and reads no known_hosts.
    regops checks the key after the handshake and before a command runs, as OpenSSH does in
    batch mode; only `StrictHostKeyChecking no` in the target's ssh_config turns that off."""
    import paramiko  # type: ignore[import-untyped]
    from testinfra.backend.paramiko import ParamikoBackend  # type: ignore[import-untyped]

    if not isinstance(backend, ParamikoBackend):
        return
    config_path = Path(backend.ssh_config or "~/.ssh/config").expanduser()
    ssh_config = paramiko.SSHConfig.from_path(str(config_path)) if config_path.is_file() else None
    options = ssh_config.lookup(backend.host.name) if ssh_config else {}
    if options.get("stricthostkeychecking") == "no":
        return
    known = paramiko.HostKeys()
    for name in str(options.get("userknownhostsfile", "~/.ssh/known_hosts")).split():
        path = Path(name).expanduser()
        if path.is_file():
            known.load(str(path))
    with warnings.catch_warnings():
        # paramiko's warning about the unknown key: it is judged here, not accepted.
        warnings.simplefilter("ignore")
        client = backend.client
    key = client.get_transport().get_remote_server_key()
    hostname = options.get("hostname", backend.host.name)
    port = int(options.get("port", backend.host.port or 22))
    entry = options.get("hostkeyalias") or (hostname if port == 22 else f"[{hostname}]:{port}")
    if not known.check(entry, key):
        client.close()
        fingerprint = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
        raise HostKeyNotVerified(
            f"{entry} offered {key.get_name()} key SHA256:{fingerprint}, which no known_hosts file lists"
        )


def _probe_host(target: HostTarget, stage: str, timeout: float) -> tuple[Resource, list[str]]:
    import testinfra  # type: ignore[import-untyped]

    observed: _Host | None = None
    errors: list[str] = []
    try:
        options: dict[str, Any] = {"sudo": target.sudo, "timeout": timeout}
        if target.ssh_config:
            options["ssh_config"] = target.ssh_config
        if target.ssh_identity_file:
            options["ssh_identity_file"] = target.ssh_identity_file
        host = testinfra.get_host(target.spec, **options)
        _verify_host_key(host.backend)
        reached = host.run("true")
        if reached.rc != 0:
            raise RuntimeError(reached.stderr or f"exit {reached.rc}")
        observed = _Host(target, host)
        for ask in (observed.sshd, observed.audit, observed.time, observed.world_writable):
            ask()
        errors = observed.errors
    except HostKeyNotVerified as exc:
        errors = [f"{target.label}: host key not verified: {exc}"]
    except Exception as exc:  # testinfra's backends raise anything from socket errors to their own
        # testinfra's ssh backend raises with the failed CommandResult: its stderr says why.
        result = exc.args[0] if exc.args else None
        text = getattr(result, "stderr", None) or str(exc)
        detail = (str(text).strip().splitlines() or [""])[0]
        if target.password:
            detail = detail.replace(target.password, "(redacted)")
        errors = [f"{target.label}: unreachable: {type(exc).__name__}: {detail}"]
    resource = Resource(
        id=f"host:{target.label}",
        provider="host",
        native_type="linux_host",
        kind="host",
        region=None,
        stage=stage,
        origin="live",
        address=target.shown,
        tags=target.tags,
        attributes=observed.attributes if observed else {},
        facts=observed.facts if observed else {},
        source=target.shown,
    )
    return resource, errors


def _handshake(host: str, port: int, versions: tuple[str, str], timeout: float) -> str:
    """The negotiated version, or raise: ssl.SSLError when the server refuses the versions."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # this probes protocol versions, not the certificate
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # offering old versions is the point
        context.minimum_version = _VERSIONS[versions[0]]
        context.maximum_version = _VERSIONS[versions[1]]
    with (
        socket.create_connection((host, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        return str(tls.version())


def legacy_tls_offerable() -> bool:
    """Whether this Python's OpenSSL can offer TLS 1.0/1.1 at all (else a refusal proves nothing)."""
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ValueError, ssl.SSLError):
        return False
    return ssl.HAS_TLSv1 and ssl.HAS_TLSv1_1


def _probe_endpoint(endpoint: str, stage: str, timeout: float) -> tuple[Resource, list[str]]:
    host, _, port_text = endpoint.rpartition(":")
    port = int(port_text)
    facts: dict[str, Any] = {}
    errors: list[str] = []
    accepted = []
    try:
        for version in _VERSIONS:
            try:
                accepted.append(_handshake(host, port, (version, version), timeout))
            except ssl.SSLError:
                continue
        facts["tls_versions_accepted"] = accepted
        if not legacy_tls_offerable():
            errors.append(f"{endpoint}: this machine's OpenSSL cannot offer TLS 1.0/1.1; no verdict on them")
        else:
            facts["tls_legacy_refused"] = not any(v in {"TLSv1", "TLSv1.1"} for v in accepted)
    except OSError as exc:
        facts = {}
        errors.append(f"{endpoint}: unreachable: {type(exc).__name__}: {exc}")
    resource = Resource(
        id=f"tls:{host}:{port}",
        provider="host",
        native_type="tls_endpoint",
        kind="tls_endpoint",
        region=None,
        stage=stage,
        origin="live",
        address=endpoint,
        attributes={"versions_accepted": accepted},
        facts=facts,
        source=endpoint,
    )
    return resource, errors


def discover_hosts(
    targets: Sequence[HostTarget],
    tls_endpoints: Sequence[str],
    stage: str,
    progress: Progress | None = None,
    *,
    timeout: float = 10.0,
) -> Discovery:
    """The stage's hosts and TLS endpoints; every failure is an error of the source."""
    jobs: list[Callable[[], tuple[Resource, list[str]]]] = [
        *(lambda t=t: _probe_host(t, stage, timeout) for t in targets),
        *(lambda e=e: _probe_endpoint(e, stage, timeout) for e in tls_endpoints),
    ]
    resources: list[Resource] = []
    errors: list[str] = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for resource, found_errors in pool.map(lambda job: job(), jobs):
            resources.append(resource)
            errors.extend(found_errors)
            if progress is not None:
                state = f"{len(found_errors)} errors" if found_errors else f"{len(resource.facts)} facts"
                progress(f"{resource.id}: {state}")
    report = SourceReport(
        kind="hosts",
        location=", ".join([*(t.label for t in targets), *tls_endpoints]),
        sha256=None,
        resource_count=len(resources),
        complete=not errors,
        errors=tuple(errors),
        notes=(f"{len(targets)} hosts, {len(tls_endpoints)} TLS endpoints",),
    )
    return Discovery(tuple(sorted(resources, key=lambda r: r.id)), report)
