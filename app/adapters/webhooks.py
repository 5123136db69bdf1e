"""Outgoing webhooks: vet where a URL points, sign a body, POST it to the vetted address.

Server-side request forgery is the risk: a customer's webhook URL makes our servers send
requests, so a URL that leads to our own network (a metadata service, Redis, an admin port)
is refused. The host is resolved when the channel is created and again before every
delivery; any private, loopback, link-local, multicast, reserved or unspecified address
(IPv4 hidden inside IPv6 included) refuses the whole URL, unless the platform allows private
targets (`WEBHOOK_ALLOW_PRIVATE`). The request then goes to one of the vetted addresses, not
to the name, so DNS cannot answer differently between the check and the connection
(rebinding); TLS still verifies the certificate for the name. Redirects are never followed.

The signature is HMAC-SHA256 over the exact body bytes, keyed with the channel's secret as
shown to the user (its UTF-8 bytes): `X-Signature: sha256=<hex>`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import idna
import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from app.adapters.dns import Answer

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-PenguinMails-Timestamp"
EVENT_HEADER = "X-PenguinMails-Event"
USER_AGENT = "PenguinMails-Webhooks/1"
MAX_URL_LENGTH = 2000
RESPONSE_EXCERPT = 200  # characters of a refusing receiver's body kept in the delivery log
# Answers worth trying again later (RFC 9110 §15.5.9 Request Timeout, RFC 6585 §4 Too Many
# Requests); any other 4xx means the request itself is wrong and a retry would be too.
RETRYABLE_CLIENT_ERRORS = frozenset({408, 429})
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class WebhookRefused(Exception):
    """The URL may not be called; `code` is stable, `message` says what to do instead."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.message = message
        self.code = code


class Resolver(Protocol):
    def query(self, name: str, rdtype: str) -> Answer: ...


@dataclass(frozen=True)
class WebhookTarget:
    """A URL split for pinned delivery: connect to `addresses`, speak to `host`."""

    url: str
    scheme: str
    host: str  # IDNA A-label, or the IP address itself
    port: int
    path: str  # path and query, as sent in the request line
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_url(raw: str) -> WebhookTarget:
    """Check the URL's shape (no DNS): http(s), a host, no credentials. Addresses are empty
    until `vet` fills them in."""
    url = (raw or "").strip()
    if not url:
        raise WebhookRefused("Enter the URL to send alerts to.", code="webhook_url_missing")
    if len(url) > MAX_URL_LENGTH:
        raise WebhookRefused(f"The URL is longer than {MAX_URL_LENGTH} characters.",
                             code="webhook_url_too_long")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise WebhookRefused("The URL contains spaces or control characters.",
                             code="webhook_url_invalid")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookRefused("This is not a valid URL (check the host and port).",
                             code="webhook_url_invalid") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise WebhookRefused("Webhook URLs must start with https:// (or http://).",
                             code="webhook_scheme_refused")
    if not parts.hostname:
        raise WebhookRefused("The URL has no host name.", code="webhook_url_invalid")
    if parts.username is not None or parts.password is not None:
        raise WebhookRefused("Leave user names and passwords out of the URL: every delivery is "
                             "signed (X-Signature), verify that instead.",
                             code="webhook_credentials_in_url")
    if parts.fragment:
        raise WebhookRefused("Remove the #fragment: it is never sent to the server.",
                             code="webhook_url_invalid")
    scheme = parts.scheme.lower()
    host = _ascii_host(parts.hostname)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return WebhookTarget(url=url, scheme=scheme, host=host,
                         port=port or (443 if scheme == "https" else 80), path=path,
                         addresses=())


def _ascii_host(hostname: str) -> str:
    host = hostname.lower().removesuffix(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        raise WebhookRefused(f"“{hostname}” is not a valid host name.",
                             code="webhook_url_invalid") from None


def refusal_reason(address: IpAddress) -> str | None:
    """Why a connection to this address would reach a network we must not: None if public.

    IPv4 carried inside IPv6 (mapped, 6to4, Teredo, NAT64) is judged as the IPv4 it carries.
    """
    for candidate in _embedded(address):
        for reason, flagged in (("unspecified", candidate.is_unspecified),
                                ("loopback", candidate.is_loopback),
                                ("link-local", candidate.is_link_local),
                                ("multicast", candidate.is_multicast),
                                ("private", candidate.is_private),
                                ("reserved", candidate.is_reserved),
                                ("not publicly routable", not candidate.is_global)):
            if flagged:
                return reason
    return None


def _embedded(address: IpAddress) -> list[IpAddress]:
    """The IPv4 an IPv6 address carries (judged first: it names the real destination), then
    the address itself."""
    found: list[IpAddress] = []
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            found.append(address.ipv4_mapped)
        if address.sixtofour:
            found.append(address.sixtofour)
        if address.teredo:
            found.extend(address.teredo)
        if address in NAT64_PREFIX:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [*found, address]


def vet(url: str, resolver: Resolver, *, allow_private: bool) -> WebhookTarget:
    """The URL with the addresses it may be delivered to; WebhookRefused when it may not."""
    target = parse_url(url)
    addresses = _addresses(target.host, resolver)
    if not allow_private:
        for address in addresses:
            reason = refusal_reason(address)
            if reason:
                shown = target.host if str(address) == target.host else \
                    f"{target.host} resolves to {address}, which"
                raise WebhookRefused(
                    f"{shown} is a {reason} address: webhooks go only to public internet "
                    "addresses. Use a public URL (or ask the platform admin to allow private "
                    "targets).", code="webhook_private_address")
    return WebhookTarget(**{**target.__dict__, "addresses": tuple(str(a) for a in addresses)})


def _addresses(host: str, resolver: Resolver) -> list[IpAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    answers = [resolver.query(host, rdtype) for rdtype in ("A", "AAAA")]
    addresses = []
    for answer in answers:
        for record in answer.records if answer.ok else []:
            try:
                addresses.append(ipaddress.ip_address(record))
            except ValueError:
                continue  # a CNAME step of the chain, not an address
    if addresses:
        return addresses
    if all(answer.failed for answer in answers):
        raise WebhookRefused(f"{host} could not be looked up just now ({answers[0].status}); "
                             "try again in a moment.", code="webhook_host_lookup_failed")
    raise WebhookRefused(f"{host} has no address (no A or AAAA record).",
                         code="webhook_host_unresolvable")


def sign(secret: str, body: bytes) -> str:
    """The X-Signature value: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(sign(secret, body), header or "")


@dataclass(frozen=True)
class WebhookResponse:
    status_code: int | None  # None: no HTTP answer (refused, timeout, TLS failure)
    error: str = ""

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retryable(self) -> bool:
        """No answer and 5xx may go away; 3xx (never followed) and most 4xx will not."""
        if self.status_code is None:
            return True
        return self.status_code >= 500 or self.status_code in RETRYABLE_CLIENT_ERRORS


class _PinnedAdapter(HTTPAdapter):
    """Connects to the address in the URL while TLS speaks to (SNI) and verifies the name."""

    def __init__(self, server_hostname: str):
        self._server_hostname = server_hostname
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        pool_kwargs.update(server_hostname=self._server_hostname,
                           assert_hostname=self._server_hostname)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)


def post(target: WebhookTarget, body: bytes, headers: Mapping[str, str], *, timeout: float,
         verify: bool | str = True) -> WebhookResponse:
    """POST to the first vetted address that takes the connection; never raises for network
    trouble. `verify` is a CA bundle path for tests; production uses the system's CAs."""
    error = "no address to connect to"
    for address in target.addresses:
        host = f"[{address}]" if ":" in address else address
        with requests.Session() as session:
            session.trust_env = False  # no proxy from the environment: connect where vetted
            if target.scheme == "https" and address != target.host:
                session.mount("https://", _PinnedAdapter(target.host))
            try:
                response = session.post(
                    f"{target.scheme}://{host}:{target.port}{target.path}", data=body,
                    headers={**headers, "Host": target.host_header, "User-Agent": USER_AGENT,
                             "Content-Type": "application/json"},
                    timeout=timeout, allow_redirects=False, stream=True, verify=verify)
            except requests.exceptions.SSLError as exc:
                return WebhookResponse(None, f"TLS failed with {target.host}: {_reason(exc)}")
            except requests.exceptions.ConnectTimeout:
                error = f"connecting to {address} timed out after {timeout:g} s"
                continue  # another address of the name may answer
            except requests.ConnectionError as exc:
                error = f"could not connect to {address}: {_reason(exc)}"
                continue
            except requests.exceptions.ReadTimeout:
                return WebhookResponse(None, f"no answer within {timeout:g} s")
            except requests.RequestException as exc:
                return WebhookResponse(None, f"request failed: {_reason(exc)}")
            with response:
                return WebhookResponse(response.status_code, _describe(response))
    return WebhookResponse(None, error)


def _describe(response: requests.Response) -> str:
    if 200 <= response.status_code < 300:
        return ""
    if 300 <= response.status_code < 400:
        where = response.headers.get("Location", "")
        return (f"HTTP {response.status_code}: redirect to {where[:200]} not followed; "
                "point the channel at the final URL")
    try:
        excerpt = response.raw.read(RESPONSE_EXCERPT * 4, decode_content=True)
    except (OSError, urllib3.exceptions.HTTPError):
        excerpt = b""  # the status alone says enough
    text = " ".join(excerpt.decode("utf-8", "replace").split())[:RESPONSE_EXCERPT]
    return f"HTTP {response.status_code}" + (f": {text}" if text else "")


def _reason(exc: Exception) -> str:
    """urllib3's own reason, without the request line (whose path may hold a token)."""
    reason = exc.args[0] if exc.args else exc
    reason = getattr(reason, "reason", None) or reason  # urllib3's MaxRetryError wraps it
    text = str(reason)
    if "Failed to establish a new connection: " in text:
        text = text.split("Failed to establish a new connection: ", 1)[1]
    return text[:300]
