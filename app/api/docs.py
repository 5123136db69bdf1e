"""A human-readable page rendered from the same OpenAPI document the API serves."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

bp = Blueprint("api_docs", __name__)


@bp.route("/api/v1/docs")
def docs():
    spec = current_app.extensions["portal_api"].spec.to_dict()
    return render_template("api/docs.html", spec=spec)
