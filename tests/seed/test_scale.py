"""`flask seed scale`: where it refuses to run, and what the generated network holds (smoke
sizes, on a PostgreSQL database of its own)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from portal import create_app
from portal.extensions import db
from portal.inventory.services import check_ledger
from portal.ordering.transitions import TABLE, EventKind
from portal.seed.scale import PRESETS, SCALE_PASSWORD
from tests.conftest import need
from tests.support import services as svc


def run_seed(app, *args: str):
    return app.test_cli_runner().invoke(args=["seed", "scale", "--preset", "smoke", *args])


@pytest.fixture
def sqlite_app(tmp_path):
    return create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'x.db'}")


def test_refused_on_sqlite(sqlite_app):
    result = run_seed(sqlite_app)
    assert result.exit_code != 0
    assert "needs PostgreSQL" in result.output


def test_refused_in_production_even_with_force(sqlite_app):
    sqlite_app.config["PORTAL_ENV"] = "production"
    result = run_seed(sqlite_app, "--force")
    assert result.exit_code != 0
    assert "PORTAL_ENV=production" in result.output


@pytest.fixture(scope="module")
def scale_app():
    need("postgresql")
    url = svc.fresh_postgres_database("portal_scale")
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, REDIS_URL=None)
    with app.app_context():
        db.create_all()
        db.session.remove()
    yield app
    with app.app_context():
        db.engine.dispose()


def scalar(sql: str) -> int:
    return db.session.execute(text(sql)).scalar_one()


@pytest.mark.postgres
def test_smoke_network_is_whole_and_consistent(scale_app):
    result = run_seed(scale_app)
    assert result.exit_code == 0, result.output
    sizes = PRESETS["smoke"]
    with scale_app.app_context():
        assert scalar("SELECT count(*) FROM organizations") == (
            sizes.brands + sizes.distributors + sizes.stores
        )
        assert (
            scalar("SELECT count(*) FROM variants") == sizes.products * sizes.colors * sizes.sizes
        )
        # the ledger adds up to every level, and nothing holds more than it has
        assert check_ledger() == []
        # one account per link; committed is exactly the open orders' total
        assert scalar("SELECT count(*) FROM accounts") == scalar(
            "SELECT count(*) FROM channel_links"
        )
        assert (
            scalar(
                "SELECT count(*) FROM accounts a WHERE committed_cents <> COALESCE((SELECT "
                "sum(total_cents) FROM orders o WHERE o.link_id = a.link_id AND o.status = "
                "'confirmed'), 0)"
            )
            == 0
        )
        assert scalar("SELECT count(*) FROM orders WHERE status = 'confirmed'") > 0
        # each published version reached the orgs it says it reached
        assert scalar("SELECT sum(targeted_count) FROM policy_versions") == scalar(
            "SELECT count(*) FROM notifications"
        )
        # history covers the window: sales in the last week and in the first
        assert (
            scalar(
                "SELECT count(*) FROM stock_moves WHERE reason = 'sale' "
                "AND created_at > now() - interval '7 days'"
            )
            > 0
        )
        assert (
            scalar(
                f"SELECT count(*) FROM stock_moves WHERE reason = 'sale' "
                f"AND created_at < now() - interval '{sizes.days - 7} days'"
            )
            > 0
        )
        # the portal goes on numbering after the loaded rows
        last = scalar("SELECT max(id) FROM orders")
        assert scalar("SELECT nextval(pg_get_serial_sequence('orders', 'id'))") == last + 1

    # A generated store signs in and sees its brand's catalog with resolved prices and stock.
    client = scale_app.test_client()
    token = client.post(
        "/api/v1/auth/token", json={"email": "s00002@scale.test", "password": SCALE_PASSWORD}
    ).get_json()["token"]
    body = client.get(
        "/api/v1/catalog?brand=B01&per_page=50", headers={"Authorization": f"Bearer {token}"}
    ).get_json()
    priced = [v for item in body["items"] for v in item["variants"] if v["price_cents"]]
    assert priced and any(sku["available"] for sku in priced)


@pytest.mark.postgres
def test_same_seed_same_data_and_foreign_data_needs_force(scale_app):
    def fingerprint() -> tuple:
        with scale_app.app_context():
            return tuple(
                db.session.execute(
                    select(func.count(), func.sum(text("on_hand"))).select_from(
                        text("stock_levels")
                    )
                ).one()
            ) + (scalar("SELECT sum(total_cents) FROM orders"),)

    assert run_seed(scale_app).exit_code == 0
    first = fingerprint()
    assert run_seed(scale_app).exit_code == 0  # generated data may be replaced without --force
    assert fingerprint() == first

    with scale_app.app_context():
        db.session.execute(
            text(
                "INSERT INTO organizations (kind, code, name, region, address, currency, status,"
                " created_at, updated_at) VALUES ('brand', 'REAL', 'A real brand', '', '', 'CNY',"
                " 'active', now(), now())"
            )
        )
        db.session.commit()
    refused = run_seed(scale_app)
    assert refused.exit_code != 0
    assert "--force" in refused.output
    with scale_app.app_context():
        assert scalar("SELECT count(*) FROM organizations WHERE code = 'REAL'") == 1  # untouched
    assert run_seed(scale_app, "--force").exit_code == 0
    with scale_app.app_context():
        assert scalar("SELECT count(*) FROM organizations WHERE code = 'REAL'") == 0


@pytest.mark.postgres
def test_order_timelines_are_written_as_the_order_services_write_them(scale_app):
    assert run_seed(scale_app).exit_code == 0
    moves = {(m.from_status, m.event.value, m.to_status.value) for m in TABLE}
    with scale_app.app_context():
        events = db.session.execute(
            text(
                "SELECT e.from_status, e.kind, e.to_status, e.actor_user_id, e.actor_org_id,"
                " e.details::text, o.buyer_org_id, o.supplier_org_id FROM order_events e"
                " JOIN orders o ON o.id = e.order_id"
            )
        ).all()
        assert events
        kinds = {kind for _f, kind, *_rest in events}
        assert kinds <= {k.value for k in EventKind}
        assert {EventKind.SUBMITTED, EventKind.APPROVED, EventKind.SHIPPED} <= kinds
        for before, kind, after, user, org, details, buyer, supplier in events:
            assert (before, kind, after) in moves  # a move of the order's own table
            by_buyer = kind in (EventKind.SUBMITTED, EventKind.RECEIVED)
            assert org == user == (buyer if by_buyer else supplier)
            assert details != "{}"
        # each order's last event leaves it in the status it has
        assert (
            scalar(
                "SELECT count(*) FROM orders o WHERE o.status <> (SELECT e.to_status FROM"
                " order_events e WHERE e.order_id = o.id ORDER BY e.id DESC LIMIT 1)"
            )
            == 0
        )
