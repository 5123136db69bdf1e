"""Server-side pages: how many there are, which one to show, and one page of a query.

Every paginated list (audit log, alert deliveries, dashboard, tree, snapshot history) counts
and clamps the same way: a page past the end shows the last one, so the offset always stays
within what the database accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Select, func, select

from app.extensions import db

T = TypeVar("T")


def page_count(total: int, per_page: int) -> int:
    """At least one page, even for an empty list."""
    return max(1, -(-total // per_page))


def clamped(page: int, total: int, per_page: int) -> int:
    """The page to show for a requested page number: 1 … page_count."""
    return min(max(1, page), page_count(total, per_page))


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return page_count(self.total, self.per_page)


def paginate(query: Select, page: int, per_page: int) -> Page:
    """One page of an ordered ORM query, with the total it was taken from."""
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = clamped(page, total, per_page)
    items = list(db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    return Page(items, page, per_page, total)
