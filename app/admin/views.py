"""Platform administration: the RQ dashboard, for platform admins only."""

from __future__ import annotations

import rq_dashboard
from flask import Flask, abort, request
from flask_login import current_user

from app.extensions import csrf, login_manager


def register_admin(app: Flask) -> None:
    app.config.setdefault("RQ_DASHBOARD_REDIS_URL", app.config["REDIS_URL"])
    rq_dashboard.web.setup_rq_connection(app)

    @app.before_request
    def platform_admins_only():
        if request.blueprint != rq_dashboard.blueprint.name:
            return None
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not current_user.is_platform_admin:
            abort(404)

    # The dashboard's own jQuery posts carry no CSRF token; SameSite=Lax session cookies
    # keep cross-site posts from being authenticated, and only platform admins get here.
    csrf.exempt(rq_dashboard.blueprint)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix="/admin/rq")
