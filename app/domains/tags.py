"""Tags and groups: free labels and one group (a team, a client) per domain or subdomain.

The tree, the dashboard and the API filter by them; they read `DomainTag` rows and
`Domain.group_name` directly, so what is stored is already in its one canonical form.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import delete, func, select

from app.audit import service as audit
from app.domains.models import Domain, DomainTag
from app.errors import ValidationFailed
from app.extensions import db
from app.workspaces.actor import Actor

MAX_TAGS = 20
MAX_TAG_CHARACTERS = 50  # DomainTag.tag
MAX_GROUP_CHARACTERS = 64  # Domain.group_name
TAG_CHARACTERS = re.compile(r"^[a-z0-9_ -]+$")


def normalise_tag(raw: str) -> str:
    """Trimmed, lower-case, inner spaces collapsed: `  Team  A ` and `team a` are one tag."""
    return " ".join(raw.lower().split())


def normalise_group(raw: str | None) -> str | None:
    """Trimmed, inner spaces collapsed, case kept (a group is a display name); blank is none."""
    group = " ".join((raw or "").split())
    return group or None


def parse_tags(raw: str | Iterable[str]) -> list[str]:
    """The tags to store, from a list or a comma-separated string; refuses with the tag at fault.

    Repeats collapse into one; order is kept for the refusal message and sorted on output.
    """
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    tags: list[str] = []
    for item in items:
        tag = normalise_tag(item)
        if not tag:
            if isinstance(raw, str):
                continue  # "a, , b" or a trailing comma: nothing was meant there
            raise _refused("tag_empty", "A tag cannot be empty.")
        if len(tag) > MAX_TAG_CHARACTERS:
            raise _refused("tag_too_long", f'The tag "{tag[:20]}…" is {len(tag)} characters '
                           f"long; a tag can be at most {MAX_TAG_CHARACTERS}.")
        if not TAG_CHARACTERS.match(tag):
            raise _refused("tag_invalid", f'The tag "{tag}" may only contain letters, digits, '
                           "spaces, - and _.")
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise _refused("too_many_tags", f"That is {len(tags)} tags; a domain can have at most "
                       f"{MAX_TAGS}.")
    return sorted(tags)


def set_tags(actor: Actor, domain: Domain, raw: str | Iterable[str]) -> list[str]:
    """Replace the domain's tags; bad input changes nothing and says which tag is wrong."""
    actor.require_write()
    tags = parse_tags(raw)
    before = domain.tags
    if tags == before:
        return tags
    db.session.execute(delete(DomainTag).where(DomainTag.domain_id == domain.id))
    db.session.add_all(DomainTag(domain_id=domain.id, tag=tag, workspace_id=domain.workspace_id)
                       for tag in tags)
    db.session.flush()
    db.session.expire(domain, ["tag_rows"])
    audit.record(actor, "domain.tags_changed", "domain", domain.id,
                 before={"name": domain.fqdn, "tags": before},
                 after={"name": domain.fqdn, "tags": tags})
    return tags


def set_group(actor: Actor, domain: Domain, raw: str | None) -> str | None:
    """Put the domain in one group (None: in none).

    A group already used in the workspace under another case is reused as spelled there, so
    `sales` joins `Sales` rather than starting a second group.
    """
    actor.require_write()
    group = normalise_group(raw)
    if group is not None and len(group) > MAX_GROUP_CHARACTERS:
        raise _refused("group_too_long", f"The group name is {len(group)} characters long; it "
                       f"can be at most {MAX_GROUP_CHARACTERS}.", field="group")
    if group is not None:
        group = db.session.scalar(select(Domain.group_name).where(
            Domain.workspace_id == domain.workspace_id,
            func.lower(Domain.group_name) == group.lower()).limit(1)) or group
    if group == domain.group_name:
        return group
    before = domain.group_name
    domain.group_name = group
    db.session.flush()
    audit.record(actor, "domain.group_changed", "domain", domain.id,
                 before={"name": domain.fqdn, "group": before},
                 after={"name": domain.fqdn, "group": group})
    return group


def groups_in(workspace_id: int) -> list[str]:
    """The workspace's groups, for filter choices."""
    return list(db.session.scalars(select(Domain.group_name).distinct().where(
        Domain.workspace_id == workspace_id, Domain.group_name.is_not(None))
        .order_by(Domain.group_name)))


def tags_in(workspace_id: int) -> list[str]:
    return list(db.session.scalars(select(DomainTag.tag).distinct().where(
        DomainTag.workspace_id == workspace_id).order_by(DomainTag.tag)))


def _refused(code: str, message: str, *, field: str = "tags") -> ValidationFailed:
    return ValidationFailed(message, code=code, fields={field: message})
