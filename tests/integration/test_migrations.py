"""The schema comes from the migrations: on PostgreSQL and SQLite they build exactly the models.

Each test gets its own empty database (a scratch PostgreSQL database or a fresh SQLite file)
and an app pointed at it through `DATABASE_URL`, as `flask db upgrade` would see it.
"""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from app import ROOT, create_app
from app.extensions import db

pytestmark = [pytest.mark.no_transaction,
              pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])]


@pytest.fixture
def fresh_app(dialect, scratch_databases, monkeypatch, tmp_path):
    """An app on an empty database of `dialect`, inside its app context."""
    monkeypatch.setenv("DATABASE_URL", scratch_databases.create(dialect, prefix="pm_migr"))
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({"TESTING": True})
    with app.app_context():
        assert db.engine.dialect.name == dialect
        yield app
        db.session.remove()
        db.engine.dispose()  # the scratch database can only be dropped once nobody is connected


def head_and_previous() -> tuple[str, str | None]:
    scripts = ScriptDirectory(str(ROOT / "migrations"))
    head = scripts.get_revision(scripts.get_current_head())
    return head.revision, head.down_revision


def current_revision() -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def schema_differences() -> list:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, db.metadata)


def app_tables() -> set[str]:
    return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_upgrade_builds_every_model_table_with_its_columns(fresh_app):
    upgrade()
    assert current_revision() == head_and_previous()[0]
    inspector = inspect(db.engine)
    assert app_tables() == set(db.metadata.tables)
    for name, table in db.metadata.tables.items():
        columns = {c["name"]: c["nullable"] for c in inspector.get_columns(name)}
        assert columns == {c.name: c.nullable for c in table.columns}, name


def test_the_migrated_schema_matches_the_models(fresh_app):
    upgrade()
    assert schema_differences() == []


def test_downgrading_one_revision_and_upgrading_again_round_trips(fresh_app):
    upgrade()
    head, previous = head_and_previous()
    downgrade(revision="-1")
    assert current_revision() == previous
    if previous is None:
        assert app_tables() == set()
    upgrade()
    assert current_revision() == head
    assert schema_differences() == []


def test_upgrade_twice_is_a_no_op(fresh_app):
    upgrade()
    upgrade()
    assert current_revision() == head_and_previous()[0]
