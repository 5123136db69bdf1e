"""A fast authoritative DNS server for benchmarks, in a process of its own.

It serves the zones of a tests/dnsserver.py `DnsTestServer` and gives that server's answers,
but fast: plain questions (a name with or without the asked type, in a zone without CNAMEs or
delegations) are answered from reply sections prepared once when the zones are loaded, so a
reply is a dictionary look-up and a few byte joins. Everything else (CNAMEs, referrals,
truncation, DNSSEC-OK queries, odd messages) is answered by the test server itself and that
reply remembered by the question's bytes; zones do not change during a run, so a remembered
reply is exactly what the test server would send again. `self_check` compares the two on
sample questions, so the fast path cannot drift from the test server's rules unnoticed.

UDP is a plain recvfrom/sendto loop; TCP (after truncation) uses the test server's handler.
"""

from __future__ import annotations

import multiprocessing
import socket
import socketserver
import struct
import threading
from collections.abc import Callable, Iterable

import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype

from tests.dnsserver import DnsTestServer, _TcpHandler

ZoneLoader = Callable[[DnsTestServer], None]
IN = dns.rdataclass.IN
QR, AA, RD = 0x8000, 0x0400, 0x0100
OPCODE_MASK = 0x7800
NXDOMAIN = 3
OPT = 41
OUR_OPT = b"\x00" + struct.pack("!HHIH", OPT, 1232, 0, 0)  # EDNS0, payload 1232, no options


class FastAnswers:
    """`handle(wire, transport)` like DnsTestServer.handle, from prepared reply sections."""

    def __init__(self, zones: DnsTestServer):
        self._zones = zones
        self._apexes: dict[bytes, bytes] = {}  # zone apex (lower-case wire) -> its SOA record
        self._answers: dict[tuple[bytes, int], tuple[int, bytes]] = {}
        self._existing: set[bytes] = set()  # names with data, and empty non-terminals
        self._remembered: dict[tuple[str, bytes], bytes | None] = {}
        self.served = {"udp": 0, "tcp": 0, "fast": 0}
        # Failure modes, data beside CNAMEs and a lowered UDP size: the test server answers.
        special = (zones._failures or getattr(zones, "_beside_cname", None)
                   or getattr(zones, "max_udp_size", None) is not None)
        for apex, zone in () if special else zones._zones.items():
            self._prepare(apex, zone)

    def _prepare(self, apex: dns.name.Name, zone) -> None:
        if any(node.get_rdataset(IN, dns.rdatatype.CNAME) is not None
               or (name != apex and node.get_rdataset(IN, dns.rdatatype.NS) is not None)
               for name, node in zone.nodes.items()):
            return  # CNAMEs and delegations: the test server answers for the whole zone
        soa = zone.get_rdataset(apex, "SOA")
        apex_wire = apex.to_wire().lower()
        soa_wire = soa[0].to_wire()
        self._apexes[apex_wire] = apex_wire + struct.pack(
            "!HHIH", dns.rdatatype.SOA, IN, min(soa.ttl, soa[0].minimum), len(soa_wire)) \
            + soa_wire
        for name, node in zone.nodes.items():
            name_wire = name.to_wire().lower()
            for ancestor in _self_and_ancestors(name, apex):
                self._existing.add(ancestor.to_wire().lower())
            for rdataset in node.rdatasets:
                records = []
                for rdata in rdataset:
                    data = rdata.to_wire()
                    records.append(b"\xc0\x0c" + struct.pack(
                        "!HHIH", rdataset.rdtype, IN, rdataset.ttl, len(data)) + data)
                self._answers[(name_wire, rdataset.rdtype)] = (len(records), b"".join(records))

    def handle(self, wire: bytes, transport: str) -> bytes | None:
        self.served[transport] += 1
        if transport == "udp":
            reply = self._fast(wire)
            if reply is not None:
                self.served["fast"] += 1
                return reply
        key = (transport, wire[2:])
        if key not in self._remembered:
            reply = self._zones.handle(wire, transport)
            self._remembered[key] = None if reply is None else reply[2:]
        rest = self._remembered[key]
        return None if rest is None else wire[:2] + rest

    def _fast(self, wire: bytes) -> bytes | None:
        """The reply to a plain question, or None when the test server must answer it."""
        if len(wire) < 17:
            return None
        flags, qdcount, ancount, nscount, arcount = struct.unpack_from("!HHHHH", wire, 2)
        if flags & (QR | OPCODE_MASK) or qdcount != 1 or ancount or nscount or arcount > 1:
            return None
        position, labels = 12, []
        while (length := wire[position]) != 0:
            if length > 63:
                return None
            labels.append(position)
            position += length + 1
            if position >= len(wire):
                return None
        qname_end = position + 1
        qname = wire[12:qname_end].lower()
        qtype, qclass = struct.unpack_from("!HH", wire, qname_end)
        question_end = qname_end + 4
        edns, payload = False, 512
        if arcount:
            # Only a bare OPT (root owner, no options, DO and version 0) takes the fast path.
            if len(wire) != question_end + 11 or wire[question_end] != 0:
                return None
            otype, payload, extended, rdlength = struct.unpack_from("!HHIH", wire,
                                                                    question_end + 1)
            if otype != OPT or extended or rdlength:
                return None
            edns = True
        elif len(wire) != question_end:
            return None
        if qclass != IN:
            return None
        soa = None
        for start in labels:
            soa = self._apexes.get(qname[start - 12:])
            if soa is not None:
                break
        if soa is None:
            return None
        header_flags = QR | AA | (flags & RD)
        found = self._answers.get((qname, qtype))
        if found is not None:
            count, answer = found
            counts = (1, count, 0, int(edns))
            body = answer
        else:
            if qname not in self._existing:
                header_flags |= NXDOMAIN
            counts = (1, 0, 1, int(edns))
            body = soa
        reply = b"".join((wire[:2], struct.pack("!HHHHH", header_flags, *counts),
                          wire[12:question_end], body, OUR_OPT if edns else b""))
        limit = max(512, payload) if edns else 512
        return reply if len(reply) <= limit else None

    def self_check(self, questions: Iterable[tuple[str, str, bool]]) -> int:
        """Compare the fast replies with the test server's; returns how many were fast."""
        fast = 0
        for name, rdtype, edns in questions:
            query = dns.message.make_query(name, rdtype, use_edns=0 if edns else False,
                                           payload=1232)
            wire = query.to_wire()
            mine = self._fast(wire)
            if mine is None:
                continue
            theirs = self._zones.handle(wire, "udp")
            # Message equality: same ID, flags, rcode and sections, each RRset compared as a
            # set (the test server shuffles records, as dnspython does by default).
            if dns.message.from_wire(mine) != dns.message.from_wire(theirs):
                raise AssertionError(f"fast reply differs for {name} {rdtype}:\n"
                                     f"{dns.message.from_wire(mine)}\n---\n"
                                     f"{dns.message.from_wire(theirs)}")
            fast += 1
        return fast


def _self_and_ancestors(name: dns.name.Name, apex: dns.name.Name):
    while True:
        yield name
        if name == apex:
            return
        name = name.parent()


class _Tcp(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class _NoLog(list):
    """The test server's query log, switched off: the benchmark counts queries itself."""

    def append(self, item) -> None:
        pass


def _serve(host: str, port: int, load: ZoneLoader, check: list, ready, control) -> None:
    zones = DnsTestServer(host, port)
    load(zones)
    zones.queries = _NoLog()
    answers = FastAnswers(zones)
    checked = answers.self_check(check)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    udp.bind((host, port))
    tcp = _Tcp((host, udp.getsockname()[1]), _TcpHandler)
    tcp.dns = answers
    threading.Thread(target=tcp.serve_forever, daemon=True).start()

    def report() -> None:
        while control.recv() == "served":
            control.send(dict(answers.served))

    threading.Thread(target=report, daemon=True).start()
    ready.send((udp.getsockname()[1], checked))
    receive, send, handle = udp.recvfrom, udp.sendto, answers.handle
    while True:
        wire, client = receive(4096)
        reply = handle(wire, "udp")
        if reply is not None:
            send(reply, client)


class AuthorityProcess:
    """The server in a forked process, with the zones `load` puts into a DnsTestServer.
    `check` lists (name, type, edns) questions answered both ways before serving."""

    def __init__(self, load: ZoneLoader, host: str = "127.0.0.1", port: int = 0,
                 check: Iterable[tuple[str, str, bool]] = ()):
        self.host = host
        ready_here, ready_there = multiprocessing.Pipe()
        self._control, control_there = multiprocessing.Pipe()
        context = multiprocessing.get_context("fork")
        self._process = context.Process(
            target=_serve, args=(host, port, load, list(check), ready_there, control_there),
            name="dns-authority", daemon=True)
        self._process.start()
        if not ready_here.poll(600):
            self.stop()
            raise RuntimeError("the DNS server did not start within 600 s")
        self.port, self.checked = ready_here.recv()

    @property
    def pid(self) -> int:
        return self._process.pid

    def served(self) -> dict[str, int]:
        """Queries answered so far: by transport, and how many UDP ones took the fast path."""
        self._control.send("served")
        return self._control.recv()

    def stop(self) -> None:
        self._process.terminate()
        self._process.join(10)
