"""xdist workers on another machine: execnet over SSH to a real sshd on 127.0.0.1.

The remote side is a folder of its own (`//chdir=`) holding the suites and pyproject.toml, as an
installation on another machine would, but neither the plan nor anything the controller writes;
the controller's evidence dir is out of reach while the workers start. The workers judge the
inventory the controller sends them, and the controller writes the one bundle.
"""

from __future__ import annotations

import getpass
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from regops.discovery import Inventory, InventoryError
from regops.discovery.terraform_plan import discover_plan
from tests.helpers import DEMO, SUITES, load_evidence, only_bundle, sha256sum_check
from tests.plans import compliant_bucket, write_plan
from tests.sshd_server import Sshd, sshd  # noqa: F401

STAGE = "system"

PYPROJECT = f"""
[tool.pytest.ini_options]
testpaths = ["suites"]

[tool.regops.checkov]
only_mapped = true

[tool.regops.stages.{STAGE}]
plans = ["plans/{STAGE}.plan.json"]
"""

# On the controller: another machine cannot read the controller's files, so they are out of
# reach (moved aside) from before the first worker starts until every worker is ready. Each
# worker says where it ran (its folder, and the SSH connection sshd gave it); the controller
# keeps what its workers said, one line each.
CONFTEST = """
import json
import os

import pytest

_starting = []


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config, specs):
    _starting.extend(str(s) for s in specs)
    (config.rootpath / "out").rename(config.rootpath / "out-hidden")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodeready(node):
    _starting.pop()
    if not _starting:
        (node.config.rootpath / "out-hidden").rename(node.config.rootpath / "out")


def pytest_sessionfinish(session):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["cwd"] = os.getcwd()
        workeroutput["ssh_connection"] = os.environ.get("SSH_CONNECTION", "")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    line = {
        "id": node.gateway.id,
        "spec": str(node.gateway.spec),
        "ssh": node.gateway.spec.ssh,
        "error": None if error is None else str(error),
        **{k: node.workeroutput.get(k) for k in ("cwd", "ssh_connection")},
    }
    with open(node.config.rootpath / "workers.jsonl", "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\\n")
"""


def install(folder: Path) -> None:
    """What a machine that runs the suites holds: the suites and their configuration, no plans."""
    shutil.copytree(SUITES, folder / "suites", ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "pyproject.toml").write_text(PYPROJECT)
    (folder / "conftest.py").write_text(CONFTEST)


def ssh_config(sshd: Sshd, folder: Path) -> Path:  # noqa: F811
    """A host alias for the test sshd: its host key pinned, the test identity, no prompts."""
    known = folder / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {sshd.host_key.with_suffix('.pub').read_text()}")
    path = folder / "ssh_config"
    path.write_text(
        "Host regops-worker\n"
        "  HostName 127.0.0.1\n"
        f"  Port {sshd.port}\n"
        f"  User {getpass.getuser()}\n"
        f"  IdentityFile {sshd.identity}\n"
        "  IdentitiesOnly yes\n"
        "  BatchMode yes\n"
        f"  UserKnownHostsFile {known}\n"
        "  StrictHostKeyChecking yes\n"
        "  LogLevel ERROR\n"
    )
    return path


def comparable(document: dict[str, Any]) -> dict[str, Any]:
    """What a run found, without what differs between any two runs (ids, times, command line)."""
    return {
        "controls": document["controls"],
        "summary": document["summary"],
        "gate": document["gate"],
        "coverage": document["coverage"],
        "inventory": {k: v for k, v in document["inventory"].items() if k != "sha256"},
        "sources": [{k: v for k, v in s.items() if k != "notes"} for s in document["sources"]],
    }


def run_on_workers(
    pytester: pytest.Pytester, remote: Path, spec: str
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """A local run and one on two workers of `spec` in `remote`: both evidence documents, the workers."""
    install(pytester.path)
    (pytester.path / "plans").mkdir()
    shutil.copy(DEMO / f"{STAGE}.plan.json", pytester.path / "plans")
    install(remote)

    local = pytester.runpytest_subprocess(f"--stage={STAGE}", "--evidence-dir=local")
    assert local.ret == 1  # the demo's deliberate violations fail the gate
    # Options that name an existing path go as --option=PATH: xdist stops on a separate path
    # argument outside its rsync roots.
    result = pytester.runpytest_subprocess(
        f"--stage={STAGE}", "--evidence-dir=out", "-p", "xdist", "--tx", f"2*{spec}", "--dist=load"
    )
    assert result.ret == local.ret, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*gate: FAIL (threshold: low)*"])

    workers = [json.loads(line) for line in (pytester.path / "workers.jsonl").read_text().splitlines()]
    assert sorted(w["id"] for w in workers) == ["gw0", "gw1"]
    for worker in workers:
        assert worker["error"] is None
        assert Path(worker["cwd"]) == remote
    # The workers wrote nothing: no bundle and no inventory on their side.
    assert not (remote / "out").exists()
    assert not list(remote.rglob("inventory.json"))

    bundle = only_bundle(pytester.path / "out", STAGE)
    assert sha256sum_check(bundle).returncode == 0
    return load_evidence(only_bundle(pytester.path / "local", STAGE)), load_evidence(bundle), workers


@pytest.mark.skipif(shutil.which("ssh") is None, reason="OpenSSH client (ssh) not installed")
def test_ssh_workers_give_the_local_results_in_one_controller_bundle(
    pytester: pytest.Pytester,
    sshd: Sshd,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    remote = tmp_path_factory.mktemp("worker-host")
    config = ssh_config(sshd, tmp_path_factory.mktemp("ssh-client"))
    spec = f"ssh_config={config}//ssh=regops-worker//python={sys.executable}//chdir={remote}"
    local, merged, workers = run_on_workers(pytester, remote, spec)

    # Both workers came in through sshd: execnet's ssh gateway, and sshd's SSH_CONNECTION.
    for worker in workers:
        assert worker["ssh"] == "regops-worker"
        assert worker["ssh_connection"].startswith("127.0.0.1 ")
        assert worker["ssh_connection"].endswith(f" {sshd.port}")
    # The controller's one bundle holds every result of the local run, and only those.
    assert comparable(merged) == comparable(local)
    assert any(c["id"] == "CKV_AWS_24" for c in merged["controls"])  # checkov's findings reached them
    assert sum(len(c["results"]) for c in merged["controls"]) > 100


def test_workers_in_another_folder_get_the_inventory_not_its_path(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The same without SSH: local processes in a folder of their own (execnet's popen//chdir)."""
    remote = tmp_path_factory.mktemp("worker-folder")
    local, merged, workers = run_on_workers(pytester, remote, f"popen//chdir={remote}")
    assert {w["ssh"] for w in workers} == {None}
    assert comparable(merged) == comparable(local)


def test_inventory_from_its_json_text_is_the_inventory(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    write_plan(plan, *compliant_bucket("card"), *compliant_bucket("logs"))
    original = Inventory.merge("acceptance", [discover_plan(plan, "acceptance")])
    written = tmp_path / "inventory.json"
    original.write(written)
    # What a worker is given: the text, not the file.
    text = original.to_json()
    assert json.loads(text) == json.loads(written.read_text(encoding="utf-8"))
    assert Inventory.from_json(text) == Inventory.read(written) == original
    assert {r.id for r in Inventory.from_json(text).of_kinds(["object_store"])} == {
        "aws_s3_bucket.card",
        "aws_s3_bucket.logs",
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "the controller's inventory: cannot read the inventory"),
        ('{"schema": "other"}', "the controller's inventory: not a regops inventory"),
        ('{"schema": "regops.inventory/v1"}', "the controller's inventory: the inventory is truncated"),
    ],
)
def test_bad_inventory_text_names_where_it_came_from(text: str, problem: str) -> None:
    with pytest.raises(InventoryError, match=f"^{problem}"):
        Inventory.from_json(text, origin="the controller's inventory")
