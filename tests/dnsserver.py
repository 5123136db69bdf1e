"""A small authoritative DNS server for tests: real UDP and TCP sockets on loopback.

Zones come as zone-file text or dicts and can be edited while the server runs, so a test can
"publish" a record and then check it. Answers follow RFC 1034 §4.3.2 for an authoritative-only
server: AA on answers, NXDOMAIN vs NODATA with the SOA for negative caching (RFC 2308),
CNAMEs chased inside their own zone, referrals (with glue) for delegated sub-zones, and TC on
UDP answers that do not fit the client's size (512 bytes without EDNS, or `max_udp_size`),
so clients exercise their TCP fallback. `fail()` makes names (or everything) misbehave:
SERVFAIL, REFUSED, no answer at all, or lame (a non-authoritative empty answer).
`set_beside_cname()` plants data at a name that also has a CNAME, which real DNS hosts
sometimes serve although RFC 2181 §10.1 forbids it.

Several servers can run at once, e.g. one zone's nameservers on 127.0.0.1, 127.0.0.2 and
127.0.0.3 (the whole 127/8 is loopback on Linux) with the same port.
"""

from __future__ import annotations

import socketserver
import struct
import threading
from collections.abc import Iterator, Mapping

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset
import dns.zone
import pytest

IN = dns.rdataclass.IN
FAILURE_MODES = ("servfail", "refused", "drop", "lame")
MAX_CHASE = 8
OUR_PAYLOAD = 1232

# A zone's records as a dict: {"@": {"MX": "10 mx"}, "www": {"A": ["192.0.2.1", "192.0.2.2"]}}.
ZoneRecords = Mapping[str, Mapping[str, object]]


class DnsTestServer:
    """One authoritative server; use as a context manager or call start()/stop()."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._host, self._port = host, port
        self._lock = threading.RLock()
        self._zones: dict[dns.name.Name, dns.zone.Zone] = {}
        self._failures: dict[dns.name.Name | None, str] = {}
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []
        # Data served at a name beside its CNAME: (name, rdtype) -> rdataset.
        self._beside_cname: dict[tuple[dns.name.Name, int], dns.rdataset.Rdataset] = {}
        self.queries: list[tuple[str, str, str]] = []  # (name, type, "udp" or "tcp") as they came
        # Truncate UDP answers above this (TC set) even when the client offers more with EDNS;
        # 512 is the floor, as in dnspython's rendering.
        self.max_udp_size: int | None = None

    @property
    def address(self) -> tuple[str, int]:
        return (self._host, self._port)

    @property
    def nameserver(self) -> str:
        """This server in the `DNS_NAMESERVERS` format."""
        return f"{self._host}:{self._port}"

    # -- data ------------------------------------------------------------------------------------

    def add_zone(self, origin: str, records: str | ZoneRecords = "", ttl: int = 300) -> None:
        """Serve a zone, replacing any zone of that name.

        Zone-file rules apply to text and dicts alike: names are relative to the origin unless
        they end in a dot, and "@" is the apex. A missing SOA or NS is made up.
        """
        apex = dns.name.from_text(origin)
        if isinstance(records, str):
            text = f"$TTL {ttl}\n{records}"
            zone = dns.zone.from_text(text, apex, relativize=False, check_origin=False)
        else:
            zone = dns.zone.Zone(apex, relativize=False)
            for owner, rdatasets in records.items():
                name = dns.name.from_text(owner, apex) if owner != "@" else apex
                for rdtype, values in rdatasets.items():
                    self._put(zone, name, rdtype, values, ttl, origin=apex)
        if zone.get_rdataset(apex, "SOA") is None:
            self._put(zone, apex, "SOA", f"ns1 hostmaster 1 3600 600 86400 {ttl}", ttl, origin=apex)
        if zone.get_rdataset(apex, "NS") is None:
            self._put(zone, apex, "NS", "ns1", ttl, origin=apex)
        with self._lock:
            self._zones[apex] = zone

    def set_record(self, name: str, rdtype: str, values: object, ttl: int = 300) -> None:
        """Create or replace one RRset; names here and inside values are absolute.

        `values` is one value or a list of them. A TXT value is a plain string (one logical
        value, split into 255-byte strings as DNS hosts do), a tuple of the exact
        character-strings, or zone-file presentation starting with a quote (`"v=1; " "p=.."`).
        """
        owner = dns.name.from_text(name)
        with self._lock:
            self._put(self._zone_of(owner), owner, rdtype, values, ttl, origin=dns.name.root)

    def remove(self, name: str, rdtype: str | None = None) -> None:
        """Delete one RRset, or the whole name when no type is given."""
        owner = dns.name.from_text(name)
        with self._lock:
            zone = self._zone_of(owner)
            if rdtype is None:
                zone.delete_node(owner)
            else:
                zone.delete_rdataset(owner, rdtype)

    def set_beside_cname(self, name: str, rdtype: str, values: object, ttl: int = 300) -> None:
        """Serve an RRset at `name` although it has a CNAME (a zone holds one or the other):
        a query for that type gets it directly, as from a DNS host that lets both in."""
        owner = dns.name.from_text(name)
        scratch = dns.zone.Zone(dns.name.root, relativize=False)
        self._put(scratch, owner, rdtype, values, ttl, origin=dns.name.root)
        with self._lock:
            self._beside_cname[(owner, dns.rdatatype.from_text(rdtype))] = \
                scratch.get_rdataset(owner, rdtype)

    def fail(self, name: str | None, mode: str | None) -> None:
        """Make a name and everything below it (or every query, for None) misbehave.

        "servfail" / "refused" answer with that rcode, "drop" never answers (the client times
        out), "lame" answers NOERROR without data and without AA. A mode of None heals.
        """
        if mode is not None and mode not in FAILURE_MODES:
            raise ValueError(f"failure mode must be one of {FAILURE_MODES}, got {mode!r}")
        key = dns.name.from_text(name) if name is not None else None
        with self._lock:
            if mode is None:
                self._failures.pop(key, None)
            else:
                self._failures[key] = mode

    def _zone_of(self, name: dns.name.Name) -> dns.zone.Zone:
        zone = self._find_zone(name)
        if zone is None:
            raise KeyError(f"{name} is in no zone this server serves")
        return zone

    @staticmethod
    def _put(zone, name, rdtype: str, values: object, ttl: int, origin: dns.name.Name) -> None:
        rdtype = dns.rdatatype.from_text(rdtype)
        if isinstance(values, str) or (rdtype == dns.rdatatype.TXT and isinstance(values, tuple)):
            values = [values]
        rdatas = [_rdata(rdtype, value, origin) for value in values]
        zone.replace_rdataset(name, dns.rrset.from_rdata_list(name, ttl, rdatas))

    # -- answering -------------------------------------------------------------------------------

    def handle(self, wire: bytes, transport: str) -> bytes | None:
        """The reply to one query in wire format, or None to stay silent."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        response = dns.message.make_response(query, our_payload=OUR_PAYLOAD)
        if query.opcode() != dns.opcode.QUERY or len(query.question) != 1:
            response.set_rcode(dns.rcode.NOTIMP if query.question else dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        with self._lock:
            self.queries.append((question.name.to_text(omit_final_dot=True),
                                 dns.rdatatype.to_text(question.rdtype), transport))
            mode = self._failure_for(question.name)
            if mode == "drop":
                return None
            if mode in ("servfail", "refused"):
                response.set_rcode(dns.rcode.from_text(mode))
            elif mode != "lame":
                self._answer(question.name, question.rdtype, response)
        if transport == "tcp":
            return response.to_wire(max_size=65535)
        limit = 512 if query.edns < 0 else max(512, query.payload)
        if self.max_udp_size is not None:
            limit = min(limit, self.max_udp_size)
        return response.to_wire(max_size=limit, prefer_truncation=True)

    def _failure_for(self, name: dns.name.Name) -> str | None:
        for candidate in _self_and_ancestors(name):
            if candidate in self._failures:
                return self._failures[candidate]
        return self._failures.get(None)

    def _find_zone(self, name: dns.name.Name) -> dns.zone.Zone | None:
        for candidate in _self_and_ancestors(name):
            if candidate in self._zones:
                return self._zones[candidate]
        return None

    def _answer(self, qname: dns.name.Name, qtype, response: dns.message.Message) -> None:
        zone = self._find_zone(qname)
        if zone is None:
            response.set_rcode(dns.rcode.REFUSED)
            return
        cut = _delegation(zone, qname)
        if cut is not None and not (cut == qname and qtype == dns.rdatatype.DS):
            _refer(zone, cut, response)
            return
        response.flags |= dns.flags.AA
        name, seen = qname, {qname}
        while True:
            node = zone.get_node(name)
            if node is None:
                if not any(other.is_subdomain(name) for other in zone.nodes):
                    response.set_rcode(dns.rcode.NXDOMAIN)  # RFC 6604: the last name's rcode
                _add_soa(zone, response)
                return
            rdataset = node.get_rdataset(IN, qtype) or self._beside_cname.get((name, qtype))
            if rdataset is not None:
                response.answer.append(_rrset(name, rdataset))
                return
            cname = node.get_rdataset(IN, dns.rdatatype.CNAME)
            if cname is None or qtype == dns.rdatatype.CNAME:
                _add_soa(zone, response)
                return
            response.answer.append(_rrset(name, cname))
            name = cname[0].target
            # Chase only inside this zone and never into a delegation, as BIND does.
            if (name in seen or len(seen) > MAX_CHASE or not name.is_subdomain(zone.origin)
                    or _delegation(zone, name) is not None):
                return
            seen.add(name)

    # -- sockets ---------------------------------------------------------------------------------

    def start(self) -> DnsTestServer:
        """Bind UDP and TCP on the same port (a free one when port is 0) and serve."""
        for _ in range(20):
            udp = _UdpServer((self._host, self._port), _UdpHandler)
            try:
                tcp = _TcpServer((self._host, udp.server_address[1]), _TcpHandler)
            except OSError:
                udp.server_close()
                if self._port:
                    raise
                continue
            break
        else:
            raise OSError(f"no free port on {self._host} for both UDP and TCP")
        self._port = udp.server_address[1]
        for server in (udp, tcp):
            server.dns = self
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                                      name=f"dns-test-{self.nameserver}", daemon=True)
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join()
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> DnsTestServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


class _UdpServer(socketserver.UDPServer):
    dns: DnsTestServer


class _TcpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    dns: DnsTestServer


class _UdpHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        wire, sock = self.request
        reply = self.server.dns.handle(wire, "udp")
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _TcpHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        # RFC 7766: two-byte length prefix, several queries per connection.
        while len(prefix := self.rfile.read(2)) == 2:
            wire = self.rfile.read(struct.unpack("!H", prefix)[0])
            reply = self.server.dns.handle(wire, "tcp")
            if reply is not None:  # a dropped query leaves the client waiting, as on the wire
                self.wfile.write(struct.pack("!H", len(reply)) + reply)


def _rdata(rdtype, value: object, origin: dns.name.Name) -> dns.rdata.Rdata:
    if rdtype == dns.rdatatype.TXT and not (isinstance(value, str) and value.startswith('"')):
        strings = value if isinstance(value, tuple) else _split(str(value).encode())
        return dns.rdtypes.ANY.TXT.TXT(IN, rdtype, strings)
    return dns.rdata.from_text(IN, rdtype, str(value), origin=origin, relativize=False)


def _split(value: bytes) -> list[bytes]:
    return [value[i:i + 255] for i in range(0, len(value), 255)] or [b""]


def _self_and_ancestors(name: dns.name.Name) -> Iterator[dns.name.Name]:
    while True:
        yield name
        if name == dns.name.root:
            return
        name = name.parent()


def _delegation(zone: dns.zone.Zone, name: dns.name.Name) -> dns.name.Name | None:
    """The topmost zone cut between the apex (exclusive) and name (inclusive), if any."""
    for cut in reversed(list(_self_and_ancestors(name))):
        if cut != zone.origin and cut.is_subdomain(zone.origin) and \
                zone.get_rdataset(cut, "NS") is not None:
            return cut
    return None


def _refer(zone: dns.zone.Zone, cut: dns.name.Name, response: dns.message.Message) -> None:
    ns = zone.get_rdataset(cut, "NS")
    response.authority.append(_rrset(cut, ns))
    for target in (rdata.target for rdata in ns):
        for rdtype in ("A", "AAAA"):
            glue = zone.get_rdataset(target, rdtype) if target.is_subdomain(zone.origin) else None
            if glue is not None:
                response.additional.append(_rrset(target, glue))


def _add_soa(zone: dns.zone.Zone, response: dns.message.Message) -> None:
    soa = zone.get_rdataset(zone.origin, "SOA")
    rrset = _rrset(zone.origin, soa)
    rrset.ttl = min(soa.ttl, soa[0].minimum)  # RFC 2308 §3
    response.authority.append(rrset)


def _rrset(name: dns.name.Name, rdataset: dns.rdataset.Rdataset) -> dns.rrset.RRset:
    return dns.rrset.from_rdata_list(name, rdataset.ttl, list(rdataset))


@pytest.fixture
def dns_server_factory():
    """Start servers on demand: `dns_server_factory(host="127.0.0.2", port=other.address[1])`."""
    started: list[DnsTestServer] = []

    def start(host: str = "127.0.0.1", port: int = 0) -> DnsTestServer:
        server = DnsTestServer(host, port).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def dns_server(dns_server_factory) -> DnsTestServer:
    """One running server on 127.0.0.1 and a free port, with no zones yet."""
    return dns_server_factory()
