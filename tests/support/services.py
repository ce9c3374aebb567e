"""Reaching PostgreSQL and Redis for tests, and building actors from demo users."""

from __future__ import annotations

import os
from collections import Counter
from functools import cache

from sqlalchemy import select

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
NOT_RUN: Counter[str] = Counter()
CREATED_DATABASES: list[str] = []


@cache
def unavailable(service: str) -> str | None:
    try:
        if service == "postgresql":
            import psycopg

            psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
        elif service == "redis":
            import shutil

            from redis import Redis

            Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
            if shutil.which("redis-server") is None:  # job tests start servers of their own
                return "no redis-server executable (apt-get install redis-server)"
        elif service == "chromium":
            from tests.support.browser import chromium_path

            if chromium_path() is None:
                return "no chromium executable (apt-get install chromium)"
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    return None


def fresh_postgres_database(name: str) -> str:
    """Create an empty test database for this test process; return its SQLAlchemy URL.

    The name carries the process id, so two suite runs on one machine (a developer's and CI's)
    never drop each other's databases. `drop_test_databases` removes them at the end.
    """
    import psycopg

    name = f"{name}_{os.getpid()}"
    CREATED_DATABASES.append(name)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return base.replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"


def drop_test_databases() -> None:
    import psycopg

    if not CREATED_DATABASES:
        return
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        for name in CREATED_DATABASES:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    CREATED_DATABASES.clear()


def actor_for(email: str, org_code: str | None = None):
    from portal.auth.services import actor_for_membership
    from portal.extensions import db
    from portal.network.models import Membership, Organization, User

    stmt = (
        select(Membership)
        .join(User, User.id == Membership.user_id)
        .join(Organization, Organization.id == Membership.org_id)
        .where(User.email == email)
        .order_by(Organization.code)
    )
    if org_code:
        stmt = stmt.where(Organization.code == org_code)
    membership = db.session.execute(stmt).scalars().first()
    assert membership is not None, f"no membership for {email} {org_code or ''}"
    return actor_for_membership(membership)


def org(code: str):
    from portal.extensions import db
    from portal.network.models import Organization

    return db.session.execute(select(Organization).where(Organization.code == code)).scalar_one()
