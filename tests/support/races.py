"""Scaffolding for tests that race real threads against a committed database: an app of its own
on a fresh database (PostgreSQL, or a SQLite file), and works let go together, each in its own
thread, app context, session and transaction."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from flask import Flask

from portal import create_app
from portal.core.db import writing
from portal.core.errors import PortalError
from portal.extensions import db
from tests.conftest import need
from tests.support.services import fresh_postgres_database


def race_app(backend: str, tmp_path: Path, name: str, *, pool_size: int = 20) -> Flask:
    """An app on a database of its own with the schema made: a fresh PostgreSQL database
    (`name`) or a SQLite file; enough connections for every racer."""
    if backend == "postgresql":
        need("postgresql")
        url = fresh_postgres_database(name)
    else:
        url = f"sqlite:///{tmp_path / 'race.db'}"
    app = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=url,
        REDIS_URL=None,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": pool_size, "max_overflow": 0, "pool_timeout": 120},
    )
    with app.app_context():
        db.create_all()
    return app


def in_own_transaction(
    app: Flask, work: Callable[[], str], refused: Callable[[PortalError], str]
) -> str:
    """`work()` in a transaction of its own, committed; its outcome, or `refused(error)` for a
    portal error, or any other error's repr (reported, never hidden)."""
    with app.app_context(), writing():
        try:
            outcome = work()
            db.session.commit()
            return outcome
        except PortalError as error:
            db.session.rollback()
            return refused(error)
        except Exception as error:  # noqa: BLE001 - reported, never hidden
            db.session.rollback()
            return repr(error)
        finally:
            db.session.remove()


def at_once(
    app: Flask, works: Sequence[Callable[[], str]], refused: Callable[[PortalError], str]
) -> list[str]:
    """Each work in its own thread and transaction, all let go together by a barrier; their
    outcomes in order (see `in_own_transaction`)."""
    start = threading.Barrier(len(works))

    def run(index: int) -> str:
        def work() -> str:
            start.wait()
            return works[index]()

        return in_own_transaction(app, work, refused)

    with ThreadPoolExecutor(max_workers=len(works)) as pool:
        return list(pool.map(run, range(len(works))))
