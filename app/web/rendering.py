"""One URL, two renderings: the full page, or just the fragment an HTMX request targets.

A boosted navigation also sends `HX-Request`, so the choice looks at `HX-Target`:
only a request aimed at the fragment's element gets the fragment.
"""

from __future__ import annotations

from flask import render_template, request

HTMX_VARY = ("HX-Request", "HX-Target", "HX-Trigger")


def targets(element_id: str) -> bool:
    return bool(request.htmx) and not request.htmx.boosted and request.htmx.target == element_id


def render_page(template_name: str, *, fragment: str | None = None, target: str | None = None,
                status: int = 200, **context):
    template = fragment if fragment and target and targets(target) else template_name
    return render_template(template, **context), status
