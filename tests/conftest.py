"""Test harness: every test runs on SQLite and on PostgreSQL, inside a transaction rolled back
after it (savepoint mode), against the fixed demo network.

Services: PostgreSQL (TEST_DATABASE_URL) and Redis (TEST_REDIS_URL) are used when reachable. When
they are not, their tests are reported as not run; with REQUIRE_SERVICES=1 that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from flask import g
from flask.testing import FlaskClient
from flask_sqlalchemy.session import Session as FlaskSQLAlchemySession
from werkzeug.security import generate_password_hash

import portal.auth.services
import portal.network.models
import portal.storefront.consumers
from portal import create_app
from portal.core.access import Actor
from portal.extensions import db
from tests.support import services as svc

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
# TEST_BACKENDS=sqlite runs the backend-parametrized tests on SQLite only (`make test-fast`).
BACKENDS = [b.strip() for b in os.environ.get("TEST_BACKENDS", "sqlite,postgresql").split(",")]
if not BACKENDS or not set(BACKENDS) <= {"sqlite", "postgresql"}:
    raise pytest.UsageError(f"TEST_BACKENDS: sqlite and/or postgresql, not {BACKENDS}")


def _hash_at_test_cost(password: str, method: str = "scrypt", salt_length: int = 16) -> str:
    """scrypt with N=2**10 instead of werkzeug's 2**15: the same code and checks, 30 times
    cheaper. Hashing the passwords of the users tests create was half the time of the view tests.
    (Processes that tests start hash at the full cost.)"""
    method = "scrypt:1024:8:1" if method == "scrypt" else method
    return generate_password_hash(password, method, salt_length)


portal.network.models.generate_password_hash = _hash_at_test_cost  # User.set_password
portal.auth.services.generate_password_hash = _hash_at_test_cost  # the unknown-account dummy
portal.storefront.consumers.generate_password_hash = _hash_at_test_cost  # consumers


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs PostgreSQL")
    config.addinivalue_line("markers", "redis: needs Redis")
    config.addinivalue_line("markers", "browser: drives real Chromium")


def need(service: str) -> None:
    """Skip (or, with REQUIRE_SERVICES=1, fail) when a service is not reachable."""
    reason = svc.unavailable(service)
    if reason:
        svc.NOT_RUN[service] += 1
        if REQUIRE_SERVICES:
            pytest.fail(f"{service} is required (REQUIRE_SERVICES=1) but {reason}")
        pytest.skip(f"{service} not available: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not svc.unavailable("postgresql"):
        svc.drop_test_databases()


def pytest_terminal_summary(terminalreporter) -> None:
    for service, count in svc.NOT_RUN.items():
        if count:
            terminalreporter.write_line(
                f"NOT RUN: {count} test(s) needing {service} ({svc.unavailable(service)}). "
                "Start it, or set REQUIRE_SERVICES=1 to make this a failure.",
                yellow=True,
                bold=True,
            )


class BoundSession(FlaskSQLAlchemySession):
    """Flask-SQLAlchemy picks engines by bind key; a test session must use its connection."""

    def get_bind(self, *args, **kwargs):
        return self.bind if self.bind is not None else super().get_bind(*args, **kwargs)


class PortalClient(FlaskClient):
    """Each request starts with fresh `g`, as it would in a server, though tests keep one
    app context open around it (so test code and requests share the test's transaction)."""

    def open(self, *args, **kwargs):
        g.__dict__.clear()
        return super().open(*args, **kwargs)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        need("postgresql")
    return request.param


@pytest.fixture(scope="session")
def base_app(backend: str, tmp_path_factory: pytest.TempPathFactory):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    else:
        url = svc.fresh_postgres_database("portal_test")
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, REDIS_URL=None)
    app.test_client_class = PortalClient
    with app.app_context():
        db.create_all()
        from portal.seed.demo import seed_demo

        seed_demo()
        from portal.core.jobs import commit

        commit()  # and run the inline jobs it asked for (policy delivery)
        db.session.remove()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(base_app) -> Iterator:
    """The app with one app context and one outer transaction, rolled back after the test."""
    with base_app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        db.session = db._make_scoped_session(
            {
                "bind": connection,
                "join_transaction_mode": "create_savepoint",
                "class_": BoundSession,
            }
        )
        try:
            yield base_app
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory):
    """A Redis server of this test module's own (tests.support.redis_server)."""
    need("redis")
    from tests.support.redis_server import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def login(client):
    """login("dist1@demo.test") signs the client in through the real login form."""

    def do_login(email: str, password: str = "demo1234") -> FlaskClient:
        response = client.post("/login", data={"email": email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return client

    return do_login


@pytest.fixture
def actor_for(app):
    """actor_for("hq@demo.test") -> the Actor that user acts as (first membership)."""
    return svc.actor_for


@pytest.fixture
def system() -> Actor:
    return Actor.system()
