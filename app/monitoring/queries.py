"""What the health pages read: the dashboard's filtered, sorted pages and a domain's history.

Every choice the dashboard offers is a query parameter (`DashboardQuery`), so a view is a
bookmark, and the web page and the API read the same words with the same errors. A dashboard
page costs three statements whatever the number of domains: the tallies per band (the filter
counts and the total), the page's rows (domains left-joined to their DomainHealth, so domains
never checked are listed too) and the page's tags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import idna
from sqlalchemy import Select, func, or_, select

from app.core.drift import FindingChanges, RecordChange, diff_findings, diff_records
from app.core.findings import FINDING_KINDS, Finding, FindingKind
from app.core.health import BANDS
from app.domains.models import Domain, DomainStatus, DomainTag
from app.extensions import db
from app.monitoring.models import DomainFinding, DomainHealth, HealthSnapshot
from app.pagination import clamped, page_count
from app.web.params import read_params
from app.workspaces.models import Workspace

PAGE_SIZE = 50
UNCHECKED = "unchecked"  # the band filter for domains no sweep has checked yet
BAND_NAMES = tuple(name for name, _ in BANDS)
BAND_FILTERS = (*BAND_NAMES, UNCHECKED)
SORT_KEYS = ("score", "domain", "checked", "change")
DEFAULT_SORT = "score"  # worst first: what needs attention is on the first page
MAX_SEARCH_CHARACTERS = 253  # a domain name
MAX_TAG_CHARACTERS = 50  # DomainTag.tag
SNAPSHOTS_PER_PAGE = 10
RECENTLY_RESOLVED = 20


class QueryError(ValueError):
    """Parameters that do not name a valid view: one plain message per parameter."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__("; ".join(fields.values()))
        self.fields = dict(fields)


@dataclass(frozen=True)
class DashboardQuery:
    band: str | None = None
    code: str | None = None
    tag: str | None = None
    q: str = ""
    sort: str = DEFAULT_SORT  # a key of SORT_KEYS, "-" in front for descending
    page: int = 1

    @property
    def sort_key(self) -> str:
        return self.sort.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    @property
    def filtered(self) -> bool:
        return bool(self.band or self.code or self.tag or self.q)

    def args(self, **changes: object) -> dict[str, object]:
        """URL parameters for this view with `changes`, defaults left out for short bookmarks.
        Changing a filter or the sort goes back to page 1 unless a page is given."""
        if "page" not in changes and changes:
            changes["page"] = 1
        view = replace(self, **changes)
        defaults = DashboardQuery()
        return {name: getattr(view, name) for name in ("band", "code", "tag", "q", "sort", "page")
                if getattr(view, name) != getattr(defaults, name)}

    def sorted_by(self, key: str) -> str:
        """The sort a column header links to: this key, reversed when it is already the sort."""
        if self.sort_key != key:
            return key
        return key if self.descending else f"-{key}"


def parse_query(args: Mapping[str, str]) -> tuple[DashboardQuery, dict[str, str]]:
    """The view `args` ask for, and a message for each parameter that was not valid and was
    left out. Empty values mean "any" (what an untouched form field sends)."""
    values, errors = read_params(args, _READERS)
    return DashboardQuery(**values), errors


def _band(raw: str) -> str:
    band = raw.lower()
    if band not in BAND_FILTERS:
        raise ValueError(f"There is no band “{band[:40]}”; use {', '.join(BAND_FILTERS[:-1])} "
                         f"or {BAND_FILTERS[-1]}.")
    return band


def _code(raw: str) -> str:
    code = raw.upper()
    if code not in FINDING_KINDS:
        raise ValueError(f"There is no finding code “{code[:64]}”; the score page lists every "
                         "code.")
    return code


def _tag(raw: str) -> str:
    if len(raw) > MAX_TAG_CHARACTERS:
        raise ValueError(f"A tag is at most {MAX_TAG_CHARACTERS} characters long.")
    return raw


def _search(raw: str) -> str:
    if len(raw) > MAX_SEARCH_CHARACTERS:
        raise ValueError(f"Search for at most {MAX_SEARCH_CHARACTERS} characters (a domain "
                         "name).")
    return raw


def _sort(raw: str) -> str:
    sort = raw.lower()
    if sort.removeprefix("-") not in SORT_KEYS:
        raise ValueError(f"Sort by {', '.join(SORT_KEYS)}, with a leading - for descending.")
    return sort


def _page(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**31):
        raise ValueError("The page is a whole number from 1.")
    return int(raw)


_READERS = {"band": _band, "code": _code, "tag": _tag, "q": _search, "sort": _sort,
            "page": _page}


def parse_query_strictly(args: Mapping[str, str]) -> DashboardQuery:
    """For the API: a parameter that is not valid is an error, not silently dropped."""
    query, errors = parse_query(args)
    if errors:
        raise QueryError(errors)
    return query


@dataclass(frozen=True)
class DashboardRow:
    """One domain as the dashboard lists it; the health columns are None until checked."""

    domain_id: int
    fqdn: str
    status: DomainStatus
    workspace_id: int
    score: int | None
    band: str | None
    previous_score: int | None
    worst_code: str | None
    worst_severity: str | None
    error_count: int | None
    warning_count: int | None
    checked_at: datetime | None
    changed_at: datetime | None
    workspace_name: str | None = None  # platform view only
    workspace_slug: str | None = None
    tags: tuple[str, ...] = ()

    @property
    def checked(self) -> bool:
        return self.score is not None

    @property
    def change(self) -> int | None:
        """Score points gained (positive) or lost since the check before the last change."""
        if self.score is None or self.previous_score is None:
            return None
        return self.score - self.previous_score

    @property
    def worst_kind(self) -> FindingKind | None:
        return FINDING_KINDS.get(self.worst_code) if self.worst_code else None


@dataclass(frozen=True)
class DashboardPage:
    rows: list[DashboardRow]
    query: DashboardQuery  # with the page clamped to the pages there are
    total: int  # domains matching every filter
    tallies: dict[str, int]  # per band filter, under the other filters
    page_size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return page_count(self.total, self.page_size)

    @property
    def first_number(self) -> int:
        """1-based position of the page's first row (0 on an empty page)."""
        return (self.query.page - 1) * self.page_size + 1 if self.rows else 0

    @property
    def last_number(self) -> int:
        return (self.query.page - 1) * self.page_size + len(self.rows)

    def page_links(self, around: int = 2) -> list[int | None]:
        """Page numbers to link: the first, the last and `around` either side of this one;
        None where numbers are skipped."""
        current, last = self.query.page, self.pages
        shown = sorted({1, last, *range(max(1, current - around),
                                        min(last, current + around) + 1)})
        links: list[int | None] = []
        for number in shown:
            if links and number - (links[-1] or 0) > 1:
                links.append(None)
            links.append(number)
        return links


def dashboard_page(query: DashboardQuery, *, workspace_id: int | None = None,
                   platform: bool = False) -> DashboardPage:
    """One page of the dashboard for a workspace, or for the whole platform when `platform`
    (platform admins only: the caller checks)."""
    if (workspace_id is None) == (not platform):
        raise ValueError("give exactly one of workspace_id and platform=True")
    scope = [] if platform else [Domain.workspace_id == workspace_id]
    shared = [*scope, *_search_filters(query)]
    tallies = _tallies(shared)
    total = tallies[query.band] if query.band else sum(tallies.values())
    query = replace(query, page=clamped(query.page, total, PAGE_SIZE))
    statement = (_rows_statement(platform).where(*shared, *_band_filter(query.band))
                 .order_by(*_order(query)).limit(PAGE_SIZE)
                 .offset((query.page - 1) * PAGE_SIZE))
    rows = [DashboardRow(**row._mapping) for row in db.session.execute(statement)]
    tags = _tags_of([row.domain_id for row in rows])
    rows = [replace(row, tags=tags.get(row.domain_id, ())) for row in rows]
    return DashboardPage(rows=rows, query=query, total=total, tallies=tallies)


def _rows_statement(platform: bool) -> Select:
    columns = [Domain.id.label("domain_id"), Domain.fqdn, Domain.status, Domain.workspace_id,
               DomainHealth.score, DomainHealth.band, DomainHealth.previous_score,
               DomainHealth.worst_code, DomainHealth.worst_severity, DomainHealth.error_count,
               DomainHealth.warning_count, DomainHealth.checked_at, DomainHealth.changed_at]
    if platform:
        columns += [Workspace.name.label("workspace_name"),
                    Workspace.slug.label("workspace_slug")]
    statement = select(*columns).outerjoin(DomainHealth, DomainHealth.domain_id == Domain.id)
    if platform:
        statement = statement.join(Workspace, Workspace.id == Domain.workspace_id)
    return statement


def _search_filters(query: DashboardQuery) -> list:
    """Every filter but the band's (the band tallies are counted under these)."""
    filters = []
    if query.code:
        filters.append(Domain.id.in_(select(DomainFinding.domain_id).where(
            DomainFinding.code == query.code, DomainFinding.resolved_at.is_(None))))
    if query.tag:
        filters.append(Domain.id.in_(select(DomainTag.domain_id).where(
            DomainTag.tag == query.tag)))
    if query.q:
        needles = search_needles(query.q)
        filters.append(or_(*(Domain.fqdn.contains(needle, autoescape=True)
                                for needle in needles)))
    return filters


def search_needles(text: str) -> list[str]:
    """Names are stored as A-labels: `bücher` is also looked for as `xn--bcher-kva`."""
    needles = [text.lower()]
    if not text.isascii():
        try:
            needles.append(idna.encode(text.lower(), uts46=True).decode("ascii"))
        except (idna.IDNAError, UnicodeError):
            pass  # not a whole name: the plain text is all there is to look for
    return needles


def _band_filter(band: str | None) -> list:
    if band is None:
        return []
    if band == UNCHECKED:
        return [DomainHealth.domain_id.is_(None)]
    return [DomainHealth.band == band]


def _tallies(filters: Sequence) -> dict[str, int]:
    counted = db.session.execute(
        select(DomainHealth.band, func.count()).select_from(Domain)
        .outerjoin(DomainHealth, DomainHealth.domain_id == Domain.id)
        .where(*filters).group_by(DomainHealth.band))
    tallies = dict.fromkeys(BAND_FILTERS, 0)
    for band, number in counted:
        tallies[band or UNCHECKED] = tallies.get(band or UNCHECKED, 0) + number
    return tallies


def _order(query: DashboardQuery) -> list:
    column = {"score": DomainHealth.score, "domain": Domain.fqdn,
              "checked": DomainHealth.checked_at,
              "change": DomainHealth.score - DomainHealth.previous_score}[query.sort_key]
    # Domains never checked (no score, no change) come last whichever way the list is sorted.
    ordered = (column.desc() if query.descending else column.asc()).nulls_last()
    return [ordered, Domain.fqdn, Domain.id]


def _tags_of(domain_ids: list[int]) -> dict[int, tuple[str, ...]]:
    if not domain_ids:
        return {}
    tags: dict[int, list[str]] = {}
    for domain_id, tag in db.session.execute(
            select(DomainTag.domain_id, DomainTag.tag)
            .where(DomainTag.domain_id.in_(domain_ids)).order_by(DomainTag.tag)):
        tags.setdefault(domain_id, []).append(tag)
    return {domain_id: tuple(names) for domain_id, names in tags.items()}


def tag_choices(*, workspace_id: int | None = None, platform: bool = False) -> list[str]:
    """Every tag in use, for the dashboard's tag filter."""
    if (workspace_id is None) == (not platform):
        raise ValueError("give exactly one of workspace_id and platform=True")
    statement = select(DomainTag.tag).distinct().order_by(DomainTag.tag)
    if not platform:
        statement = statement.where(DomainTag.workspace_id == workspace_id)
    return list(db.session.scalars(statement))


# --- one domain ------------------------------------------------------------------------------


def domain_health(domain: Domain) -> DomainHealth | None:
    """The domain's latest health; None before its first check."""
    return db.session.get(DomainHealth, domain.id)


def resolved_findings(domain: Domain, limit: int = RECENTLY_RESOLVED) -> list[DomainFinding]:
    """The most recently resolved findings, newest first."""
    return list(db.session.scalars(
        select(DomainFinding).where(DomainFinding.domain_id == domain.id,
                                    DomainFinding.resolved_at.is_not(None))
        .order_by(DomainFinding.resolved_at.desc(), DomainFinding.id.desc()).limit(limit)))


@dataclass(frozen=True)
class SnapshotChange:
    """One stored snapshot and what differs from the one before it (None: the first)."""

    snapshot: HealthSnapshot
    previous_score: int | None
    records: list[RecordChange] = field(default_factory=list)
    findings: FindingChanges = field(default_factory=FindingChanges)
    first: bool = False


@dataclass(frozen=True)
class SnapshotPage:
    changes: list[SnapshotChange]
    page: int
    pages: int
    total: int


def snapshot_history(domain: Domain, page: int = 1,
                     per_page: int = SNAPSHOTS_PER_PAGE) -> SnapshotPage:
    """Newest first, each with its diff against the snapshot before it (one more is read past
    the page for the last one's diff)."""
    total = db.session.scalar(select(func.count()).select_from(HealthSnapshot)
                              .where(HealthSnapshot.domain_id == domain.id)) or 0
    pages = page_count(total, per_page)
    page = clamped(page, total, per_page)
    snapshots = list(db.session.scalars(
        select(HealthSnapshot).where(HealthSnapshot.domain_id == domain.id)
        .order_by(HealthSnapshot.taken_at.desc(), HealthSnapshot.id.desc())
        .limit(per_page + 1).offset((page - 1) * per_page)))
    changes = []
    for index, snapshot in enumerate(snapshots[:per_page]):
        before = snapshots[index + 1] if index + 1 < len(snapshots) else None
        if before is None:
            changes.append(SnapshotChange(snapshot, None, first=True))
            continue
        changes.append(SnapshotChange(
            snapshot, before.score,
            records=diff_records(before.records or {}, snapshot.records or {}),
            findings=diff_findings(_stored_findings(before), _stored_findings(snapshot))))
    return SnapshotPage(changes=changes, page=page, pages=pages, total=total)


def _stored_findings(snapshot: HealthSnapshot) -> list[Finding]:
    return [Finding.from_dict(found) for found in snapshot.findings or []]
