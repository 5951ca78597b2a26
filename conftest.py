"""Repository-local wiring: the acceptance demo's live stage, served on loopback.

`pytest --stage=acceptance` in this repository checks the demo platform's plan and its live
side in three clouds, none of which is ever contacted:
- AWS: a moto server started here on 127.0.0.1, seeded by fixtures/demo/live_aws.py;
  REGOPS_AWS_ENDPOINT sends every AWS call there.
- Azure and GCP: recorded API responses (fixtures/demo/azure_api.json, gcp_api.json) served on
  127.0.0.1 (Azure over HTTPS with a certificate made for the run) to the real SDK clients;
  REGOPS_AZURE_ENDPOINT, REGOPS_AZURE_CA_BUNDLE and REGOPS_GCP_ENDPOINT send them there, and
  the demo's access tokens are placeholders in the environment variables pyproject names.
- GitHub: the branch rules of the platform's repositories (fixtures/demo/github_api.json),
  served the same way to regops's REST client; REGOPS_GITHUB_API_URL sends it there.
When an AWS endpoint is already given (option or environment), nothing is started.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import pytest

DEMO = Path(__file__).parent / "fixtures" / "demo"
_server: Any = None
_recorded: list[Any] = []
# The tokens the demo's [tool.regops.stages.acceptance.azure] and .gcp name; never real ones.
_DEMO_ENVIRONMENT = {
    "REGOPS_DEMO_AZURE_TOKEN": "demo-token",
    "REGOPS_DEMO_GCP_TOKEN": "demo-token",
    "REGOPS_DEMO_GITHUB_TOKEN": "demo-token",
}
_ENDPOINTS = (
    "REGOPS_AZURE_ENDPOINT",
    "REGOPS_AZURE_CA_BUNDLE",
    "REGOPS_GCP_ENDPOINT",
    "REGOPS_GITHUB_API_URL",
)


def _demo_acceptance(config: pytest.Config) -> bool:
    stage = config.getoption("stage", None) or os.environ.get("REGOPS_STAGE")
    endpoint = config.getoption("aws_endpoint", None) or os.environ.get("REGOPS_AWS_ENDPOINT")
    in_worker = hasattr(config, "workerinput")
    # Runs configured by another pyproject.toml (the tests' own projects) are not the demo.
    demo = config.inipath == Path(__file__).parent / "pyproject.toml"
    return stage == "acceptance" and demo and not endpoint and not in_worker


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    global _server
    if not _demo_acceptance(config):
        return
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise pytest.UsageError(
            "the acceptance demo serves its live AWS side from moto: pip install -e '.[dev]'"
        ) from None
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    for name, value in {"AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo"}.items():
        os.environ[name] = value
    os.environ.pop("AWS_PROFILE", None)
    _server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    _server.start()
    host, port = _server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    sys.path.insert(0, str(DEMO))
    try:
        import live_aws
    finally:
        sys.path.remove(str(DEMO))
    live_aws.seed(endpoint)
    os.environ["REGOPS_AWS_ENDPOINT"] = endpoint
    _serve_recorded_apis()


def _serve_recorded_apis() -> None:
    from tests.recorded_api import RecordedApi, load_recording

    azure = RecordedApi(load_recording(DEMO / "azure_api.json"), tls=True).start()
    gcp = RecordedApi(load_recording(DEMO / "gcp_api.json")).start()
    github = RecordedApi(load_recording(DEMO / "github_api.json")).start()
    _recorded.extend([azure, gcp, github])
    os.environ.update(
        {
            **_DEMO_ENVIRONMENT,
            "REGOPS_AZURE_ENDPOINT": azure.endpoint,
            "REGOPS_AZURE_CA_BUNDLE": str(azure.ca_file),
            "REGOPS_GCP_ENDPOINT": gcp.endpoint,
            "REGOPS_GITHUB_API_URL": github.endpoint,
        }
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    global _server
    if _server is not None:
        _server.stop()
        _server = None
        os.environ.pop("REGOPS_AWS_ENDPOINT", None)
    while _recorded:
        _recorded.pop().close()
    for name in [*_DEMO_ENVIRONMENT, *_ENDPOINTS]:
        os.environ.pop(name, None)
