"""What the domain tree reads: one level at a time, filtered, with the path to search matches.

A level is one page of a parent's children (or of the workspace's top-level domains), so a
workspace with 50,000 subdomains costs the same to open as one with ten. A page is a fixed
number of statements whatever the workspace's size: its count, its rows joined to their DNS
health, their child counts (one grouped query), their tags and their reputation.

Under a filter a node is listed when it matches or when one of its descendants does; the
latter is drawn dimmed (`matched=False`) so the path to a match stays navigable. A search
also opens, server-side, the path from the top down to each of its first matches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select, true
from sqlalchemy.orm import aliased

from app.domains.models import Domain, DomainStatus, DomainTag
from app.domains.tags import (MAX_GROUP_CHARACTERS, MAX_TAG_CHARACTERS, normalise_group,
                              normalise_tag)
from app.errors import ValidationFailed
from app.extensions import db
from app.monitoring.models import DomainHealth
from app.monitoring.queries import BAND_FILTERS, MAX_SEARCH_CHARACTERS, UNCHECKED, search_needles
from app.pagination import clamped, page_count
from app.reputation.service import ReputationSummary, reputation_summaries
from app.web.params import read_params

PAGE_SIZE = 100
MAX_DEPTH = 10  # the API's deepest answer, and the bound of every walk up a path
OPENED_MATCHES = 100  # a search opens the paths to this many matches, by name
MAX_API_NODES = 5000
STATUSES = tuple(status.value for status in DomainStatus)


@dataclass(frozen=True)
class TreeFilters:
    """What narrows the tree; every field is a URL parameter, so a view is a bookmark."""

    tag: str | None = None
    group: str | None = None
    status: str | None = None
    band: str | None = None
    q: str = ""

    @property
    def active(self) -> bool:
        return bool(self.tag or self.group or self.status or self.band or self.q)

    def args(self, **changes: object) -> dict[str, object]:
        """URL parameters for these filters with `changes`, empty ones left out."""
        view = replace(self, **changes)
        return {name: value for name in ("q", "tag", "group", "status", "band")
                if (value := getattr(view, name))}


def parse_filters(args: Mapping[str, str]) -> tuple[TreeFilters, dict[str, str]]:
    """The filters `args` ask for, and a message for each one that was not valid and was left
    out. Empty values mean "any" (what an untouched form field sends)."""
    values, errors = read_params(args, _READERS)
    return TreeFilters(**values), errors


def _tag(raw: str) -> str:
    tag = normalise_tag(raw)  # as tags are stored: `Team  A` finds `team a`
    if len(tag) > MAX_TAG_CHARACTERS:
        raise ValueError(f"A tag is at most {MAX_TAG_CHARACTERS} characters long.")
    return tag


def _group(raw: str) -> str:
    group = normalise_group(raw) or ""
    if len(group) > MAX_GROUP_CHARACTERS:
        raise ValueError(f"A group name is at most {MAX_GROUP_CHARACTERS} characters long.")
    return group


def _status(raw: str) -> str:
    status = raw.lower()
    if status not in STATUSES:
        raise ValueError(f"There is no status “{status[:40]}”; use {', '.join(STATUSES)}.")
    return status


def _band(raw: str) -> str:
    band = raw.lower()
    if band not in BAND_FILTERS:
        raise ValueError(f"There is no score band “{band[:40]}”; use "
                         f"{', '.join(BAND_FILTERS[:-1])} or {BAND_FILTERS[-1]}.")
    return band


def _search(raw: str) -> str:
    if len(raw) > MAX_SEARCH_CHARACTERS:
        raise ValueError(f"Search for at most {MAX_SEARCH_CHARACTERS} characters (a domain "
                         "name).")
    return raw


_READERS = {"q": _search, "tag": _tag, "group": _group, "status": _status, "band": _band}


def page_number(raw: str | None) -> int:
    """A `?page=`; anything but a whole number from 1 is the first page."""
    raw = raw or ""
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**31 else 1


@dataclass(frozen=True)
class TreeNode:
    """One domain as the tree draws it; `children` is set only where the server opened it."""

    id: int
    fqdn: str
    status: DomainStatus
    parent_id: int | None
    group: str | None
    score: int | None
    band: str | None
    matched: bool = True  # False: listed only because a descendant matches the filters
    tags: tuple[str, ...] = ()
    child_count: int = 0
    reputation: ReputationSummary | None = None
    children: TreeLevel | None = None

    @property
    def opened(self) -> bool:
        return self.children is not None


@dataclass(frozen=True)
class TreeLevel:
    """One page of one parent's children (parent None: the workspace's top-level domains)."""

    parent_id: int | None
    nodes: list[TreeNode]
    total: int  # listed under the filters, on every page
    page: int = 1
    page_size: int = PAGE_SIZE
    partial: bool = False  # opened by a search with more matches than it opened paths to

    @property
    def pages(self) -> int:
        return page_count(self.total, self.page_size)

    @property
    def has_more(self) -> bool:
        return self.page < self.pages

    @property
    def first_number(self) -> int:
        return (self.page - 1) * self.page_size + 1 if self.nodes else 0

    @property
    def last_number(self) -> int:
        return (self.page - 1) * self.page_size + len(self.nodes)


@dataclass(frozen=True)
class SearchPaths:
    """How many domains a search matched and how many of them the page opened the path to."""

    matches: int
    opened: int

    @property
    def all_opened(self) -> bool:
        return self.opened >= self.matches


@dataclass(frozen=True)
class TreePage:
    top: TreeLevel
    filters: TreeFilters
    search: SearchPaths | None = None

    @property
    def node_ids(self) -> set[int]:
        """Every node drawn, opened ones' children included."""
        ids: set[int] = set()
        levels = [self.top]
        while levels:
            for node in levels.pop().nodes:
                ids.add(node.id)
                if node.children is not None:
                    levels.append(node.children)
        return ids


# --- filters as SQL ------------------------------------------------------------------------


def _matches(workspace_id: int, filters: TreeFilters, domain) -> list[ColumnElement]:
    """Conditions on `domain` (the table or an alias) for "this domain matches the filters".
    Subqueries are never correlated: the outer statement may join the same tables."""
    conditions: list[ColumnElement] = []
    if filters.tag:
        conditions.append(domain.id.in_(
            select(DomainTag.domain_id).where(DomainTag.workspace_id == workspace_id,
                                              DomainTag.tag == filters.tag).correlate(None)))
    if filters.group:
        # Groups match whatever their case, as the domains API filters them.
        conditions.append(func.lower(domain.group_name) == filters.group.lower())
    if filters.status:
        conditions.append(domain.status == DomainStatus(filters.status))
    if filters.band:
        checked = select(DomainHealth.domain_id).where(DomainHealth.workspace_id == workspace_id)
        if filters.band == UNCHECKED:
            conditions.append(domain.id.not_in(checked.correlate(None)))
        else:
            conditions.append(domain.id.in_(
                checked.where(DomainHealth.band == filters.band).correlate(None)))
    if filters.q:
        conditions.append(or_(*(domain.fqdn.contains(needle, autoescape=True)
                                for needle in search_needles(filters.q))))
    return conditions


def _on_a_path_to_a_match(workspace_id: int, filters: TreeFilters) -> Select:
    """Ids of every match and every ancestor of one: the nodes a filtered tree lists. Walks up
    from the matches (one step per level), so it costs what the matches cost."""
    found = aliased(Domain)
    up = (select(found.id, found.parent_id)
          .where(found.workspace_id == workspace_id, *_matches(workspace_id, filters, found))
          .cte("on_path", recursive=True))
    parent = aliased(Domain)
    up = up.union(select(parent.id, parent.parent_id)
                  .join(up, parent.id == up.c.parent_id)
                  .where(parent.workspace_id == workspace_id))
    return select(up.c.id)


def _with_a_match_below(workspace_id: int, parent_id: int, filters: TreeFilters) -> Select:
    """Ids of the children of `parent_id` that match or have a matching descendant. Walks down
    the parent's subtree only, which is small next to the workspace."""
    child = aliased(Domain)
    down = (select(child.id, child.id.label("child_id"))
            .where(child.parent_id == parent_id, child.workspace_id == workspace_id)
            .cte("below", recursive=True))
    below = aliased(Domain)
    # UNION, not UNION ALL: even a parent_id cycle could only repeat rows, and so ends.
    down = down.union(select(below.id, down.c.child_id)
                          .join(down, below.parent_id == down.c.id)
                          .where(below.workspace_id == workspace_id))
    candidate = aliased(Domain)
    return (select(down.c.child_id).join(candidate, candidate.id == down.c.id)
            .where(*_matches(workspace_id, filters, candidate)))


def _listed(workspace_id: int, parent_id: int | None, filters: TreeFilters) -> list:
    """The conditions on `Domain` for the nodes listed under `parent_id` (None: the top)."""
    conditions = [Domain.workspace_id == workspace_id,
                  Domain.parent_id.is_(None) if parent_id is None
                  else Domain.parent_id == parent_id]
    if filters.active:
        conditions.append(Domain.id.in_(
            _on_a_path_to_a_match(workspace_id, filters) if parent_id is None
            else _with_a_match_below(workspace_id, parent_id, filters)))
    return conditions


def _matched_column(workspace_id: int, filters: TreeFilters) -> ColumnElement:
    if not filters.active:
        return literal(True).label("matched")
    return and_(true(), *_matches(workspace_id, filters, Domain)).label("matched")


# --- reading nodes -------------------------------------------------------------------------


def _node_rows(workspace_id: int, filters: TreeFilters, *conditions) -> Select:
    return (select(Domain.id, Domain.fqdn, Domain.status, Domain.parent_id,
                   Domain.group_name.label("group"), DomainHealth.score, DomainHealth.band,
                   _matched_column(workspace_id, filters))
            .outerjoin(DomainHealth, DomainHealth.domain_id == Domain.id)
            .where(*conditions).order_by(Domain.fqdn, Domain.id))


def _read_nodes(statement: Select) -> list[TreeNode]:
    return [TreeNode(**row._mapping) for row in db.session.execute(statement)]


def _decorated(workspace_id: int, nodes: list[TreeNode]) -> dict[int, TreeNode]:
    """The nodes with their tags, child counts and reputation: three statements for any
    number of nodes, never one per node."""
    ids = [node.id for node in nodes]
    if not ids:
        return {}
    counts = dict(db.session.execute(
        select(Domain.parent_id, func.count()).where(Domain.workspace_id == workspace_id,
                                                     Domain.parent_id.in_(ids))
        .group_by(Domain.parent_id)).all())
    tags = tags_of(ids)
    reputation = reputation_summaries(ids)
    return {node.id: replace(node, child_count=counts.get(node.id, 0), tags=tags[node.id],
                             reputation=reputation.get(node.id))
            for node in nodes}


def tags_of(domain_ids: list[int]) -> dict[int, tuple[str, ...]]:
    """Each domain's tags by name, in one statement for any number of domains."""
    tags: dict[int, list[str]] = {domain_id: [] for domain_id in domain_ids}
    if domain_ids:
        for domain_id, name in db.session.execute(
                select(DomainTag.domain_id, DomainTag.tag)
                .where(DomainTag.domain_id.in_(domain_ids)).order_by(DomainTag.tag)):
            tags[domain_id].append(name)
    return {domain_id: tuple(names) for domain_id, names in tags.items()}


def level(workspace_id: int, parent_id: int | None, filters: TreeFilters = TreeFilters(),
          page: int = 1) -> TreeLevel:
    """One page of the nodes listed under `parent_id` (None: the top level). The caller has
    checked that the parent belongs to the workspace."""
    conditions = _listed(workspace_id, parent_id, filters)
    total = db.session.scalar(select(func.count()).select_from(Domain).where(*conditions)) or 0
    page = clamped(page, total, PAGE_SIZE)
    nodes = _read_nodes(_node_rows(workspace_id, filters, *conditions)
                        .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE))
    decorated = _decorated(workspace_id, nodes)
    return TreeLevel(parent_id=parent_id, nodes=[decorated[node.id] for node in nodes],
                     total=total, page=page)


def tree_page(workspace_id: int, filters: TreeFilters = TreeFilters(),
              page: int = 1) -> TreePage:
    """The tree's first paint: a page of top-level nodes, and under a search the path down to
    each of its first OPENED_MATCHES matches opened."""
    top = level(workspace_id, None, filters, page)
    if not filters.q:
        return TreePage(top=top, filters=filters)
    return _open_paths(workspace_id, filters, top)


def _open_paths(workspace_id: int, filters: TreeFilters, top: TreeLevel) -> TreePage:
    matching = [Domain.workspace_id == workspace_id, *_matches(workspace_id, filters, Domain)]
    count = db.session.scalar(select(func.count()).select_from(Domain).where(*matching)) or 0
    first = dict(db.session.execute(select(Domain.id, Domain.parent_id).where(*matching)
                                    .order_by(Domain.fqdn, Domain.id)
                                    .limit(OPENED_MATCHES)).all())
    # Walk up from the matches, a level a statement: every ancestor of one is opened.
    on_path = set(first)
    opened: set[int] = set()
    frontier = {parent for parent in first.values() if parent is not None}
    for _ in range(MAX_DEPTH):
        frontier -= opened
        if not frontier:
            break
        opened |= frontier
        rows = db.session.execute(select(Domain.id, Domain.parent_id).where(
            Domain.workspace_id == workspace_id, Domain.id.in_(frontier))).all()
        on_path.update(domain_id for domain_id, _ in rows)
        frontier = {parent for _, parent in rows if parent is not None}
    below_the_top = _read_nodes(_node_rows(workspace_id, filters,
                                           Domain.workspace_id == workspace_id,
                                           Domain.parent_id.is_not(None),
                                           Domain.id.in_(on_path)))
    decorated = _decorated(workspace_id, below_the_top)
    children: dict[int, list[TreeNode]] = {}
    for node in below_the_top:
        children.setdefault(node.parent_id, []).append(decorated[node.id])
    # With more matches than opened paths, an opened node may list only some of its children.
    partial = count > len(first)

    def opening(node: TreeNode) -> TreeNode:
        if node.id not in opened:
            return node
        kids = [opening(child) for child in children.get(node.id, [])]
        return replace(node, children=TreeLevel(parent_id=node.id, nodes=kids, total=len(kids),
                                                partial=partial))

    return TreePage(top=replace(top, nodes=[opening(node) for node in top.nodes]),
                    filters=filters, search=SearchPaths(matches=count, opened=len(first)))


def node(domain: Domain) -> TreeNode:
    """One domain as a node (the head of its own subdomains page)."""
    (found,) = _read_nodes(_node_rows(domain.workspace_id, TreeFilters(),
                                      Domain.workspace_id == domain.workspace_id,
                                      Domain.id == domain.id))
    return _decorated(domain.workspace_id, [found])[found.id]


def ancestors(domain: Domain) -> list[Domain]:
    """The domain's parents from the top down (a breadcrumb), walking at most MAX_DEPTH up."""
    path: list[Domain] = []
    current = domain
    for _ in range(MAX_DEPTH):
        if current.parent_id is None:
            break
        current = Domain.get_for(domain.workspace_id, current.parent_id)
        path.append(current)
    return list(reversed(path))


# --- the API's nested answer ----------------------------------------------------------------


@dataclass
class SubtreeNode:
    """A node of the API's answer; `children` is None below the depth asked for."""

    node: TreeNode
    children: list[SubtreeNode] | None = None

    def to_dict(self) -> dict:
        node = self.node
        return {"id": node.id, "fqdn": node.fqdn, "status": node.status,
                "parent_id": node.parent_id, "score": node.score, "band": node.band,
                "tags": list(node.tags), "group": node.group, "child_count": node.child_count,
                "children": None if self.children is None
                else [child.to_dict() for child in self.children]}


def subtree(root: Domain, depth: int) -> SubtreeNode:
    """`root` with its descendants `depth` (1 to MAX_DEPTH) levels down, a statement a level.
    Refuses a subtree larger than MAX_API_NODES rather than answer with megabytes."""
    workspace_id = root.workspace_id
    plain = TreeFilters()
    levels = [_read_nodes(_node_rows(workspace_id, plain, Domain.workspace_id == workspace_id,
                                     Domain.id == root.id))]
    count = 1
    while len(levels) <= depth and levels[-1]:
        below = _read_nodes(_node_rows(workspace_id, plain, Domain.workspace_id == workspace_id,
                                       Domain.parent_id.in_([node.id for node in levels[-1]])))
        count += len(below)
        if count > MAX_API_NODES:
            raise ValidationFailed(
                f"The tree under {root.fqdn} holds more than {MAX_API_NODES} domains down to "
                f"depth {depth}; ask for a smaller depth and follow `child_count` down.",
                code="tree_too_large", fields={"depth": "Too deep for this tree."})
        levels.append(below)
    decorated = _decorated(workspace_id, [node for nodes in levels for node in nodes])
    built = {node_id: SubtreeNode(node) for node_id, node in decorated.items()}
    for distance, nodes in enumerate(levels):
        for node in nodes:
            if distance < depth:
                built[node.id].children = []
            if distance > 0:
                built[node.parent_id].children.append(built[node.id])
    return built[root.id]

