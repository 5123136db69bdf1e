"""Bulk actions on the domains ticked in the tree: set their group, add a tag to each.

All or nothing: the selection is checked whole (every id a domain of this workspace) before
anything changes, and a refusal for one domain refuses the lot, so the request's single
commit never lands half an action.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from app.domains import tags
from app.domains.models import Domain
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.subdomains.tree import tags_of
from app.workspaces.actor import Actor

MAX_SELECTION = 1000
SET_GROUP = "group"
ADD_TAG = "tag"
ACTIONS = {SET_GROUP: "Set group", ADD_TAG: "Add tag"}
NOTHING_SELECTED = "nothing_selected"


@dataclass(frozen=True)
class BulkResult:
    domains: list[Domain]  # the whole selection, changed or not
    changed: int
    message: str


def selected_domains(actor: Actor, raw_ids: Iterable[str]) -> list[Domain]:
    """The ticked domains, by name; an id that is not one of this workspace's domains (another
    workspace's, or one deleted meanwhile) refuses the whole selection."""
    ids: set[int] = set()
    for raw in raw_ids:
        raw = raw.strip()
        if not (raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**31):
            raise ValidationFailed(f"“{raw[:20]}” is not a domain id.", code="selection_invalid",
                                   fields={"domain_ids": "Domain ids only."})
        ids.add(int(raw))
    if not ids:
        raise ValidationFailed("Nothing is selected: tick the domains to change first.",
                               code=NOTHING_SELECTED, fields={"domain_ids": "Tick some."})
    if len(ids) > MAX_SELECTION:
        raise ValidationFailed(f"{len(ids)} domains are selected; change at most "
                               f"{MAX_SELECTION} at a time.", code="selection_too_large",
                               fields={"domain_ids": f"At most {MAX_SELECTION}."})
    domains = list(db.session.scalars(select(Domain).where(
        Domain.workspace_id == actor.workspace.id, Domain.id.in_(ids)).order_by(Domain.fqdn)))
    if len(domains) != len(ids):
        raise NotFound("Some selected domains are not in this workspace (deleted meanwhile?). "
                       "Reload the tree and select again; nothing was changed.")
    return domains


def apply(actor: Actor, action: str, raw_ids: Iterable[str], value: str) -> BulkResult:
    """Run one bulk action; the caller commits."""
    actor.require_write()
    domains = selected_domains(actor, raw_ids)
    if action not in ACTIONS:
        raise ValidationFailed(f"Choose an action: {', '.join(ACTIONS.values())}.",
                               code="bulk_action_unknown", fields={"action": "Not offered."})
    if action == SET_GROUP:
        return _set_group(actor, domains, value)
    return _add_tag(actor, domains, value)


def _set_group(actor: Actor, domains: list[Domain], value: str) -> BulkResult:
    changed = 0
    group = None
    for domain in domains:
        before = domain.group_name
        group = tags.set_group(actor, domain, value)
        changed += group != before
    where = f"in the group “{group}”" if group else "in no group"
    return BulkResult(domains, changed, f"{_count(len(domains))} now {where} "
                                        f"({changed} changed).")


def _add_tag(actor: Actor, domains: list[Domain], value: str) -> BulkResult:
    (tag,) = tags.parse_tags([value])  # one tag, or a refusal saying what is wrong with it
    current = tags_of([domain.id for domain in domains])
    changed = 0
    for domain in domains:
        if tag in current[domain.id]:
            continue
        try:
            tags.set_tags(actor, domain, [*current[domain.id], tag])
        except ValidationFailed as refused:
            raise ValidationFailed(f"{domain.fqdn}: {refused.message} Nothing was changed.",
                                   code=refused.code, fields=refused.fields) from None
        changed += 1
    return BulkResult(domains, changed, f"{_count(len(domains))} tagged “{tag}” "
                                        f"({changed} changed).")


def _count(number: int) -> str:
    return f"{number} domain{'' if number == 1 else 's'}"
