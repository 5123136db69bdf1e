"""The JSON API under /api/v1: bearer-token auth, one error shape, OpenAPI from the code."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from app.api.schemas import ErrorResponse


class PortalApi(Api):
    """flask-smorest's Api, minus its app-wide HTML-unaware error handler.

    Errors are rendered by `app.web.errors`, which answers `/api/` requests with
    `{"error": {"code", "message"}}` and everything else with an HTML page.
    """

    ERROR_SCHEMA = ErrorResponse  # so the documented error bodies are the ones we send

    def _register_error_handlers(self):
        return None


def register_api(app: Flask) -> None:
    from app.api.account import bp as account_bp
    from app.api.alerts import bp as alerts_bp
    from app.api.docs import bp as docs_bp
    from app.api.domains import bp as domains_bp
    from app.api.email_accounts import bp as email_accounts_bp
    from app.api.events import bp as events_bp
    from app.api.health import bp as health_bp
    from app.api.subdomains import bp as subdomains_bp
    from app.api.tracking import bp as tracking_bp
    from app.api.tree import bp as tree_bp
    from app.extensions import csrf

    api = PortalApi(app, spec_kwargs={
        "info": {"description": "Manage sending domains, keys and workspaces. Authenticate "
                                "with `Authorization: Bearer <token>`; create tokens under "
                                "Settings → API tokens or with `flask tokens create`."},
        "servers": [{"url": "/"}],
    })
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "An API token."})
    api.spec.options["security"] = [{"bearerAuth": []}]
    for blueprint in (account_bp, domains_bp, email_accounts_bp, health_bp, alerts_bp,
                      tracking_bp, subdomains_bp, tree_bp, events_bp):
        csrf.exempt(blueprint)  # bearer tokens, never cookies: CSRF does not apply
        api.register_blueprint(blueprint)
    app.register_blueprint(docs_bp)
    app.extensions["portal_api"] = api
