"""Migrations build the whole schema on an empty PostgreSQL database, and the models have not
drifted from them (what CI's `flask db check` would say)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import inspect

from portal import create_app
from portal.extensions import db
from tests.conftest import need
from tests.support.services import fresh_postgres_database


@pytest.fixture(scope="module")
def migrated_app():
    need("postgresql")
    app = create_app(
        "testing", SQLALCHEMY_DATABASE_URI=fresh_postgres_database("portal_test_migrations")
    )
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.mark.postgres
def test_upgrade_head_creates_every_table(migrated_app):
    tables = set(inspect(db.engine).get_table_names())
    assert set(db.metadata.tables) <= tables
    assert "alembic_version" in tables


@pytest.mark.postgres
def test_models_have_no_drift_from_migrations(migrated_app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], "models changed without a migration: run `flask db migrate` and review it"


@pytest.mark.postgres
def test_path_prefix_index_uses_pattern_ops(migrated_app):
    from sqlalchemy import text

    indexdef = db.session.execute(
        text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_channel_links_brand_id_path'")
    ).scalar_one()
    assert "text_pattern_ops" in indexdef
