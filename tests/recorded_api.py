"""Recorded cloud API responses served on 127.0.0.1, for the real Azure and GCP SDK clients.

A recording is a JSON document: `{"interactions": [...]}`. Each interaction names a method, a
path and, optionally, query parameters that must be present with these values; it answers with
its `responses` in turn (the last one repeats), each a status, headers and a JSON body. A
response with `"drop": true` closes the connection without an answer; one with `"hang": true`
answers nothing until the server closes (a client's read timeout). `{endpoint}` anywhere in
a body or a header is the server's own address, so recorded nextLinks and Link headers point
back at it. A request nothing
matches gets a 404 and is remembered in `unmatched`.

With `tls=True` the server speaks HTTPS with a certificate generated for 127.0.0.1 (the Azure
SDK refuses to send a bearer token over plain HTTP); `ca_file` is the certificate to trust.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import tempfile
import threading
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def load_recording(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text(encoding="utf-8"))["interactions"])


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "server.pem", directory / "server.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


class RecordedApi:
    def __init__(self, interactions: Sequence[Mapping[str, Any]], tls: bool = False) -> None:
        self.interactions = [dict(i) for i in interactions]
        self._served = [0] * len(self.interactions)
        self._lock = threading.Lock()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        # Each request's query string as sent: a parameter may repeat (Cloud Asset's assetTypes).
        self.query_strings: list[str] = []
        self.unmatched: list[str] = []
        self._directory = tempfile.TemporaryDirectory(prefix="recorded-api-")
        self.ca_file: str | None = None
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        if tls:
            cert_file, key_file = _certificate(Path(self._directory.name))
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert_file, key_file)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.ca_file = str(cert_file)
        host, port = self._server.server_address[:2]
        self.endpoint = f"{'https' if tls else 'http'}://{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RecordedApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> RecordedApi:
        return self.__enter__()

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._directory.cleanup()

    def calls(self, path_part: str) -> int:
        return sum(1 for _, path, _ in self.requests if path_part in path)

    def _answer(self, method: str, path: str, query: dict[str, str]) -> Mapping[str, Any] | None:
        with self._lock:
            self.requests.append((method, path, query))
            for index, interaction in enumerate(self.interactions):
                if interaction.get("method", "GET") != method or interaction["path"] != path:
                    continue
                wanted = interaction.get("query", {})
                if any(query.get(k) != str(v) for k, v in wanted.items()):
                    continue
                responses = interaction.get("responses") or [interaction]
                response = responses[min(self._served[index], len(responses) - 1)]
                self._served[index] += 1
                return response
            self.unmatched.append(f"{method} {path} {query}")
            return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                parts = urlsplit(self.path)
                api.query_strings.append(unquote(parts.query))
                query = dict(parse_qsl(parts.query, keep_blank_values=True))
                response = api._answer(self.command, unquote(parts.path), query)
                if response is not None and response.get("hang"):
                    api._closing.wait()
                    return
                if response is not None and response.get("drop"):
                    self.close_connection = True
                    self.connection.close()
                    return
                if response is None:
                    response = {
                        "status": 404,
                        "body": {"error": {"code": "NotRecorded", "message": self.path}},
                    }
                body = json.dumps(response.get("body", {})).replace("{endpoint}", api.endpoint).encode()
                self.send_response(int(response.get("status", 200)))
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in response.get("headers", {}).items():
                    self.send_header(name, str(value).replace("{endpoint}", api.endpoint))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve

        return Handler
