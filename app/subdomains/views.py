"""The domain tree: domains and their subdomains, loaded a level at a time.

The first paint draws only a page of top-level domains; a node's children arrive when it is
opened (an HTMX request aimed at `#children-<id>`), and "show more" asks for the next page
of a level (aimed at `#more-<id>`). With JavaScript off the same URLs answer with full pages:
a node's children as a page of their own, the next page of a level as a page.
"""

from __future__ import annotations

from flask import flash, g, redirect, request, url_for

from app.domains import tags
from app.domains.models import Domain
from app.errors import AppError
from app.monitoring.queries import BAND_FILTERS
from app.subdomains import bulk, tree
from app.uow import commit
from app.web.rendering import Deferred, render_page, targets
from app.workspaces.context import workspace_blueprint

bp = workspace_blueprint("tree", __name__, "/tree")

TREE_TARGET = "tree"
BULK_TARGET = "tree-bulk-result"
TOP = "top"  # the `more-…` id of the top level's "show more"


def _query() -> tuple[tree.TreeFilters, dict[str, str], int]:
    filters, errors = tree.parse_filters(request.args)
    return filters, errors, tree.page_number(request.args.get("page"))


def _page_context(filters: tree.TreeFilters, shown: set[int], selected: frozenset[int],
                  bulk_form: dict | None) -> dict:
    """What the full pages draw around the tree: filter choices and the bulk-action bar,
    which keeps (hidden) the ticked domains the page does not show."""
    workspace_id = g.workspace.id
    return {"filters": filters, "selected": selected, "bulk_form": bulk_form or {},
            "hidden_selected": sorted(selected - shown),
            "tag_choices": Deferred(lambda: tags.tags_in(workspace_id)),
            "group_choices": Deferred(lambda: tags.groups_in(workspace_id)),
            "statuses": tree.STATUSES, "bands": BAND_FILTERS, "actions": bulk.ACTIONS}


def _tree_page(status: int = 200, selected: frozenset[int] = frozenset(),
               bulk_form: dict | None = None):
    filters, errors, page = _query()
    found = tree.tree_page(g.workspace.id, filters, page)
    if targets(f"more-{TOP}"):
        return render_page("subdomains/_level.html", level=found.top, filters=filters,
                           selected=selected)
    return render_page("subdomains/index.html", fragment="subdomains/_tree.html",
                       target=TREE_TARGET, status=status, found=found, errors=errors,
                       **_page_context(filters, found.node_ids, selected, bulk_form))


def _children_page(parent: Domain, status: int = 200, selected: frozenset[int] = frozenset(),
                   bulk_form: dict | None = None):
    filters, errors, page = _query()
    level = tree.level(g.workspace.id, parent.id, filters, page)
    if targets(f"more-{parent.id}"):
        return render_page("subdomains/_level.html", level=level, filters=filters,
                           selected=selected)
    if targets(f"children-{parent.id}"):
        return render_page("subdomains/_children.html", level=level, filters=filters,
                           selected=selected)
    return render_page("subdomains/children.html", status=status, parent=parent, level=level,
                       errors=errors, node=tree.node(parent), ancestors=tree.ancestors(parent),
                       **_page_context(filters, {node.id for node in level.nodes}, selected,
                                       bulk_form))


@bp.route("/")
def index():
    return _tree_page()


@bp.route("/<int:domain_id>/children")
def children(domain_id: int):
    return _children_page(Domain.get_for(g.workspace.id, domain_id))


def _row_id(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**31 else None


@bp.route("/bulk", methods=["POST"])
def bulk_action():
    """Set a group or add a tag on the ticked domains. An HTMX post gets a status line and
    the changed nodes' tags and group swapped in place, so the selection and every opened
    node stay; a plain post goes back to the page it came from (the tree, or a domain's
    subdomains), which keeps the selection when the action was refused."""
    ids = request.form.getlist("domain_ids")
    action, value = request.form.get("action", ""), request.form.get("value", "")
    parent_id = _row_id(request.form.get("parent", ""))
    parent = Domain.get_for(g.workspace.id, parent_id) if parent_id else None
    filter_args = _query()[0].args()
    back = (url_for(".children", domain_id=parent.id, **filter_args) if parent
            else url_for(".index", **filter_args))
    try:
        result = bulk.apply(g.actor, action, ids, value)
    except AppError as error:
        if targets(BULK_TARGET):
            return render_page("subdomains/_bulk_result.html", status=error.status, error=error)
        flash(error.message, "error")
        if error.code == bulk.NOTHING_SELECTED:
            return redirect(back)  # nothing was ticked, so nothing to keep on the page
        kept = frozenset(filter(None, map(_row_id, ids)))
        form = {"action": action, "value": value}
        if parent:
            return _children_page(parent, error.status, kept, form)
        return _tree_page(error.status, kept, form)
    commit()
    if targets(BULK_TARGET):
        return render_page("subdomains/_bulk_result.html", result=result,
                           tags_by_domain=tree.tags_of([d.id for d in result.domains]))
    flash(result.message, "success")
    return redirect(back)
