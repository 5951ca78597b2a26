"""Repository-local wiring: the acceptance demo's live AWS stage, served by moto on loopback.

`pytest --stage=acceptance` in this repository checks the demo platform's plan and its live AWS
side. The live side is a moto server started here on 127.0.0.1 and seeded by
fixtures/demo/live_aws.py; REGOPS_AWS_ENDPOINT sends every AWS call there. When an endpoint is
already given (option or environment), nothing is started.
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


def _demo_acceptance(config: pytest.Config) -> bool:
    stage = config.getoption("stage", None) or os.environ.get("REGOPS_STAGE")
    endpoint = config.getoption("aws_endpoint", None) or os.environ.get("REGOPS_AWS_ENDPOINT")
    in_worker = hasattr(config, "workerinput")
    return stage == "acceptance" and not endpoint and not in_worker


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


def pytest_unconfigure(config: pytest.Config) -> None:
    global _server
    if _server is not None:
        _server.stop()
        _server = None
        os.environ.pop("REGOPS_AWS_ENDPOINT", None)
