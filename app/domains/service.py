"""Domain onboarding use cases: add, set up, publish, check, delete."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.audit import service as audit
from app.core import records as core_records
from app.core.clock import utcnow
from app.core.dkim import dkim_record_value
from app.core.names import DomainNameError, normalise_domain
from app.domains.models import DkimKey, DnsSnapshot, Domain, DomainStatus, KeyState
from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.jobs.queues import enqueue_after_commit
from app.workspaces.actor import Actor

DEFAULT_SELECTOR = "pm1"
DEFAULT_RETURN_PATH_LABEL = "pm-bounces"
DEFAULT_TRACKING_LABEL = "track"
DMARC_POLICIES = ("none", "quarantine", "reject")
# RFC 6376 §3.1: a selector is one or more dot-separated DNS labels; we allow one label.
SELECTOR_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# Key types a domain's signing key may have: what "add domain" offers (algorithm → type, bits).
KEY_ALGORITHMS = {"rsa-2048": ("rsa", 2048), "rsa-3072": ("rsa", 3072), "rsa-4096": ("rsa", 4096)}
# Ed25519 (RFC 8463) is only ever an extra key that signs beside the RSA one: many receivers
# ignore ed25519-sha256, so a domain signed with it alone would look unsigned to them.
DUAL_SIGNING_ALGORITHM = "ed25519"
# Every key type the key job generates.
GENERATED_KEY_ALGORITHMS = {**KEY_ALGORITHMS, DUAL_SIGNING_ALGORITHM: ("ed25519", None)}


def domain_snapshot(domain: Domain) -> dict:
    return {"name": domain.fqdn, "status": domain.status.value,
            "dmarc_policy": domain.dmarc_policy, "return_path": domain.return_path_label,
            "tracking": domain.tracking_label}


def _new_verification_token() -> str:
    # Starts with a letter: a CSV cell starting with - = + @ would be read as a formula.
    return "pm-verify-" + secrets.token_hex(16)


def add_domain(actor: Actor, raw_name: str, *, algorithm: str = "rsa-2048") -> Domain:
    """Claim a domain for this workspace and start generating its first DKIM key."""
    actor.require_write()
    try:
        fqdn = normalise_domain(raw_name or "")
    except DomainNameError as error:
        raise ValidationFailed(error.message, code=f"domain_{error.code}",
                               fields={"name": error.message}) from None
    if algorithm not in KEY_ALGORITHMS:
        beside_rsa = (" Ed25519 signs only beside an RSA key: add the domain with RSA, then add "
                      "an Ed25519 key to it." if algorithm == DUAL_SIGNING_ALGORITHM else "")
        raise ValidationFailed(f"Choose a key type: {', '.join(KEY_ALGORITHMS)}.{beside_rsa}",
                               code="dkim_algorithm_refused", fields={"algorithm": "Not offered."})
    if _in_workspace(actor.workspace.id, fqdn):
        raise Conflict(f"{fqdn} is already in this workspace.", code="domain_exists",
                       fields={"name": "Already added."})
    if _verified_elsewhere(actor.workspace.id, fqdn):
        raise Conflict(f"{fqdn} is already verified by another PenguinMails customer. If it "
                       "is yours, ask them to release it or contact support.",
                       code="domain_taken", fields={"name": "Taken."})
    domain = Domain(workspace_id=actor.workspace.id, fqdn=fqdn,
                    verification_token=_new_verification_token(), setup_step=2,
                    return_path_label=DEFAULT_RETURN_PATH_LABEL)
    db.session.add(domain)
    db.session.flush()
    key = DkimKey(workspace_id=actor.workspace.id, domain_id=domain.id,
                  selector=DEFAULT_SELECTOR, algorithm=algorithm)
    db.session.add(key)
    db.session.flush()
    audit.record(actor, "domain.added", "domain", domain.id, after=domain_snapshot(domain))
    enqueue_after_commit("app.domains.tasks.generate_dkim_key", key.id, queue="keys")
    return domain


def _in_workspace(workspace_id: int, fqdn: str) -> bool:
    return db.session.scalar(select(func.count()).select_from(Domain).where(
        Domain.workspace_id == workspace_id, Domain.fqdn == fqdn)) > 0


def _verified_elsewhere(workspace_id: int, fqdn: str) -> bool:
    return db.session.scalar(select(func.count()).select_from(Domain).where(
        Domain.workspace_id != workspace_id, Domain.fqdn == fqdn,
        Domain.status == DomainStatus.VERIFIED)) > 0


@dataclass(frozen=True)
class SetupChoices:
    selector: str = DEFAULT_SELECTOR
    dmarc_policy: str = "none"
    use_return_path: bool = True
    use_tracking: bool = False


def choose_setup(actor: Actor, domain: Domain, choices: SetupChoices) -> Domain:
    """Step 2 of the wizard; the selector can change only while no key is in DNS yet."""
    actor.require_write()
    selector = choices.selector.strip().lower()
    problems = {}
    if not SELECTOR_PATTERN.match(selector):
        problems["selector"] = ("Use 1-63 lower-case letters, digits and hyphens "
                                "(for example pm1).")
    if choices.dmarc_policy not in DMARC_POLICIES:
        problems["dmarc_policy"] = "Choose none, quarantine or reject."
    if problems:
        raise ValidationFailed("Some choices are not valid; see the fields.", fields=problems)
    before = domain_snapshot(domain)
    first_key = current_key(domain)
    if first_key is not None and first_key.selector != selector:
        if first_key.state not in (KeyState.GENERATING, KeyState.PENDING):
            raise Conflict("The selector of a key that is already signing cannot change; "
                           "rotate the key to use a new selector.", code="selector_locked")
        if any(k.selector == selector for k in domain.keys if k is not first_key):
            raise Conflict(f"Another key of {domain.fqdn} already uses the selector {selector}; "
                           "choose another one.", code="selector_taken",
                           fields={"selector": "Used by another key of this domain."})
        first_key.selector = selector
    domain.dmarc_policy = choices.dmarc_policy
    domain.return_path_label = DEFAULT_RETURN_PATH_LABEL if choices.use_return_path else None
    domain.tracking_label = DEFAULT_TRACKING_LABEL if choices.use_tracking else None
    domain.setup_step = max(domain.setup_step, 3)
    db.session.flush()
    audit.record(actor, "domain.setup_changed", "domain", domain.id, before=before,
                 after={**domain_snapshot(domain), "selector": selector})
    return domain


def current_key(domain: Domain) -> DkimKey | None:
    """The RSA key DNS should carry now: the active one, else the newest pending one.

    An extra Ed25519 key is never the current key: it only signs beside this one.
    """
    live = [k for k in domain.keys if k.key_type == "rsa" and k.state in (
        KeyState.ACTIVE, KeyState.PENDING, KeyState.GENERATING)]
    active = [k for k in live if k.state == KeyState.ACTIVE]
    return (active or live or [None])[-1]


def published_keys(domain: Domain) -> list[DkimKey]:
    """Every key that must be in DNS: pending, active and retiring ones with a public key."""
    return [k for k in domain.keys if k.public_key and k.state in (
        KeyState.PENDING, KeyState.ACTIVE, KeyState.RETIRING)]


def latest_snapshot(domain: Domain) -> DnsSnapshot | None:
    return db.session.scalar(select(DnsSnapshot).where(DnsSnapshot.domain_id == domain.id)
                             .order_by(DnsSnapshot.checked_at.desc(), DnsSnapshot.id.desc())
                             .limit(1))


def record_settings(domain: Domain, existing_spf: str | None = None) -> core_records.RecordSettings:
    config = current_app.config
    return_path = tracking = None
    if domain.return_path_label:
        return_path = core_records.ReturnPath(label=domain.return_path_label,
                                              cname_target=config["PLATFORM_BOUNCE_HOST"])
    if domain.tracking_label:
        tracking = core_records.TrackingHost(label=domain.tracking_label,
                                             cname_target=config["PLATFORM_TRACKING_HOST"])
    keys = tuple(core_records.DkimKeyRecord(key.selector,
                                            dkim_record_value(key.public_key, key.key_type))
                 for key in published_keys(domain))
    return core_records.RecordSettings(
        domain=domain.fqdn, verification_token=domain.verification_token,
        spf_include=config["PLATFORM_SPF_INCLUDE"], dkim_keys=keys,
        dmarc_policy=domain.dmarc_policy, dmarc_rua=config["PLATFORM_DMARC_RUA"],
        return_path=return_path, tracking=tracking, existing_spf=existing_spf,
    )


def observed_spf(domain: Domain) -> str | None:
    """The SPF record the last check saw at the apex, so instructions merge into it."""
    snapshot = latest_snapshot(domain)
    for check in (snapshot.results if snapshot else []):
        if check.get("purpose") == core_records.Purpose.SPF and len(check.get("observed", [])) == 1:
            observed = check["observed"][0]
            if observed.lower().startswith("v=spf1"):
                return observed
    return None


def expected_records(domain: Domain) -> list[core_records.DnsRecord]:
    return core_records.expected_records(record_settings(domain, observed_spf(domain)))


def request_check(actor: Actor, domain: Domain) -> str:
    """Queue a verification run now; returns the job id the page and API poll."""
    actor.require_write()
    job_id = f"verify-{domain.id}-{secrets.token_hex(6)}"
    if domain.status in (DomainStatus.PENDING, DomainStatus.FAILED):
        domain.status = DomainStatus.VERIFYING
        domain.verification_started_at = utcnow()
        domain.failed_at = None
    domain.setup_step = max(domain.setup_step, 4)
    db.session.flush()
    audit.record(actor, "domain.check_requested", "domain", domain.id)
    enqueue_after_commit("app.domains.tasks.verify_domain", domain.id, queue="dns",
                         job_id=job_id)
    return job_id


def delete_domain(actor: Actor, domain: Domain) -> None:
    """Remove a domain; its private keys are destroyed in the key store after the commit."""
    actor.require_write()
    from app.tracking import service as tracking  # tracking builds on domains, not back

    refs = [k.private_key_ref for k in domain.keys if k.private_key_ref]
    refs += tracking.key_refs_of_domain(domain.id)
    before = {**domain_snapshot(domain), "selectors": [k.selector for k in domain.keys]}
    domain_id = domain.id
    for key in list(domain.keys):
        db.session.delete(key)
    db.session.delete(domain)
    db.session.flush()
    audit.record(actor, "domain.deleted", "domain", domain_id, before=before)
    tracking.invalidate_allow_list_after_commit()
    if refs:
        enqueue_after_commit("app.domains.tasks.destroy_private_keys", refs, queue="keys")


def list_domains(actor: Actor) -> list[Domain]:
    return list(db.session.scalars(select(Domain).where(Domain.workspace_id == actor.workspace.id)
                                   .options(selectinload(Domain.keys)).order_by(Domain.fqdn)))
