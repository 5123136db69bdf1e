"""The browser-facing side: blueprints, error pages, security headers, template globals."""

from __future__ import annotations

from itertools import chain

from flask import Flask, g, request
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from app.errors import AppError
from app.extensions import db, login_manager
from app.web.errors import register_error_handlers
from app.web.rendering import HTMX_VARY, Deferred, timestamp


def register_web(app: Flask) -> None:
    from app.admin.views import register_admin
    from app.audit.views import bp as audit_bp
    from app.auth.token_views import bp as tokens_bp
    from app.auth.views import bp as auth_bp
    from app.domains.account_views import bp as accounts_bp
    from app.domains.key_views import bp as dkim_keys_bp
    from app.domains.views import bp as domains_bp
    from app.health.views import bp as health_bp
    from app.monitoring.alert_views import bp as alerts_bp
    from app.monitoring.views import bp as monitoring_bp
    from app.reputation.views import bp as reputation_bp
    from app.subdomains.views import bp as tree_bp
    from app.tracking.public import bp as tracking_public_bp
    from app.tracking.views import bp as tracking_bp
    from app.workspaces.views import bp as workspaces_bp
    from app.workspaces.views import workspace_bp

    trusted_proxies = app.config["TRUSTED_PROXIES"]
    if trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted_proxies, x_proto=trusted_proxies)

    # Before any rule is added: every `<int:…>` in a URL is then a row id the database can hold.
    app.url_map.converters["int"] = RowIdConverter
    for blueprint in (auth_bp, workspaces_bp, workspace_bp, domains_bp, accounts_bp, dkim_keys_bp,
                      tokens_bp, audit_bp, health_bp, monitoring_bp, alerts_bp, tracking_bp,
                      tracking_public_bp, tree_bp, reputation_bp):
        app.register_blueprint(blueprint)
    register_admin(app)

    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str):
        from app.auth.models import User

        return db.session.get(User, int(user_id)) if user_id.isdigit() else None

    app.add_template_filter(timestamp)

    @app.context_processor
    def layout_globals():
        workspaces = Deferred(current_user.workspaces) if current_user.is_authenticated else []
        return {"my_workspaces": workspaces, "workspace": g.get("workspace"),
                "membership": g.get("membership")}

    @app.before_request
    def refuse_nul_characters():
        # PostgreSQL text cannot hold U+0000; say so here instead of failing in the database.
        values = chain([request.path], *request.args.listvalues(), *request.form.listvalues())
        if any("\x00" in value for value in values):
            raise AppError("The request contains a NUL character (\\0), which no field accepts.",
                           code="nul_character")

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.mimetype == "text/html":
            response.vary.update(HTMX_VARY)
            if not request.path.startswith("/admin/rq"):
                response.headers.setdefault(
                    "Content-Security-Policy",
                    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                    "script-src 'self'; frame-ancestors 'none'; form-action 'self'",
                )
        return response

    register_error_handlers(app)


class RowIdConverter(IntegerConverter):
    """`<int:…>` bounded to the database's integer range: a larger id is a 404, not a
    500 from the database."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)
