"""One URL, two renderings: the full page, or just the fragment an HTMX request targets.

A boosted navigation also sends `HX-Request`, so the choice looks at `HX-Target`:
only a request aimed at the fragment's element gets the fragment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from functools import cached_property

from flask import render_template, request
from markupsafe import Markup

HTMX_VARY = ("HX-Request", "HX-Target", "HX-Trigger")


class Deferred:
    """A list loaded the first time a template iterates it.

    For context only the full page draws (workspace switcher, filter choices): a fragment
    or a page that never looks at it does not pay for the query.
    """

    def __init__(self, load: Callable[[], Iterable]):
        self._load = load

    @cached_property
    def items(self) -> list:
        return list(self._load())

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def timestamp(moment: datetime | None) -> Markup:
    """A `<time>` element for a UTC datetime; a filter, not a macro: it runs once per table
    row, and Jinja macro calls cost several times more than a Python call."""
    if moment is None:
        return Markup('<span class="muted">never</span>')
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        moment.isoformat(), moment.strftime("%Y-%m-%d %H:%M:%S UTC"),
        moment.strftime("%Y-%m-%d %H:%M"))


def targets(element_id: str) -> bool:
    return bool(request.htmx) and not request.htmx.boosted and request.htmx.target == element_id


def render_page(template_name: str, *, fragment: str | None = None, target: str | None = None,
                status: int = 200, **context):
    template = fragment if fragment and target and targets(target) else template_name
    return render_template(template, **context), status
