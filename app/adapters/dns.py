"""DNS lookups as values: the resolver behind the verification jobs and the validator.

Every outcome (records, NXDOMAIN, NODATA, timeout, SERVFAIL, REFUSED, a lame server) comes
back as an `Answer`, so a failed lookup is never mistaken for a missing record. `Resolver`
is synchronous, as RQ jobs are; `AsyncResolver` runs the very same lookup logic on asyncio
for sweeps of many domains at once (the logic yields its I/O; each class only exchanges
messages).

Where queries go:

* `DnsConfig.nameservers` unset: ordinary lookups go to the system resolver (resolv.conf);
  authoritative lookups find the zone apex (SOA), its NS names and their addresses, and ask
  each nameserver on port 53 without recursion.
* `DnsConfig.nameservers` set (`DNS_NAMESERVERS`; tests and benchmarks): every query,
  ordinary and authoritative alike, goes to those servers. Ordinary lookups try them in
  order; an authoritative lookup asks each one, so a test models "a zone with three
  nameservers" by listing three `host:port` entries.
* Referrals, which only an authoritative-only server (such as a test server) returns, are
  followed to the delegated nameservers (glue, else their resolved addresses) on the port of
  the server that referred. That is port 53 in the real world, and lets a test serve a
  delegated `_domainkey` zone from another loopback address on the same port.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import socket
import time
import weakref
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver

Status = Literal["ok", "nxdomain", "nodata", "timeout", "servfail", "refused", "lame", "error"]
# The lookup itself failed: report that, never "record missing".
FAILURES = frozenset({"timeout", "servfail", "refused", "lame", "error"})

DNS_PORT = 53
EDNS_PAYLOAD = 1232  # DNS Flag Day 2020: no IP fragmentation
MAX_CNAME_CHAIN = 8
MAX_REFERRALS = 4
MAX_NESTING = 2  # lookups of nameserver addresses made while following a referral
MAX_PARALLEL = 8
IN = dns.rdataclass.IN

T = TypeVar("T")
R = TypeVar("R")


def parse_nameservers(text: str) -> list[tuple[str, int]]:
    """Parse `host[:port]` entries separated by commas (`DNS_NAMESERVERS`, `--nameserver`).

    Hosts are IP addresses; IPv6 goes in brackets (`[::1]:53`). Empty text means "none".
    Raises ValueError naming the bad entry.
    """
    if not text.strip():
        return []
    return [_parse_nameserver(entry.strip()) for entry in text.split(",")]


def _parse_nameserver(entry: str) -> tuple[str, int]:
    if not entry:
        raise ValueError("empty nameserver entry (a doubled or trailing comma?)")
    if entry.startswith("["):
        host, bracket, rest = entry[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"nameserver {entry!r}: write IPv6 as [address] or [address]:port")
        port_text = rest[1:] if rest else None
    elif entry.count(":") > 1:
        raise ValueError(f"nameserver {entry!r}: put IPv6 addresses in brackets, e.g. [::1]:53")
    else:
        host, colon, port_text = entry.partition(":")
        port_text = port_text if colon else None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"nameserver {entry!r}: {host!r} is not an IP address") from None
    if port_text is None:
        return (str(address), DNS_PORT)
    if not (port_text.isascii() and port_text.isdigit() and 0 < int(port_text) < 65536):
        raise ValueError(f"nameserver {entry!r}: port must be 1-65535, got {port_text!r}")
    return (str(address), int(port_text))


@dataclass(frozen=True)
class DnsConfig:
    nameservers: Sequence[tuple[str, int]] | None = None  # None or empty: the system resolver
    timeout: float = 3.0  # one attempt at one server
    lifetime: float = 8.0  # one whole lookup, CNAMEs and referrals included
    retries: int = 2  # further rounds over the servers after timeouts

    def __post_init__(self) -> None:
        if self.timeout <= 0 or self.lifetime <= 0 or self.retries < 0:
            raise ValueError("DNS timeout and lifetime must be positive, retries 0 or more")
        servers = tuple((host, int(port)) for host, port in self.nameservers or ())
        object.__setattr__(self, "nameservers", servers or None)

    @classmethod
    def from_settings(cls, settings: Mapping,
                      nameservers: Sequence[tuple[str, int]] = ()) -> DnsConfig:
        """From the app's DNS_NAMESERVERS / DNS_TIMEOUT / DNS_LIFETIME; `nameservers` given
        (e.g. `--nameserver`) replace DNS_NAMESERVERS."""
        servers = list(nameservers) or parse_nameservers(settings["DNS_NAMESERVERS"])
        return cls(nameservers=servers or None, timeout=settings["DNS_TIMEOUT"],
                   lifetime=settings["DNS_LIFETIME"])


@dataclass(frozen=True)
class Nameserver:
    """A server to ask; `name` is its NS name when it was found through DNS."""

    host: str | None  # None: the NS name has no address (a lame delegation)
    port: int
    name: str | None = None

    def __str__(self) -> str:
        if self.host is None:
            return f"{self.name} (no address)"
        where = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        return f"{self.name} ({where})" if self.name else where


@dataclass(frozen=True)
class Answer:
    """What one lookup found; `records` are in presentation form (names end in a dot)."""

    name: str
    rdtype: str
    status: Status
    records: list[str] = field(default_factory=list)
    # TXT only: each record's character-strings exactly as served, not yet joined.
    txt_strings: list[list[bytes]] = field(default_factory=list)
    cname_chain: list[str] = field(default_factory=list)
    server: str = ""
    ttl: int | None = None  # the smallest TTL along the chain; for negative answers, the SOA's
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def failed(self) -> bool:
        return self.status in FAILURES

    def txt_values(self) -> list[str]:
        """Each TXT record's strings joined with nothing between them (RFC 7208 §3.3)."""
        return [b"".join(strings).decode("utf-8", "replace") for strings in self.txt_strings]


@dataclass(frozen=True)
class _Budget:
    deadline: float
    depth: int = 0

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def deeper(self) -> _Budget:
        return _Budget(self.deadline, self.depth + 1)


@dataclass(frozen=True)
class _Reply:
    server: str
    kind: str  # "answer", "referral" or one of FAILURES
    message: dns.message.Message | None = None
    port: int = DNS_PORT
    detail: str = ""


@dataclass(frozen=True)
class _Exchange:
    """One request to one server: the only I/O the lookup logic asks its driver to do."""

    server: Nameserver
    request: dns.message.Message
    timeout: float
    recursive: bool


@dataclass(frozen=True)
class _Together:
    """Lookups to run side by side; the driver sends back their results in order."""

    lookups: list[Generator[Any, Any, Any]]


# A lookup as a generator: it yields _Exchange / _Together and gets back _Reply / results.
Steps = Generator[Any, Any, T]


class _Resolution:
    """How a lookup proceeds (CNAME chains, referrals, retries, failover, classification),
    written once as generators that yield their I/O, so the blocking `Resolver` and the
    asyncio `AsyncResolver` share every rule and differ only in how they exchange messages."""

    def __init__(self, config: DnsConfig | None = None):
        self.config = config or DnsConfig()
        pinned = [Nameserver(host, port) for host, port in self.config.nameservers or ()]
        self._pinned = pinned or None
        self._recursive = pinned or _system_nameservers()

    def _query(self, name: str, rdtype: str) -> Steps[Answer]:
        return self._lookup(name, rdtype, self._recursive, recursive=True, budget=self._budget())

    def _zone_apex_of(self, name: str) -> Steps[str | None]:
        return self._zone_apex(name, self._budget())

    def _nameservers_of(self, name: str) -> Steps[list[Nameserver]]:
        return self._authoritative_nameservers(name, self._budget())

    def _each_authoritative(self, name: str, rdtype: str) -> Steps[list[Answer]]:
        budget = self._budget()
        servers = yield from self._authoritative_nameservers(name, budget)
        return (yield _Together([self._ask_authority(name, rdtype, server, budget)
                                 for server in servers]))

    def _ask_authority(self, name: str, rdtype: str, server: Nameserver,
                       budget: _Budget) -> Steps[Answer]:
        if server.host is None:
            label = dns.rdatatype.to_text(dns.rdatatype.from_text(rdtype))
            return Answer(name, label, "lame", server=str(server),
                          detail="the nameserver's name does not resolve to an address")
        return (yield from self._lookup(name, rdtype, [server], recursive=False, budget=budget))

    def _zone_apex(self, name: str, budget: _Budget) -> Steps[str | None]:
        try:
            candidate = dns.name.from_text(name)
        except dns.exception.DNSException:
            return None
        while True:
            reply = yield from self._resolve(self._recursive, candidate, dns.rdatatype.SOA,
                                             recursive=True, budget=budget)
            if reply.kind != "answer":
                return None
            message = reply.message
            if message.get_rrset(message.answer, candidate, IN, dns.rdatatype.SOA) is not None:
                return _text(candidate)
            soa = _soa(message)
            # A negative answer names its zone in the SOA; after a CNAME it names the target's.
            if soa is not None and not message.answer and candidate.is_subdomain(soa.name):
                return _text(soa.name)
            if candidate == dns.name.root:
                return None
            candidate = candidate.parent()

    def _authoritative_nameservers(self, name: str, budget: _Budget) -> Steps[list[Nameserver]]:
        if self._pinned:
            return list(self._pinned)
        apex = yield from self._zone_apex(name, budget)
        if apex is None:
            return []
        ns = yield from self._lookup(apex, "NS", self._recursive, recursive=True, budget=budget)
        if not ns.ok:
            return []
        targets = sorted({dns.name.from_text(record) for record in ns.records})
        addresses = yield _Together([self._address(target, budget) for target in targets])
        return [Nameserver(address, DNS_PORT, _text(target))
                for target, address in zip(targets, addresses, strict=True)]

    # -- one lookup: CNAME chain over questions ---------------------------------------------------

    def _budget(self) -> _Budget:
        return _Budget(time.monotonic() + self.config.lifetime)

    def _lookup(self, name: str, rdtype: str, servers: list[Nameserver], *, recursive: bool,
                budget: _Budget) -> Steps[Answer]:
        qtype = dns.rdatatype.from_text(rdtype)
        label = dns.rdatatype.to_text(qtype)
        try:
            current = dns.name.from_text(name)
        except dns.exception.DNSException as exc:
            return Answer(name, label, "error", detail=f"not a valid domain name: {exc}")
        first, chain = current, []
        ttl: int | None = None
        while True:
            reply = yield from self._resolve(servers, current, qtype, recursive=recursive,
                                             budget=budget)
            found = _answer_maker(name, label, chain, reply.server)
            if reply.kind != "answer":
                return found(reply.kind, detail=reply.detail)
            message, asked = reply.message, current
            while qtype != dns.rdatatype.CNAME and (
                    cname := message.get_rrset(message.answer, current, IN, dns.rdatatype.CNAME)):
                current, ttl = cname[0].target, _smaller(ttl, cname.ttl)
                if current == first or current in chain:
                    return found("error", detail=f"CNAME loop at {_text(current)}")
                if len(chain) == MAX_CNAME_CHAIN:
                    return found("error", detail=f"CNAME chain longer than {MAX_CNAME_CHAIN}")
                chain.append(current)
            rrset = message.get_rrset(message.answer, current, IN, qtype)
            if rrset is not None:
                strings = [list(rdata.strings) for rdata in rrset] \
                    if qtype == dns.rdatatype.TXT else []
                return found("ok", records=[rdata.to_text() for rdata in rrset],
                             txt_strings=strings, ttl=_smaller(ttl, rrset.ttl))
            negative_ttl = _negative_ttl(message)
            if message.rcode() == dns.rcode.NXDOMAIN:
                return found("nxdomain", ttl=negative_ttl)
            if current != asked and negative_ttl is None:
                # The server stopped at a CNAME into a zone it does not serve: carry on from
                # the target through the ordinary resolver.
                servers, recursive = self._recursive, True
                continue
            return found("nodata", ttl=negative_ttl)

    # -- one question: referrals over servers ----------------------------------------------------

    def _resolve(self, servers: list[Nameserver], qname: dns.name.Name, qtype, *,
                 recursive: bool, budget: _Budget) -> Steps[_Reply]:
        cut_depth = len(dns.name.root)
        for _ in range(MAX_REFERRALS + 1):
            reply = yield from self._ask(servers, qname, qtype, recursive=recursive,
                                         budget=budget)
            if reply.kind != "referral":
                return reply
            cut = _referral(reply.message)
            if len(cut.name) <= cut_depth:
                return replace(reply, kind="lame", detail=f"referral upwards to {cut.name}")
            cut_depth = len(cut.name)
            servers = yield from self._delegated_servers(cut, reply, budget)
            if not servers:
                return replace(reply, kind="lame",
                               detail=f"no address for any nameserver of {_text(cut.name)}")
            recursive = False
        return replace(reply, kind="error", detail=f"more than {MAX_REFERRALS} referrals")

    def _delegated_servers(self, cut, reply: _Reply, budget: _Budget) -> Steps[list[Nameserver]]:
        glue: dict[dns.name.Name, str] = {}
        for rrset in sorted(reply.message.additional, key=lambda rrset: rrset.rdtype):  # A first
            if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA) and len(rrset):
                glue.setdefault(rrset.name, rrset[0].address)
        servers = []
        for target in (rdata.target for rdata in cut):
            # In-bailiwick names without glue cannot be resolved (RFC 1034 §4.2.1).
            resolvable = not target.is_subdomain(cut.name) and budget.depth < MAX_NESTING
            address = glue.get(target)
            if address is None and resolvable:
                address = yield from self._address(target, budget.deeper())
            if address is not None:
                servers.append(Nameserver(address, reply.port, _text(target)))
        return servers

    def _address(self, name: dns.name.Name, budget: _Budget) -> Steps[str | None]:
        """One address of a nameserver name, IPv4 preferred."""
        for rdtype in ("A", "AAAA"):
            answer = yield from self._lookup(_text(name), rdtype, self._recursive,
                                             recursive=True, budget=budget)
            if answer.ok:
                return answer.records[0]
        return None

    def _ask(self, servers: list[Nameserver], qname: dns.name.Name, qtype, *, recursive: bool,
             budget: _Budget) -> Steps[_Reply]:
        """Try the servers in turn; a timeout is retried, any other failure moves on."""
        request = dns.message.make_query(qname, qtype, use_edns=0, payload=EDNS_PAYLOAD,
                                         flags=dns.flags.RD if recursive else 0)
        waiting, failures = list(servers), []
        for _ in range(self.config.retries + 1):
            for server in list(waiting):
                remaining = budget.remaining()
                if remaining <= 0:
                    break
                reply = yield _Exchange(server, request, min(self.config.timeout, remaining),
                                        recursive)
                if reply.kind in ("answer", "referral"):
                    return reply
                if reply.kind != "timeout":
                    failures.append(reply)
                    waiting.remove(server)
        if failures:
            return failures[0]
        return _Reply(", ".join(map(str, servers)), "timeout",
                      detail=f"no answer within {self.config.lifetime:g}s")


class Resolver(_Resolution):
    """Blocking lookups, as RQ jobs want. Thread-safe and stateless between calls; build one
    per job or share one. Asking several nameservers at once uses a few threads."""

    def query(self, name: str, rdtype: str) -> Answer:
        """Look a name up through the resolver, following CNAMEs and delegations."""
        return self._run(self._query(name, rdtype))

    def txt(self, name: str) -> Answer:
        return self.query(name, "TXT")

    def zone_apex(self, name: str) -> str | None:
        """The apex of the zone holding `name` (which need not exist); None if DNS fails."""
        return self._run(self._zone_apex_of(name))

    def authoritative_nameservers(self, name: str) -> list[Nameserver]:
        """The nameservers of the zone holding `name`; empty when they cannot be found."""
        return self._run(self._nameservers_of(name))

    def query_each_authoritative(self, name: str, rdtype: str) -> list[Answer]:
        """Ask every authoritative nameserver directly, one Answer each, so callers can say
        "3 of 4 nameservers agree"; all within one lifetime. A server that refuses or answers
        without authority shows as "refused" / "lame". Empty when the nameservers cannot be
        found: fall back to query(), whose status says why."""
        return self._run(self._each_authoritative(name, rdtype))

    def _run(self, lookup: Steps[T]) -> T:
        result = None
        while True:
            try:
                step = lookup.send(result)
            except StopIteration as done:
                return done.value
            if isinstance(step, _Together):
                result = _parallel(self._run, step.lookups)
            else:
                result = self._exchange(step)

    @staticmethod
    def _exchange(step: _Exchange) -> _Reply:
        try:
            # Retries over TCP when the UDP answer is truncated (TC).
            message, _ = dns.query.udp_with_fallback(step.request, step.server.host,
                                                     timeout=step.timeout, port=step.server.port)
        except (dns.exception.DNSException, OSError, EOFError) as exc:
            return _failed(step, exc)
        return _received(step, message)


class AsyncResolver(_Resolution):
    """The same lookups on an asyncio loop, for sweeps that keep hundreds in flight.

    Bound to the loop it is first used on; close it there (`async with AsyncResolver(...)`).
    UDP goes over a few long-lived connected sockets per server (`_Channel`) instead of a
    socket per query, which is most of the cost of a query at sweep rates; truncated answers
    are retried over TCP with dnspython's async API, as the blocking resolver does.
    """

    def __init__(self, config: DnsConfig | None = None):
        super().__init__(config)
        self._channels: dict[tuple[str, int], list[_Channel]] = {}
        self._opening: dict[tuple[str, int], asyncio.Lock] = {}
        self._opened: weakref.WeakSet[_Channel] = weakref.WeakSet()

    async def __aenter__(self) -> AsyncResolver:
        return self

    async def __aexit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        for channel in list(self._opened):
            channel.close()
        self._channels.clear()

    async def query(self, name: str, rdtype: str) -> Answer:
        return await self._run(self._query(name, rdtype))

    async def zone_apex(self, name: str) -> str | None:
        return await self._run(self._zone_apex_of(name))

    async def authoritative_nameservers(self, name: str) -> list[Nameserver]:
        return await self._run(self._nameservers_of(name))

    async def query_each_authoritative(self, name: str, rdtype: str) -> list[Answer]:
        return await self._run(self._each_authoritative(name, rdtype))

    async def _run(self, lookup: Steps[T]) -> T:
        result = None
        while True:
            try:
                step = lookup.send(result)
            except StopIteration as done:
                return done.value
            if isinstance(step, _Together):
                result = list(await asyncio.gather(*map(self._run, step.lookups)))
            else:
                result = await self._exchange(step)

    async def _exchange(self, step: _Exchange) -> _Reply:
        server = (step.server.host, step.server.port)
        try:
            channel = await self._channel(server)
            message = await channel.exchange(step.request, step.timeout)
            if message.flags & dns.flags.TC:
                message = await dns.asyncquery.tcp(step.request, server[0], timeout=step.timeout,
                                                   port=server[1])
        except (dns.exception.DNSException, OSError, EOFError) as exc:
            return _failed(step, exc)
        return _received(step, message)

    async def _channel(self, server: tuple[str, int]) -> _Channel:
        """The least busy usable channel to `server`, opening one while there are few."""
        channels = self._channels.setdefault(server, [])
        if len(channels) >= CHANNELS_PER_SERVER and (channel := min(channels, key=_load)).usable:
            return channel
        async with self._opening.setdefault(server, asyncio.Lock()):
            # Retired channels leave the list; each closes when its last reply is in.
            channels[:] = [channel for channel in channels if channel.usable]
            if len(channels) >= CHANNELS_PER_SERVER:
                return min(channels, key=_load)
            _, channel = await asyncio.get_running_loop().create_datagram_endpoint(
                _Channel, remote_addr=server,
                family=socket.AF_INET6 if ":" in server[0] else socket.AF_INET)
            channels.append(channel)
            self._opened.add(channel)
            return channel


CHANNELS_PER_SERVER = 4
QUERIES_PER_CHANNEL = 512  # then a fresh socket (a new source port) takes over


class _Channel(asyncio.DatagramProtocol):
    """A connected UDP socket to one server, shared by the queries in flight to it.

    Replies are matched by a random ID unique on the channel and must answer the question
    asked (`is_response`); anything else is dropped, as a stray or spoofed datagram. Being
    connected, the socket takes datagrams from that server only and reports its ICMP errors
    (a closed port fails the queries waiting, as a per-query socket would). A channel retires
    after QUERIES_PER_CHANNEL queries, so source ports keep changing during a long sweep.
    """

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.waiting: dict[int, tuple[dns.message.Message, asyncio.Future]] = {}
        self.sent = 0

    @property
    def usable(self) -> bool:
        return self.transport is not None and self.sent < QUERIES_PER_CHANNEL

    async def exchange(self, request: dns.message.Message, timeout: float) -> dns.message.Message:
        loop = asyncio.get_running_loop()
        while (query_id := secrets.randbits(16)) in self.waiting:
            pass
        request.id = query_id
        reply = loop.create_future()
        self.waiting[query_id] = (request, reply)
        self.sent += 1
        timer = loop.call_later(timeout, _time_out, reply)
        try:
            self.transport.sendto(request.to_wire())
            return await reply
        finally:
            timer.cancel()
            del self.waiting[query_id]
            if not self.waiting and not self.usable:
                self.close()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        waiting = self.waiting.get(int.from_bytes(data[:2], "big")) if len(data) >= 12 else None
        if waiting is None or waiting[1].done():
            return
        request, reply = waiting
        try:
            message = dns.message.from_wire(data)
        except dns.exception.DNSException as exc:
            reply.set_exception(exc)  # our ID from the server, but not a DNS message
            return
        if request.is_response(message):
            reply.set_result(message)

    def error_received(self, exc: Exception) -> None:
        self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail(exc or OSError("the socket was closed"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: Exception) -> None:
        for _, reply in self.waiting.values():
            if not reply.done():
                reply.set_exception(exc)


def _load(channel: _Channel) -> tuple[bool, int]:
    return (not channel.usable, len(channel.waiting))


def _time_out(reply: asyncio.Future) -> None:
    if not reply.done():
        reply.set_exception(dns.exception.Timeout())


def _received(step: _Exchange, message: dns.message.Message) -> _Reply:
    kind = _classify(message, recursive=step.recursive)
    detail = {"lame": "answered without authority for the name",
              "error": f"rcode {dns.rcode.to_text(message.rcode())}"}.get(kind, "")
    return _Reply(str(step.server), kind, message, step.server.port, detail)


def _failed(step: _Exchange, exc: Exception) -> _Reply:
    if isinstance(exc, dns.exception.Timeout):
        return _Reply(str(step.server), "timeout", port=step.server.port)
    return _Reply(str(step.server), "error", port=step.server.port,
                  detail=f"{type(exc).__name__}: {exc}")


def _classify(message: dns.message.Message, *, recursive: bool) -> str:
    rcode = message.rcode()
    if rcode in (dns.rcode.SERVFAIL, dns.rcode.REFUSED):
        return dns.rcode.to_text(rcode).lower()
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return "error"
    negative = rcode == dns.rcode.NXDOMAIN or _soa(message) is not None
    if rcode == dns.rcode.NOERROR and not message.answer and not negative \
            and _referral(message) is not None:
        return "referral"
    if message.flags & dns.flags.AA:
        return "answer"
    # A recursive resolver answers without AA; a server asked for authority must set it.
    if recursive and (message.answer or negative or message.flags & dns.flags.RA):
        return "answer"
    return "lame"


def _referral(message: dns.message.Message):
    """The NS RRset of a downward referral: at or above the question, in the authority."""
    qname = message.question[0].name
    for rrset in message.authority:
        if rrset.rdtype == dns.rdatatype.NS and qname.is_subdomain(rrset.name):
            return rrset
    return None


def _soa(message: dns.message.Message):
    return next((rrset for rrset in message.authority if rrset.rdtype == dns.rdatatype.SOA),
                None)


def _negative_ttl(message: dns.message.Message) -> int | None:
    soa = _soa(message)
    return None if soa is None else min(soa.ttl, soa[0].minimum)  # RFC 2308 §5


def _answer_maker(name: str, rdtype: str, chain: list[dns.name.Name],
                  server: str) -> Callable[..., Answer]:
    def make(status: Status, **fields) -> Answer:
        return Answer(name, rdtype, status, cname_chain=[_text(n) for n in chain],
                      server=server, **fields)
    return make


def _smaller(a: int | None, b: int) -> int:
    return b if a is None else min(a, b)


def _text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True)


def _parallel(work: Callable[[T], R], items: Iterable[T]) -> list[R]:
    items = list(items)
    if len(items) < 2:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(len(items), MAX_PARALLEL)) as pool:
        return list(pool.map(work, items))


def _system_nameservers() -> list[Nameserver]:
    """The servers in /etc/resolv.conf; raises when there is none (set DNS_NAMESERVERS)."""
    resolver = dns.resolver.Resolver()
    return [Nameserver(str(host), resolver.port) for host in resolver.nameservers]
