"""Appending to and reading the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timezone

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.extensions import db
from app.pagination import Page, paginate
from app.workspaces.actor import Actor


class AuditLogIsAppendOnly(RuntimeError):
    pass


@event.listens_for(Session, "before_flush")
def _refuse_audit_rewrites(session: Session, flush_context, instances) -> None:
    # The database triggers refuse it too; this catches it earlier, with a clearer error.
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEvent) and (obj in session.deleted or session.is_modified(obj)):
            raise AuditLogIsAppendOnly("audit events are never updated or deleted")


def append(
    action: str,
    object_type: str,
    object_id: object | None,
    *,
    workspace_id: int | None,
    actor_id: int | None,
    actor_label: str,
    ip: str | None = None,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    entry = AuditEvent(
        workspace_id=workspace_id,
        actor_id=actor_id,
        actor_label=actor_label,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        ip=ip,
        before=before,
        after=after,
    )
    db.session.add(entry)
    return entry


def record(
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object | None,
    *,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    return append(
        action,
        object_type,
        object_id,
        workspace_id=actor.workspace.id,
        actor_id=actor.user_id,
        actor_label=actor.label,
        ip=actor.ip,
        before=before,
        after=after,
    )


@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    date_from: date | None = None
    date_to: date | None = None


def list_events(actor: Actor, filters: AuditFilters, page: int = 1, per_page: int = 50) -> Page[AuditEvent]:
    actor.require_admin()
    query = select(AuditEvent).where(AuditEvent.workspace_id == actor.workspace.id)
    if filters.actor:
        query = query.where(func.lower(AuditEvent.actor_label).contains(filters.actor.lower()))
    if filters.action:
        query = query.where(AuditEvent.action.startswith(filters.action))
    if filters.object_type:
        query = query.where(AuditEvent.object_type == filters.object_type)
    if filters.object_id:
        query = query.where(AuditEvent.object_id == filters.object_id)
    if filters.date_from:
        query = query.where(AuditEvent.created_at >= _start_of(filters.date_from))
    if filters.date_to:
        query = query.where(AuditEvent.created_at <= _end_of(filters.date_to))
    return paginate(query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()),
                    page, per_page)


def known_actions(actor: Actor) -> list[str]:
    actor.require_admin()
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.workspace_id == actor.workspace.id)
            .distinct()
            .order_by(AuditEvent.action)
        )
    )


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def _end_of(day: date) -> datetime:
    # Not "start of the next day": that overflows for 9999-12-31.
    return datetime.combine(day, time.max, tzinfo=timezone.utc)
