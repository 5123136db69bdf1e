"""A webhook receiver for tests: a real HTTP(S) server on loopback that keeps every request.

It answers with the statuses it is told to, in order (then 200), so a test can make a
delivery fail, be retried and succeed, or be given up.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.core.clock import utcnow


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    server: ThreadingHTTPServer
    scheme: str = "http"
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in order, then 200
    location: str = ""  # sent with 3xx answers
    hold: threading.Event | None = None  # when set up, answers wait for it (at most 5 s)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str = "/hooks/penguinmails", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def answer(self, *statuses: int) -> None:
        self.statuses.extend(statuses)


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 — http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receiver.requests.append(Received("POST", self.path, dict(self.headers.items()),
                                              body))
            if receiver.hold is not None:
                receiver.hold.wait(5)
            status = receiver.statuses.pop(0) if receiver.statuses else 200
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", receiver.location or "http://127.0.0.1:1/")
            text = b"stored" if status < 300 else b"nope: receiver says no"
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, format, *args) -> None:  # noqa: A002 — keep test output quiet
            return None

    return Handler


def _serve(receiver: WebhookReceiver) -> Iterator[WebhookReceiver]:
    thread = threading.Thread(target=receiver.server.serve_forever,
                              kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        thread.join()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """An HTTP receiver on 127.0.0.1, on a free port."""
    receiver = WebhookReceiver(ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler))
    receiver.server.RequestHandlerClass = _handler(receiver)
    yield from _serve(receiver)


def self_signed(hostname: str, folder: Path) -> tuple[Path, Path]:
    """A certificate for `hostname` (its own CA) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = utcnow()
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5))
                   .not_valid_after(now + timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                                  critical=True)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / f"{hostname}.crt", folder / f"{hostname}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_webhook_receiver(tmp_path) -> Iterator[tuple[WebhookReceiver, Path]]:
    """An HTTPS receiver on 127.0.0.1 whose certificate names hooks.example.test; yields the
    receiver and the certificate to trust."""
    cert_path, key_path = self_signed("hooks.example.test", tmp_path)
    receiver = WebhookReceiver(ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler),
                               scheme="https")
    receiver.server.RequestHandlerClass = _handler(receiver)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    receiver.server.socket = context.wrap_socket(receiver.server.socket, server_side=True)
    for served in _serve(receiver):
        yield served, cert_path
