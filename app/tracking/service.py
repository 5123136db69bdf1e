"""Tracking hosts and tracked links: the use cases behind the portal, the API and the endpoints.

Hosts are added and removed by workspace members; the jobs in `tasks.py` check their CNAME
and obtain their certificates. Which hosts we serve is answered from a short-lived allow-list
in Redis, so click, open and "ask" requests do not query the hosts table each time.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app, url_for
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from app.adapters.keystore import KeyStoreError
from app.audit import service as audit
from app.core.clock import utcnow
from app.core.names import DomainNameError, normalise_domain
from app.core.records import DnsRecord
from app.core.tracking_hosts import (TrackingHostNameError, cname_record, retry_delay,
                                     tracking_hostname)
from app.core.tracking_tokens import TrackingTokens
from app.domains.models import Domain
from app.errors import Conflict, ValidationFailed
from app.extensions import db, keystore, redis_connection
from app.jobs.queues import enqueue_after_commit
from app.reputation.models import EventType, ReputationEvent
from app.tracking.models import HostStatus, TrackedLink, TrackedMessage, TrackingHost
from app.uow import after_commit
from app.workspaces.actor import Actor

MAX_HOSTS_PER_DOMAIN = 20
MAX_URLS_PER_MESSAGE = 500
MAX_URL_LENGTH = 2048
MAX_MESSAGE_ID_LENGTH = 255
MAX_ACCOUNT_LENGTH = 320
# A valid certificate of ours: links go to these hosts over HTTPS, with HSTS.
SERVING = (HostStatus.ACTIVE, HostStatus.EXPIRING)
# Hosts an on-demand-TLS proxy may get certificates for: their CNAME is known to reach us.
TLS_ALLOWED = (HostStatus.ISSUING, HostStatus.ACTIVE, HostStatus.EXPIRING)
ALLOW_LIST_KEY = "pm:tracking:hosts"
ALLOW_LIST_TTL_SECONDS = 60


def platform_host() -> str:
    return current_app.config["PLATFORM_TRACKING_HOST"].strip().lower().removesuffix(".")


def host_snapshot(host: TrackingHost) -> dict:
    return {"hostname": host.hostname, "domain_id": host.domain_id, "status": host.status.value}


def expected_record(host: TrackingHost) -> DnsRecord:
    return cname_record(host.hostname, platform_host())


# --- hosts -----------------------------------------------------------------------------------

def list_hosts(actor: Actor, domain: Domain | None = None) -> list[TrackingHost]:
    query = select(TrackingHost).where(TrackingHost.workspace_id == actor.workspace.id)
    if domain is not None:
        query = query.where(TrackingHost.domain_id == domain.id)
    return list(db.session.scalars(query.order_by(TrackingHost.hostname)))


def add_host(actor: Actor, domain: Domain, raw_name: str) -> TrackingHost:
    """Claim a host under `domain` and start checking its CNAME."""
    actor.require_write()
    try:
        hostname = tracking_hostname(raw_name, domain.fqdn)
    except TrackingHostNameError as error:
        raise ValidationFailed(error.message, code=error.code,
                               fields={"hostname": error.message}) from None
    _refuse_taken(actor, hostname)
    count = db.session.scalar(select(func.count()).select_from(TrackingHost)
                              .where(TrackingHost.domain_id == domain.id))
    if count >= MAX_HOSTS_PER_DOMAIN:
        raise Conflict(f"{domain.fqdn} already has {MAX_HOSTS_PER_DOMAIN} tracking hosts; "
                       "remove one before adding another.", code="tracking_host_limit")
    first_retry = retry_delay(1, current_app.config["ACME_RETRY_INTERVALS"])
    host = TrackingHost(workspace_id=actor.workspace.id, domain_id=domain.id, hostname=hostname,
                        status=HostStatus.PENDING, findings=[], attempts=0,
                        # The hourly sweep's safety net, should the check below be lost.
                        next_attempt_at=utcnow() + first_retry)
    try:
        with db.session.begin_nested():
            db.session.add(host)
    except IntegrityError:
        # Claimed by someone else between our look and our insert.
        _refuse_taken(actor, hostname)
        raise
    audit.record(actor, "tracking_host.added", "tracking_host", host.id,
                 after=host_snapshot(host))
    _check_after_commit(host)
    invalidate_allow_list_after_commit()
    return host


def _refuse_taken(actor: Actor, hostname: str) -> None:
    holder = db.session.scalar(select(TrackingHost.workspace_id)
                               .where(TrackingHost.hostname == hostname))
    if holder == actor.workspace.id:
        raise Conflict(f"{hostname} is already a tracking host in this workspace.",
                       code="tracking_host_exists", fields={"hostname": "Already added."})
    if holder is not None:
        raise Conflict(f"{hostname} is already a tracking host of another PenguinMails "
                       "customer. If it is yours, ask them to remove it or contact support.",
                       code="tracking_host_taken", fields={"hostname": "Taken."})


def remove_host(actor: Actor, host: TrackingHost) -> None:
    """Stop serving a host; its certificate's private key is destroyed after the commit."""
    actor.require_write()
    before = host_snapshot(host)
    host_id, key_ref = host.id, host.private_key_ref
    db.session.delete(host)
    db.session.flush()
    audit.record(actor, "tracking_host.removed", "tracking_host", host_id, before=before)
    if key_ref:
        enqueue_after_commit("app.domains.tasks.destroy_private_keys", [key_ref], queue="keys")
    invalidate_allow_list_after_commit()


def request_check(actor: Actor, host: TrackingHost) -> str:
    """Check the CNAME now and, when it reaches us, (re)try the certificate; returns the job id
    the page polls."""
    actor.require_write()
    audit.record(actor, "tracking_host.check_requested", "tracking_host", host.id)
    return _check_after_commit(host)


def check_job_prefix(host_id: int) -> str:
    return f"tracking-check-{host_id}-"


def _check_after_commit(host: TrackingHost) -> str:
    job_id = check_job_prefix(host.id) + secrets.token_hex(6)
    enqueue_after_commit("app.tracking.tasks.check_host", host.id, queue="dns", job_id=job_id)
    return job_id


# --- which hosts we serve --------------------------------------------------------------------

@dataclass(frozen=True)
class ServedHost:
    hostname: str
    https: bool  # a valid certificate of ours: responses carry HSTS


def served_host(hostname: str) -> ServedHost | None:
    """The host a tracking request came to, if it is one we serve: a registered tracking host
    (whatever its status) or the platform's own."""
    hostname = hostname.strip().lower().removesuffix(".")
    if hostname == platform_host():
        return ServedHost(hostname, https=False)  # its TLS is the operator's, not ours
    status = _host_status(hostname)
    if status is None:
        return None
    return ServedHost(hostname, https=status in SERVING)


def tls_allowed(hostname: str) -> bool:
    """The "ask" answer: may a TLS terminator obtain or serve a certificate for `hostname`?"""
    hostname = hostname.strip().lower().removesuffix(".")
    return hostname == platform_host() or _host_status(hostname) in TLS_ALLOWED


def _host_status(hostname: str) -> HostStatus | None:
    try:
        return _cached_status(hostname)
    except RedisError:
        current_app.logger.warning("tracking allow-list: Redis unavailable, reading the database")
        return db.session.scalar(select(TrackingHost.status)
                                 .where(TrackingHost.hostname == hostname))


def _cached_status(hostname: str) -> HostStatus | None:
    redis = redis_connection()
    exists, value = (redis.pipeline().exists(ALLOW_LIST_KEY).hget(ALLOW_LIST_KEY, hostname)
                     .execute())
    if exists:
        return HostStatus(value.decode()) if value else None
    statuses = {name: status.value for name, status in
                db.session.execute(select(TrackingHost.hostname, TrackingHost.status))}
    # The empty field keeps an empty allow-list cached too.
    (redis.pipeline().delete(ALLOW_LIST_KEY)
     .hset(ALLOW_LIST_KEY, mapping={"": "", **statuses})
     .expire(ALLOW_LIST_KEY, ALLOW_LIST_TTL_SECONDS).execute())
    return HostStatus(statuses[hostname]) if hostname in statuses else None


def key_refs_of_domain(domain_id: int) -> list[str]:
    """Certificate keys of a domain's tracking hosts: destroyed with the domain, since the
    database cascade removes the hosts but cannot reach the key store."""
    return list(db.session.scalars(select(TrackingHost.private_key_ref).where(
        TrackingHost.domain_id == domain_id, TrackingHost.private_key_ref.is_not(None))))


def invalidate_allow_list_after_commit() -> None:
    """Hosts changed: forget the cached allow-list once the change is committed."""

    def forget() -> None:
        try:
            redis_connection().delete(ALLOW_LIST_KEY)
        except RedisError:
            current_app.logger.warning("tracking allow-list: could not invalidate; it expires "
                                       "within %s seconds", ALLOW_LIST_TTL_SECONDS)

    after_commit(forget)


@dataclass(frozen=True)
class CertificateBundle:
    hostname: str
    pem: bytes | None  # the chain, leaf first, then the private key: what a TLS terminator loads
    problem: str | None = None  # why there is no pem (the key store could not give the key)


def certificate_bundles() -> list[CertificateBundle]:
    """Every host serving HTTPS with a certificate that has not ended, key included: for
    `flask tracking export-certs` only, never for a page or the API."""
    hosts = db.session.scalars(select(TrackingHost).where(
        TrackingHost.status.in_(SERVING), TrackingHost.private_key_ref.is_not(None),
        TrackingHost.not_after > utcnow()).order_by(TrackingHost.hostname))
    store, bundles = keystore(), []
    for host in hosts:
        try:
            key = store.get(host.private_key_ref)
        except KeyStoreError as error:
            bundles.append(CertificateBundle(host.hostname, None, str(error)))
            continue
        bundles.append(CertificateBundle(
            host.hostname, host.certificate_chain.rstrip("\n").encode() + b"\n" + key))
    return bundles


# --- tracked links ---------------------------------------------------------------------------

@dataclass(frozen=True)
class MessageLinks:
    message: TrackedMessage
    created: bool
    open_url: str
    links: list[tuple[str, str]]  # (original URL, tracked URL), in the order asked


def _tokens() -> TrackingTokens:
    return TrackingTokens(current_app.config["SECRET_KEY"])


def register_message(actor: Actor, *, domain_name: str, message_id: str, urls: list[str],
                     account: str | None = None) -> MessageLinks:
    """Tracked URLs for a message's links and its open pixel, on the domain's active tracking
    host (the platform's while it has none). Asking again for the same message returns the
    same links, plus new ones for URLs it did not have yet."""
    actor.require_write()
    domain = _message_domain(actor, domain_name)
    message_id = _checked_message_id(message_id)
    account = _checked_account(account)
    wanted = _checked_urls(urls)
    message = db.session.scalar(select(TrackedMessage).where(
        TrackedMessage.domain_id == domain.id, TrackedMessage.message_id == message_id))
    created = message is None
    if created:
        message = TrackedMessage(workspace_id=actor.workspace.id, domain_id=domain.id,
                                 message_id=message_id, account=account,
                                 hostname=link_host(domain))
        try:
            with db.session.begin_nested():
                db.session.add(message)
        except IntegrityError:  # the MTA sent the same message twice at once
            created = False
            message = db.session.scalar(select(TrackedMessage).where(
                TrackedMessage.domain_id == domain.id, TrackedMessage.message_id == message_id))
    known = {link.url_digest: link for link in message.links}
    for url in wanted:
        digest = _digest(url)
        if digest not in known:
            known[digest] = TrackedLink(workspace_id=message.workspace_id, message=message,
                                        url=url, url_digest=digest, position=len(known))
            db.session.add(known[digest])
    db.session.flush()
    tokens = _tokens()
    base = f"https://{message.hostname}"
    return MessageLinks(
        message=message, created=created,
        open_url=base + url_for("tracking_public.open_pixel",
                                token=tokens.open_token(message.id)),
        links=[(url, base + url_for("tracking_public.click",
                                    token=tokens.click_token(known[_digest(url)].id)))
               for url in wanted])


def link_host(domain: Domain) -> str:
    """Where a new message's links point: the domain's first host with a valid certificate,
    else the nearest ancestor's (a subdomain's mail keeps its organisation's brand), else ours."""
    lineage = [domain, *domain.ancestors]
    closeness = {member.id: rank for rank, member in enumerate(lineage)}
    serving = db.session.execute(
        select(TrackingHost.domain_id, TrackingHost.hostname)
        .where(TrackingHost.domain_id.in_(closeness), TrackingHost.status.in_(SERVING))
        .order_by(TrackingHost.id)).all()
    nearest = min(serving, key=lambda row: closeness[row.domain_id], default=None)
    return nearest.hostname if nearest else platform_host()


def _message_domain(actor: Actor, raw: str) -> Domain:
    problem = "No domain of that name in this workspace."
    try:
        fqdn = normalise_domain(raw or "")
    except DomainNameError as error:
        problem = error.message
    else:
        domain = db.session.scalar(select(Domain).where(Domain.workspace_id == actor.workspace.id,
                                                        Domain.fqdn == fqdn))
        if domain is not None:
            return domain
    raise ValidationFailed(f"The domain is not one of this workspace's: {problem}",
                           code="unknown_domain", fields={"domain": problem})


def _checked_message_id(raw: str) -> str:
    text = (raw or "").strip()
    if not text or len(text) > MAX_MESSAGE_ID_LENGTH or not text.isprintable():
        message = (f"Give the message's id: 1 to {MAX_MESSAGE_ID_LENGTH} printable characters.")
        raise ValidationFailed(message, fields={"message_id": message})
    return text


def _checked_account(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if len(text) > MAX_ACCOUNT_LENGTH or not text.isprintable():
        message = f"The account is at most {MAX_ACCOUNT_LENGTH} printable characters."
        raise ValidationFailed(message, fields={"account": message})
    return text


def _checked_urls(urls: list[str]) -> list[str]:
    """The URLs, each once, in order; any bad one refuses the whole message, naming its index."""
    if len(urls) > MAX_URLS_PER_MESSAGE:
        message = f"A message can have at most {MAX_URLS_PER_MESSAGE} tracked links."
        raise ValidationFailed(message, fields={"urls": message})
    problems = {str(index): problem for index, url in enumerate(urls)
                if (problem := _url_problem(url))}
    if problems:
        raise ValidationFailed("Some URLs cannot be tracked; see `fields.urls` by index. Nothing "
                               "was stored.", fields={"urls": problems})
    return list(dict.fromkeys(url.strip() for url in urls))


def _url_problem(url: str) -> str | None:
    url = url.strip()
    if not url:
        return "Empty URL."
    if len(url) > MAX_URL_LENGTH:
        return f"Longer than {MAX_URL_LENGTH} characters."
    if any(char.isspace() or not char.isprintable() for char in url):
        return "Contains spaces or control characters; percent-encode them."
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        return "Not a valid URL."
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "Only absolute http:// and https:// URLs can be tracked."
    return None


def _digest(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


# --- clicks and opens ------------------------------------------------------------------------

def follow_click(served: ServedHost, token: str) -> str | None:
    """The URL a click token leads to, recording the click; None for a token that names no
    link of a message sent with this host."""
    link_id = _tokens().link_id(token)
    link = db.session.get(TrackedLink, link_id) if link_id else None
    if link is None or not _sent_with(link.message, served):
        return None
    _record_event(link.message, EventType.CLICKED, f"click:{link.id}")
    return link.url


def record_open(served: ServedHost, token: str) -> bool:
    message_id = _tokens().message_id(token)
    message = db.session.get(TrackedMessage, message_id) if message_id else None
    if message is None or not _sent_with(message, served):
        return False
    _record_event(message, EventType.OPENED, f"open:{message.id}")
    return True


def _sent_with(message: TrackedMessage, served: ServedHost) -> bool:
    # The platform host answers for every message: a customer host only for its own.
    return served.hostname in (message.hostname, platform_host())


def _record_event(message: TrackedMessage, event_type: EventType, event_id: str) -> None:
    """One event per message and link (a second click or open of it is the same event)."""
    now = utcnow()
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(insert(ReputationEvent).values(
        event_id=event_id, workspace_id=message.workspace_id, domain_id=message.domain_id,
        type=event_type, account=message.account, occurred_at=now, received_at=now,
    ).on_conflict_do_nothing(index_elements=["workspace_id", "event_id"]))

