"""PenguinMails Domains: the sending-domain management portal."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask

from app.config import load_settings
from app.extensions import csrf, db, htmx, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(overrides: dict | None = None) -> Flask:
    """Build the app: settings from the environment, then `overrides` (tests) over them."""
    settings = load_settings()
    app = Flask(
        __name__,
        instance_path=str(settings.instance_path),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(settings.as_flask_config())
    if overrides:
        app.config.update(overrides)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.debug and not app.testing:
        app.logger.setLevel(logging.INFO)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)

    from app import models  # noqa: F401  (every table registered before Alembic looks)
    from app.web import register_web

    register_web(app)

    from app.api import register_api

    register_api(app)

    from app.cli import register_cli

    register_cli(app)
    return app
