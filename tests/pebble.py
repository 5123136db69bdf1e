"""Debian's pebble, a small RFC 8555 CA for tests, on loopback, validating through our servers.

`pebble` starts `/usr/bin/pebble` on free loopback ports for one test:

* its HTTPS listener gets a certificate from a throwaway CA made here (Debian ships none);
  `Pebble.ca_bundle` trusts it, as ACME_CA_BUNDLE does in the app;
* `-dnsserver` is the test's `dns_server`. Pebble asks it as a recursive resolver and the test
  server chases CNAMEs only inside one zone, so a tracking host and the platform host it
  aliases must sit in one zone (say `test.`) for pebble to find the address;
* its HTTP-01 port is `challenge_server`, the test app served by a real HTTP server thread,
  which answers `/.well-known/acme-challenge/<token>` like a deployed portal.

Validation runs without pebble's random sleeps, without refusing good nonces and without
reusing earlier authorizations, so every order really checks the host. Its issuing CA is
made afresh on each start; `Pebble.intermediate()` fetches it from the management API.

`tracking_zone` is that DNS for any tracking test (the zone `test.`, the platform's tracking
host in it, the app resolving through it); `acme_ca` points the app's ACME settings at pebble.

Without /usr/bin/pebble the tests that need it are skipped, except under CI=true (the CI
script installs it): there a missing pebble fails them, so they never silently stop running.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.serving import make_server

PEBBLE = Path("/usr/bin/pebble")
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Pebble:
    directory_url: str
    management_url: str
    ca_bundle: str  # trusts pebble's own HTTPS listeners
    log: Path

    def intermediate(self) -> x509.Certificate:
        """The intermediate that signs this run's certificates."""
        response = requests.get(f"{self.management_url}/intermediates/0", verify=self.ca_bundle,
                                timeout=10)
        response.raise_for_status()
        return x509.load_pem_x509_certificate(response.content)


def require_pebble() -> None:
    if PEBBLE.exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{PEBBLE} is missing: CI installs the Debian package pebble (.ci/run), so "
                    "the ACME tests must run here")
    pytest.skip(f"{PEBBLE} is not installed (apt-get install pebble); the ACME tests need it")


@pytest.fixture
def challenge_server(app):
    """The test app behind a real HTTP server on loopback; yields its port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="challenge-server", daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def pebble(dns_server, challenge_server, tmp_path) -> Pebble:
    require_pebble()
    folder = tmp_path / "pebble"
    folder.mkdir()
    ca_bundle, certificate, key = _https_certificate(folder)
    listen, management = free_port(), free_port()
    config = folder / "pebble-config.json"
    config.write_text(json.dumps({"pebble": {
        "listenAddress": f"127.0.0.1:{listen}",
        "managementListenAddress": f"127.0.0.1:{management}",
        "certificate": str(certificate), "privateKey": str(key),
        "httpPort": challenge_server, "tlsPort": free_port(),
        "ocspResponderURL": "", "externalAccountBindingRequired": False}}))
    log = folder / "pebble.log"
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0",
           "PEBBLE_AUTHZREUSE": "0"}
    with log.open("wb") as output:
        process = subprocess.Popen([str(PEBBLE), "-config", str(config),
                                    "-dnsserver", dns_server.nameserver],
                                   env=env, stdout=output, stderr=subprocess.STDOUT)
    running = Pebble(directory_url=f"https://127.0.0.1:{listen}/dir",
                     management_url=f"https://127.0.0.1:{management}", ca_bundle=str(ca_bundle),
                     log=log)
    try:
        _wait_until_ready(running, process)
        yield running
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_until_ready(running: Pebble, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"pebble exited with {process.returncode}:\n{running.log.read_text()}")
        try:
            requests.get(running.directory_url, verify=running.ca_bundle, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.05)
    pytest.fail(f"pebble did not answer within {START_TIMEOUT}s:\n{running.log.read_text()}")


def _https_certificate(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it, as PEM files."""
    now = datetime.now(timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble test listener CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


# --- the DNS a tracking test resolves through ---------------------------------------------

ZONE = "test"
PLATFORM_HOST = "tracking.platform.test"
CAA_IDENTITY = "pebble.test"


@pytest.fixture
def tracking_zone(app, dns_server, monkeypatch):
    """The app (and pebble, when started) resolve through one zone, `test.`, in which the
    platform's tracking host has the address 127.0.0.1; a test adds its customer names."""
    dns_server.add_zone(ZONE, {PLATFORM_HOST.removesuffix(f".{ZONE}"): {"A": "127.0.0.1"}})
    monkeypatch.setitem(app.config, "DNS_NAMESERVERS", dns_server.nameserver)
    monkeypatch.setitem(app.config, "DNS_TIMEOUT", 0.5)
    monkeypatch.setitem(app.config, "DNS_LIFETIME", 2.0)
    monkeypatch.setitem(app.config, "PLATFORM_TRACKING_HOST", PLATFORM_HOST)
    monkeypatch.setitem(app.config, "ACME_CAA_IDENTITIES", [CAA_IDENTITY])
    return dns_server


@pytest.fixture
def acme_ca(app, pebble, tracking_zone, monkeypatch) -> Pebble:
    """The app orders its certificates from this test's pebble."""
    monkeypatch.setitem(app.config, "ACME_DIRECTORY_URL", pebble.directory_url)
    monkeypatch.setitem(app.config, "ACME_CA_BUNDLE", pebble.ca_bundle)
    monkeypatch.setitem(app.config, "ACME_CONTACT_EMAIL", "certificates@penguinmails.test")
    return pebble
