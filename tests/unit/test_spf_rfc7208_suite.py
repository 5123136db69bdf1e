"""check_host() against the RFC 7208 test suite (openspf.org, as published with pyspf).

Every case runs as its own test; a case we deliberately decide differently from the suite is
in UNSUPPORTED with the reason, and is skipped. See tests/data/spf/README.md for the source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest
import yaml

from app.core.spf import DnsTemporaryError, check_host, sender_identity

SUITE = Path(__file__).parents[1] / "data" / "spf" / "rfc7208-tests.yml"
MAX_CNAME_CHAIN = 8

UNSUPPORTED = {
    "v-macro-ip6": (
        "the suite expects %{i} of an IPv6 client in upper-case nibbles (pyspf's output); we "
        "write lower case, as RFC 7208 §7.4's own example does. DNS names are "
        "case-insensitive, so only this explanation text differs."
    ),
}


class ZoneLookup:
    """An SpfLookup over the suite's `zonedata`, read the way pyspf's test driver reads it.

    Obsolete SPF-type (99) records are served as TXT where a name has no TXT entry; `TXT: NONE`
    means "no TXT records"; a bare TIMEOUT entry makes queries for types the name lacks time
    out; CNAMEs are followed, and a CNAME loop is a server failure.
    """

    def __init__(self, zonedata: Mapping[str, Sequence]) -> None:
        self.records: dict[str, dict[str, list]] = {}
        self.times_out: set[str] = set()
        for name, entries in zonedata.items():
            by_type: dict[str, list] = {}
            for entry in entries:
                if entry == "TIMEOUT":
                    self.times_out.add(name.lower())
                    continue
                (rtype, value), = entry.items()
                values = by_type.setdefault(rtype, [])
                if value != "NONE":
                    values.append(value)
            if "TXT" not in by_type and "SPF" in by_type:
                by_type["TXT"] = by_type["SPF"]
            by_type.pop("SPF", None)
            self.records[name.lower()] = by_type

    def txt(self, name: str) -> list[str]:
        return ["".join([value] if isinstance(value, str) else value)
                for value in self._answer(name, "TXT")]

    def a(self, name: str) -> list[str]:
        return self._answer(name, "A")

    def aaaa(self, name: str) -> list[str]:
        return self._answer(name, "AAAA")

    def mx(self, name: str) -> list[str]:
        return [exchange for _, exchange in self._answer(name, "MX")]

    def ptr(self, ip: IPv4Address | IPv6Address) -> list[str]:
        return self._answer(ip.reverse_pointer, "PTR")

    def _answer(self, name: str, rtype: str) -> list:
        name = name.lower().removesuffix(".")
        for _ in range(MAX_CNAME_CHAIN):
            by_type = self.records.get(name, {})
            if "TIMEOUT" in by_type.get(rtype, ()) or (
                    name in self.times_out and not by_type.get(rtype)):
                raise DnsTemporaryError(f"{rtype} query for {name} timed out")
            if rtype in by_type or "CNAME" not in by_type:
                return list(by_type.get(rtype, []))
            name = by_type["CNAME"][0].lower().removesuffix(".")
        raise DnsTemporaryError(f"CNAME loop at {name}", code="DNS_SERVFAIL")


def _cases():
    with SUITE.open(encoding="utf-8") as suite:
        scenarios = list(yaml.safe_load_all(suite))
    cases = []
    for scenario in scenarios:
        zone = ZoneLookup(scenario["zonedata"])
        for test_id, case in scenario["tests"].items():
            reason = UNSUPPORTED.get(test_id)
            marks = [pytest.mark.skip(reason=reason)] if reason else []
            cases.append(pytest.param(zone, case, id=test_id, marks=marks))
    return cases


CASES = _cases()


def test_every_case_has_its_own_id():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
    assert set(UNSUPPORTED) <= set(ids)


@pytest.mark.parametrize(("zone", "case"), CASES)
def test_rfc7208_suite(zone, case):
    sender, domain = sender_identity(case["mailfrom"], case["helo"])

    outcome = check_host(case["host"], domain, sender, case["helo"], zone)

    expected = case["result"]
    assert outcome.result in ([expected] if isinstance(expected, str) else expected), outcome
    if "explanation" in case:
        # The suite's driver sets the receiver's default explanation to "DEFAULT".
        assert (outcome.explanation or "DEFAULT") == case["explanation"]
