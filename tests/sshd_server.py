"""A real OpenSSH server on 127.0.0.1, on a free port, with keys made for the test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = Path("/usr/sbin/sshd")

COMPLIANT = """
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com
MACs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com
KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org
"""

NON_COMPLIANT = """
PermitRootLogin yes
PasswordAuthentication yes
KbdInteractiveAuthentication yes
Ciphers aes128-cbc,aes256-ctr
MACs hmac-sha1,hmac-sha2-256
"""


@dataclass(frozen=True)
class Sshd:
    port: int
    identity: Path
    host_key: Path
    directory: Path

    @property
    def spec(self) -> str:
        return f"paramiko://root@127.0.0.1:{self.port}"

    def client_config(self) -> Path:
        """An ssh_config that trusts this server's host key, and only that (no blind acceptance)."""
        known = self.directory / "known_hosts"
        known.write_text(f"[127.0.0.1]:{self.port} {self.host_key.with_suffix('.pub').read_text()}")
        path = self.directory / "ssh_config"
        path.write_text(f"Host *\n  UserKnownHostsFile {known}\n  StrictHostKeyChecking yes\n")
        return path

    def config_file(self, name: str, body: str) -> Path:
        """An sshd configuration for `sshd -T -f` to evaluate (not the one this server runs)."""
        path = self.directory / f"{name}.conf"
        path.write_text(f"HostKey {self.host_key}\nUsePAM no\n{body}")
        return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if not SSHD.exists() or shutil.which("ssh-keygen") is None:
        pytest.skip("OpenSSH server not installed (.ci/run installs openssh-server)")
    directory = tmp_path_factory.mktemp("sshd")
    host_key = directory / "host_ed25519"
    identity = directory / "client_ed25519"
    for key in (host_key, identity):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    (directory / "authorized_keys").write_text(identity.with_suffix(".pub").read_text())
    Path("/run/sshd").mkdir(exist_ok=True)
    port = _free_port()
    config = directory / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {host_key}\nPidFile {directory / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {directory / 'authorized_keys'}\nStrictModes no\nUsePAM no\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
    )
    server = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                _, err = server.communicate()
                pytest.fail(f"sshd did not start: {err.decode(errors='replace')}")
            time.sleep(0.02)  # polling for the port to open, not waiting for timing
    yield Sshd(port, identity, host_key, directory)
    server.terminate()
    server.wait(timeout=10)
