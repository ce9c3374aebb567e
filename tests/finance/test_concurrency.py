"""Real concurrency, no mocks: one bank transfer recorded by several people at once is recorded
once. Each thread has its own app context, session and transaction on a committed database built
for the test (PostgreSQL: a fresh database; SQLite: a file in tmp_path)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event, func, select

from portal import create_app
from portal.core.access import Actor
from portal.core.db import writing
from portal.core.errors import ValidationFailed
from portal.extensions import db
from portal.finance import services
from portal.finance.models import Account, AccountEntry
from tests.conftest import need
from tests.support.policy import build_network
from tests.support.services import fresh_postgres_database

CLERKS = 8
SYSTEM = Actor.system()


def _build(url: str):
    """A committed database with a brand, its distributor A1 and A1's account."""
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, REDIS_URL=None)
    with app.app_context():
        db.create_all()
        net = build_network("FC")
        account_id = services.ensure_account(net.links["A1"]).id
        db.session.commit()
        db.session.remove()
    return app, account_id


def _slow_duplicate_checks(app, seconds: float = 0.05):
    """Hold each clerk between its duplicate check and its insert: without the account's lock,
    every clerk would find no earlier payment and all would record it."""
    with app.app_context():
        engine = db.engine

    def pause(conn, cursor, statement, parameters, context, executemany):
        text = statement.lstrip().upper()
        if text.startswith("SELECT ACCOUNT_ENTRIES.ID") and "REFERENCE" in text:
            time.sleep(seconds)

    event.listen(engine, "after_cursor_execute", pause)
    return lambda: event.remove(engine, "after_cursor_execute", pause)


def _record_at_once(app, account_id: int) -> list[str]:
    start = threading.Barrier(CLERKS)

    def record(index: int) -> str:
        with app.app_context(), writing():
            try:
                start.wait()
                account = db.session.get(Account, account_id)
                services.record_payment(
                    SYSTEM, account, amount_cents=10_000, reference="ICBC-0001", note=str(index)
                )
                db.session.commit()
                return "ok"
            except ValidationFailed as error:
                db.session.rollback()
                return "duplicate" if set(error.fields) == {"reference"} else repr(error)
            except Exception as error:  # noqa: BLE001 - reported, never hidden
                db.session.rollback()
                return repr(error)
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=CLERKS) as pool:
        return list(pool.map(record, range(CLERKS)))


def _payments(app, account_id: int) -> int:
    with app.app_context():
        count = db.session.execute(
            select(func.count(AccountEntry.id)).where(AccountEntry.account_id == account_id)
        ).scalar_one()
        db.session.remove()
        return count


@pytest.fixture
def committed(request, tmp_path) -> Iterator:
    if request.param == "postgresql":
        need("postgresql")
        url = fresh_postgres_database("fin_race")
    else:
        url = f"sqlite:///{tmp_path / 'race.db'}"
    app, account_id = _build(url)
    yield app, account_id
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    "committed",
    [pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"],
    indirect=True,
)
def test_one_transfer_recorded_by_several_clerks_at_once_is_recorded_once(committed):
    app, account_id = committed
    undo = _slow_duplicate_checks(app)
    try:
        outcomes = _record_at_once(app, account_id)
    finally:
        undo()
    assert sorted(outcomes) == ["duplicate"] * (CLERKS - 1) + ["ok"]
    assert _payments(app, account_id) == 1
