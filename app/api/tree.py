"""The domain tree over the API, to a chosen depth."""

from __future__ import annotations

import marshmallow as ma

from app.api.auth import api_blueprint
from app.api.domains import domain_in_workspace
from app.api.schemas import ErrorResponse, QueryArgs
from app.domains.models import DomainStatus
from app.subdomains import tree

bp = api_blueprint("api_tree", __name__, url_prefix="/api/v1",
                   description="The domain tree over the API, to a chosen depth.")


class TreeArgs(QueryArgs):
    depth = ma.fields.Integer(
        load_default=1,
        validate=ma.validate.Range(min=1, max=tree.MAX_DEPTH,
                                   error="The depth is a whole number from {min} to {max}."),
        metadata={"description": f"Levels of subdomains to include, 1 to {tree.MAX_DEPTH}."})


class TreeNodeOut(ma.Schema):
    id = ma.fields.Integer()
    fqdn = ma.fields.String(metadata={"description": "Lower-case, IDNA A-label."})
    status = ma.fields.Enum(DomainStatus, by_value=True)
    parent_id = ma.fields.Integer(allow_none=True)
    score = ma.fields.Integer(allow_none=True, metadata={
        "description": "DNS health score from the latest check; null before the first."})
    band = ma.fields.String(allow_none=True, metadata={
        "description": "healthy, warning or critical; null before the first check."})
    tags = ma.fields.List(ma.fields.String())
    group = ma.fields.String(allow_none=True)
    child_count = ma.fields.Integer(metadata={"description": "Direct subdomains, all of them."})
    children = ma.fields.List(ma.fields.Nested(lambda: TreeNodeOut()), allow_none=True, metadata={
        "description": "Direct subdomains by name, each a node like this one; null below the "
                       "depth asked for (then `child_count` says whether there are any)."})


@bp.route("/domains/<int:domain_id>/tree", methods=["GET"])
@bp.arguments(TreeArgs, location="query")
@bp.response(200, TreeNodeOut)
@bp.alt_response(404, response="NOT_FOUND")
@bp.alt_response(422, schema=ErrorResponse, description="`depth` is not 1 to "
                 f"{tree.MAX_DEPTH}, or the subtree to that depth holds more than "
                 f"{tree.MAX_API_NODES} domains (`tree_too_large`).")
def domain_tree(args: dict, domain_id: int):
    """The domain with its subdomains nested `depth` levels down (default 1)."""
    return tree.subtree(domain_in_workspace(domain_id), args["depth"]).to_dict()
