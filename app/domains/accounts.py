"""Email accounts: the sending identities (`sales@example.com`) of a verified domain.

Only a verified domain gets new or re-activated identities. Pausing and deleting stay possible
after a domain loses its verification, so a customer can always stop and clean up sending.
"""

from __future__ import annotations

import string
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.audit import service as audit
from app.domains.models import Domain, DomainStatus, EmailAccount
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.workspaces.actor import Actor

MAX_LOCAL_PART_OCTETS = 64  # RFC 5321 §4.5.3.1.1
MAX_DISPLAY_NAME_CHARACTERS = 200
MIN_DAILY_LIMIT = 1
MAX_DAILY_LIMIT = 1_000_000
DEFAULT_DAILY_LIMIT = 1000
# RFC 5322 §3.2.3 atext; dot-atom-text is 1*atext *("." 1*atext). Upper-case letters are atext
# too, but local parts are stored lower-cased (below), so only lower-case ever reaches the check.
ATEXT = frozenset(string.ascii_lowercase + string.digits + "!#$%&'*+-/=?^_`{|}~")
LOCAL_PART_CHARACTERS = "letters, digits and . ! # $ % & ' * + - / = ? ^ _ ` { | } ~"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


@dataclass(frozen=True)
class AccountChanges:
    """An edit of an account; None leaves a field as it is."""

    display_name: str | None = None
    daily_limit: int | None = None
    status: AccountStatus | None = None


def normalise_local_part(raw: str) -> str:
    """The stored form of a local part (lower-case dot-atom), or ValidationFailed saying why not.

    Local parts are case-sensitive in principle (RFC 5321 §2.4), but an identity that differs
    from another only in case is a mistake, so one lower-case spelling is the identity.
    Quoted local parts and SMTPUTF8 (RFC 6531) addresses are not offered.
    """
    local_part = (raw or "").strip().lower()
    problem = _local_part_problem(local_part)
    if problem:
        code, message = problem
        raise ValidationFailed(message, code=code, fields={"local_part": message})
    return local_part


def _local_part_problem(local_part: str) -> tuple[str, str] | None:
    invalid = "local_part_invalid"
    if not local_part:
        return invalid, "Enter the part before the @, for example sales."
    if "@" in local_part:
        return invalid, "Enter only the part before the @: sales, not sales@example.com."
    if not local_part.isascii():
        return invalid, f"Use {LOCAL_PART_CHARACTERS} only; other characters are not supported."
    if len(local_part) > MAX_LOCAL_PART_OCTETS:
        return "local_part_too_long", (
            f"This is {len(local_part)} characters long; the part before the @ can be at most "
            f"{MAX_LOCAL_PART_OCTETS}.")
    if local_part.startswith(".") or local_part.endswith(".") or ".." in local_part:
        return invalid, "A dot cannot come first, last or right after another dot."
    bad = sorted({char for char in local_part if char not in ATEXT and char != "."})
    if bad:
        shown = " ".join(_shown(char) for char in bad)
        return invalid, (f"These characters cannot be used before the @: {shown}. "
                         f"Use {LOCAL_PART_CHARACTERS}.")
    return None


def _shown(char: str) -> str:
    if char == " ":
        return "space"
    return char if char.isprintable() else f"U+{ord(char):04X}"


def _checked_display_name(raw: str) -> str:
    display_name = (raw or "").strip()
    if len(display_name) > MAX_DISPLAY_NAME_CHARACTERS:
        message = f"Use at most {MAX_DISPLAY_NAME_CHARACTERS} characters."
    elif any(unicodedata.category(char) == "Cc" for char in display_name):
        # A line break in a From: display name would start a new mail header.
        message = "Line breaks and other control characters cannot be used in a display name."
    else:
        return display_name
    raise ValidationFailed(message, code="display_name_invalid", fields={"display_name": message})


def _checked_daily_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not (
            MIN_DAILY_LIMIT <= limit <= MAX_DAILY_LIMIT):
        message = f"Enter a whole number of messages from {MIN_DAILY_LIMIT} to {MAX_DAILY_LIMIT:,}."
        raise ValidationFailed(message, code="daily_limit_invalid", fields={"daily_limit": message})
    return limit


def _checked_status(status: str) -> str:
    try:
        return AccountStatus(status).value
    except ValueError:
        message = "Choose active or paused."
        raise ValidationFailed(message, code="status_invalid", fields={"status": message}) from None


def require_verified(domain: Domain) -> None:
    if domain.status != DomainStatus.VERIFIED:
        raise Conflict(f"{domain.fqdn} is not verified yet. Verify the domain first: publish its "
                       "DNS records and run a check, then add email accounts.",
                       code="domain_not_verified")


def address(account: EmailAccount) -> str:
    return f"{account.local_part}@{account.domain.fqdn}"


def account_snapshot(account: EmailAccount) -> dict:
    return {"address": address(account), "display_name": account.display_name,
            "daily_limit": account.daily_limit, "status": account.status}


def list_accounts(actor: Actor, domain: Domain) -> list[EmailAccount]:
    return list(db.session.scalars(select(EmailAccount).where(
        EmailAccount.workspace_id == actor.workspace.id, EmailAccount.domain_id == domain.id)
        .order_by(EmailAccount.local_part)))


def get_account(actor: Actor, domain: Domain, account_id: int) -> EmailAccount:
    """The account if it is one of this domain's; another domain's or workspace's is NotFound."""
    account = db.session.scalar(select(EmailAccount).where(
        EmailAccount.id == account_id, EmailAccount.domain_id == domain.id,
        EmailAccount.workspace_id == actor.workspace.id))
    if account is None:
        raise NotFound("No such email account on this domain.")
    return account


def create_account(actor: Actor, domain: Domain, local_part: str, *, display_name: str = "",
                   daily_limit: int = DEFAULT_DAILY_LIMIT) -> EmailAccount:
    actor.require_write()
    require_verified(domain)
    local_part = normalise_local_part(local_part)
    display_name = _checked_display_name(display_name)
    daily_limit = _checked_daily_limit(daily_limit)
    taken = Conflict(f"{local_part}@{domain.fqdn} already exists.", code="account_exists",
                     fields={"local_part": "Already an account on this domain."})
    if _local_part_taken(domain, local_part):
        raise taken
    account = EmailAccount(workspace_id=actor.workspace.id, domain=domain, local_part=local_part,
                           display_name=display_name, daily_limit=daily_limit,
                           status=AccountStatus.ACTIVE.value)
    try:
        # Two requests may pass the check above at once; the unique constraint decides.
        with db.session.begin_nested():
            db.session.add(account)
    except IntegrityError:
        raise taken from None
    audit.record(actor, "email_account.created", "email_account", account.id,
                 after=account_snapshot(account))
    return account


def _local_part_taken(domain: Domain, local_part: str) -> bool:
    return db.session.scalar(select(EmailAccount.id).where(
        EmailAccount.domain_id == domain.id, EmailAccount.local_part == local_part)) is not None


def update_account(actor: Actor, account: EmailAccount, changes: AccountChanges) -> EmailAccount:
    """Edit the display name, limit or status; only pausing is allowed on an unverified domain."""
    actor.require_write()
    wanted = {}
    if changes.display_name is not None:
        wanted["display_name"] = _checked_display_name(changes.display_name)
    if changes.daily_limit is not None:
        wanted["daily_limit"] = _checked_daily_limit(changes.daily_limit)
    if changes.status is not None:
        wanted["status"] = _checked_status(changes.status)
    pausing_only = wanted == {"status": AccountStatus.PAUSED.value}
    if wanted and not pausing_only:
        require_verified(account.domain)
    return _apply(actor, account, wanted, "email_account.updated")


def pause_account(actor: Actor, account: EmailAccount) -> EmailAccount:
    actor.require_write()
    return _apply(actor, account, {"status": AccountStatus.PAUSED.value}, "email_account.paused")


def resume_account(actor: Actor, account: EmailAccount) -> EmailAccount:
    actor.require_write()
    require_verified(account.domain)
    return _apply(actor, account, {"status": AccountStatus.ACTIVE.value}, "email_account.resumed")


def _apply(actor: Actor, account: EmailAccount, wanted: dict, action: str) -> EmailAccount:
    """Set the wanted values; audited only when something actually changed."""
    changed = {name: value for name, value in wanted.items() if getattr(account, name) != value}
    if not changed:
        return account
    before = account_snapshot(account)
    for name, value in changed.items():
        setattr(account, name, value)
    db.session.flush()
    audit.record(actor, action, "email_account", account.id, before=before,
                 after=account_snapshot(account))
    return account


def delete_account(actor: Actor, account: EmailAccount) -> None:
    actor.require_write()
    before = account_snapshot(account)
    account_id = account.id
    db.session.delete(account)
    db.session.flush()
    audit.record(actor, "email_account.deleted", "email_account", account_id, before=before)
