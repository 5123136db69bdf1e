"""Tracking host names and their DNS: what a user may add, and whether the CNAME reaches us.

Pure: no Flask, database or network. The tracking jobs ask DNS through the resolver adapter
and hand the answers here, as `app.core.verification.Observation`s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.core.findings import ERROR, WARNING, Finding, finding
from app.core.names import DomainNameError, display_name, is_subdomain_of, normalise_domain
from app.core.records import DnsRecord, Purpose
from app.core.verification import RETRY_FIX, Observation

CNAME_TTL = 3600
# Codes of findings about a tracking host that the finding registry does not hold (yet).
DOMAIN_NOT_VERIFIED = "TRACKING_DOMAIN_NOT_VERIFIED"
CNAME_WRONG = "TRACKING_CNAME_WRONG"


class TrackingHostNameError(ValueError):
    """A host name the user typed that we cannot accept; `message` says what to type instead."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def tracking_hostname(raw: str, domain: str) -> str:
    """The full host name for what was typed under `domain`: a label (`track`) or a full name.

    The host must lie strictly below the domain: the apex cannot be a CNAME (RFC 1034 §3.6.2),
    and a name under another domain is not the workspace's to claim through this one.
    """
    text = (raw or "").strip().removesuffix(".")
    example = f"track.{display_name(domain)}"
    if not text:
        raise TrackingHostNameError("tracking_host_required",
                                    f"Enter a host name: a label such as track (for {example}), "
                                    "or the full name.")
    if "*" in text:
        raise TrackingHostNameError("tracking_host_wildcard",
                                    f"Wildcards cannot be tracking hosts; enter one name, such as "
                                    f"{example}.")
    try:
        candidate = normalise_domain(text if "." in text else f"{text}.{domain}")
    except DomainNameError as error:
        raise TrackingHostNameError(f"tracking_host_{error.code}", error.message) from None
    if candidate == domain:
        raise TrackingHostNameError(
            "tracking_host_is_apex",
            f"{display_name(domain)} itself cannot be a tracking host: a domain's own name cannot "
            f"be a CNAME. Use a name under it, such as {example}.")
    if not is_subdomain_of(candidate, domain):
        raise TrackingHostNameError(
            "tracking_host_outside_domain",
            f"{display_name(candidate)} is not under {display_name(domain)}. Enter a label such "
            f"as track, or a full name ending in .{display_name(domain)}.")
    return candidate


def cname_record(hostname: str, platform_host: str) -> DnsRecord:
    """The record a customer publishes so `hostname` reaches our tracking servers."""
    target = platform_host.removesuffix(".")
    return DnsRecord(Purpose.TRACKING, "CNAME", hostname, target, CNAME_TTL,
                     f"Click and open tracking links use {hostname}; the alias sends them to "
                     "PenguinMails, which answers them over HTTPS with a certificate we obtain "
                     "and renew for you.", (f"{target}.",))


def judge_cname(hostname: str, platform_host: str, observation: Observation) -> Finding | None:
    """None when `hostname` leads to `platform_host` (directly or through a CNAME chain);
    otherwise the finding that says what is wrong and what to publish."""
    platform = _comparable(platform_host)
    chain = [_comparable(name) for name in observation.cname_chain]
    if platform in chain:
        return None
    publish = f"Publish a CNAME record at {hostname} with the value: {platform}"
    if observation.failed and not chain:
        return dns_failure(hostname, "CNAME", observation)
    if chain:
        via = f" (which leads on to {chain[-1]})" if len(chain) > 1 else ""
        return finding(CNAME_WRONG, hostname, "CNAME",
                       f"{hostname} is an alias of {chain[0]}{via} instead of {platform}, so its "
                       "links would not reach PenguinMails and no certificate can be issued.",
                       f"Change the CNAME target to: {platform}", severity=ERROR)
    if observation.status == "nxdomain":
        return finding(CNAME_WRONG, hostname, "CNAME", f"There is no record at {hostname} yet.",
                       publish, severity=ERROR)
    return finding(CNAME_WRONG, hostname, "CNAME",
                   f"{hostname} exists but is not an alias (it has no CNAME record). If your DNS "
                   "host proxies or flattens CNAMEs (such as Cloudflare's orange cloud), switch "
                   "that off for this name.",
                   f"{publish}, and remove the other records at that name.", severity=ERROR)


def dns_failure(hostname: str, record_type: str, observation: Observation) -> Finding:
    """A lookup that failed says nothing about what is published: we retry, the user waits."""
    detail = f" ({observation.detail})" if observation.detail else ""
    return Finding(code=f"DNS_{observation.status.upper()}", severity=WARNING,
                   record_host=hostname, record_type=record_type,
                   message=f"We could not look up {hostname}: the DNS query ended in "
                           f"{observation.status}{detail}.", fix=RETRY_FIX)


def is_dns_failure(item: Finding) -> bool:
    return item.code.startswith("DNS_")


def domain_not_verified(domain: str) -> Finding:
    return Finding(code=DOMAIN_NOT_VERIFIED, severity=WARNING, record_host=domain,
                   record_type="", message=f"{display_name(domain)} is not verified yet. We "
                   "obtain certificates only for hosts under verified domains, so that only "
                   "the domain's owner can have its names served.",
                   fix=f"Publish the DNS records of {display_name(domain)} and run its check.")


def retry_delay(attempts: int, intervals: Sequence[int]) -> timedelta:
    """The back-off after `attempts` consecutive failures: the configured steps, then the last."""
    if not intervals:
        raise ValueError("no retry intervals configured")
    return timedelta(seconds=intervals[min(max(attempts, 1), len(intervals)) - 1])


@dataclass(frozen=True)
class RenewalPolicy:
    """When a certificate is renewed, and when failing renewals become an alert."""

    renew_days: int
    alert_days: int

    def due(self, not_after: datetime | None, now: datetime) -> bool:
        """A host without a certificate, or with one ending within `renew_days`, needs one."""
        return not_after is None or not_after - now <= timedelta(days=self.renew_days)

    def status_after_failure(self, not_after: datetime | None, now: datetime) -> str:
        """What a failed order leaves: the old certificate keeps serving until it nears its
        end ("expiring", which alerts) or is over ("failed")."""
        if not_after is None or not_after <= now:
            return "failed"
        if not_after - now <= timedelta(days=self.alert_days):
            return "expiring"
        return "active"


def _comparable(name: str) -> str:
    return name.strip().lower().removesuffix(".")
