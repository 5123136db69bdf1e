"""The browser-facing side: blueprints, error pages, security headers, template globals."""

from __future__ import annotations

from flask import Flask, g, request
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

from app.extensions import db, login_manager
from app.web.errors import register_error_handlers
from app.web.rendering import HTMX_VARY


def register_web(app: Flask) -> None:
    from app.admin.views import register_admin
    from app.audit.views import bp as audit_bp
    from app.auth.token_views import bp as tokens_bp
    from app.auth.views import bp as auth_bp
    from app.health.views import bp as health_bp
    from app.workspaces.views import bp as workspaces_bp
    from app.workspaces.views import workspace_bp

    trusted_proxies = app.config["TRUSTED_PROXIES"]
    if trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted_proxies, x_proto=trusted_proxies)

    for blueprint in (auth_bp, workspaces_bp, workspace_bp, tokens_bp, audit_bp, health_bp):
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

    @app.context_processor
    def layout_globals():
        workspaces = current_user.workspaces() if current_user.is_authenticated else []
        return {"my_workspaces": workspaces, "workspace": g.get("workspace"),
                "membership": g.get("membership")}

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
