"""One transaction per request and per job (portal/core/transaction.py, core/jobs.py).

The request commits once at the end when its answer is below 400 and rolls back otherwise;
routes and services never commit. These tests read the source for stray commits and drive a
small app through the real hook."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from flask import Blueprint
from sqlalchemy import func, select

from portal.core import transaction
from portal.core.access import OrgKind
from portal.core.errors import DomainError
from portal.extensions import db
from portal.network.models import Organization

PORTAL = Path(__file__).resolve().parents[2] / "portal"

# The boundaries: where a transaction may end by hand, each with why.
BOUNDARIES = {
    "core/transaction.py": "the request's one commit or rollback",
    "core/jobs.py": "the job runner, the outbox relay and `checkpoint()` for long jobs",
    "schedule.py": "the scheduler's own loop is a process, not a request",
    "auth/web.py": "the signed-in session is touched or revoked before the route runs",
    "core/views.py": "health checks end their read at once (a pooled connection idles clean)",
}


def _ends_transaction(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("commit", "rollback")
        and not node.args
    )


def test_only_boundaries_commit_or_roll_back():
    """Views, API routes, services and jobs leave the transaction to the request or job runner
    (`transaction.discard()` / `keep()`, `jobs.checkpoint()` say what the status cannot)."""
    strays = []
    for path in sorted(PORTAL.rglob("*.py")):
        rel = path.relative_to(PORTAL).as_posix()
        if rel in BOUNDARIES or rel.startswith("seed/") or rel.endswith("cli.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if _ends_transaction(node):
                strays.append(f"{rel}:{node.lineno}")
    assert strays == []


def test_every_boundary_still_ends_transactions():
    """An entry that no longer commits comes off the list."""
    for rel in BOUNDARIES:
        tree = ast.parse((PORTAL / rel).read_text())
        assert any(_ends_transaction(node) for node in ast.walk(tree)), rel


class _Refused(DomainError):
    status = 422
    code = "refused"


def _add_org(code: str) -> None:
    db.session.add(Organization(code=code, name=code, kind=OrgKind.STORE))
    db.session.flush()


def _count(code: str) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).where(Organization.code == code)) or 0


@pytest.fixture
def tx_client(app):
    """A throwaway blueprint on the test app, its routes public (they never reach a page)."""
    bp = Blueprint(f"tx_probe_{id(app)}", __name__)

    @bp.post("/_tx/ok")
    def ok():
        _add_org("TX-OK")
        return "", 204

    @bp.post("/_tx/unprocessable")
    def unprocessable():
        _add_org("TX-422")
        return "no", 422

    @bp.post("/_tx/raises")
    def raises():
        _add_org("TX-RAISE")
        raise _Refused("refused")

    @bp.post("/_tx/kept")
    def kept():
        _add_org("TX-KEPT")
        transaction.keep()
        return "counted", 429

    @bp.post("/_tx/discarded")
    def discarded():
        _add_org("TX-GONE")
        transaction.discard()
        _add_org("TX-AFTER")
        return "", 303

    for view in (ok, unprocessable, raises, kept, discarded):
        view._access = ("public", None)  # type: ignore[attr-defined]
    app.register_blueprint(bp)
    return app.test_client()


@pytest.fixture
def app(tmp_path):
    """An app of its own, on its own SQLite file: routes cannot be added to the shared one after
    its first request, and its savepoint mode would hide what a commit does."""
    from portal import create_app

    application = create_app(
        "testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'tx.db'}", REDIS_URL=None
    )
    with application.app_context():
        db.create_all()
        yield application
        db.session.rollback()
        db.drop_all()


def test_an_answer_below_400_commits_what_the_request_wrote(tx_client):
    assert tx_client.post("/_tx/ok").status_code == 204
    assert _count("TX-OK") == 1


def test_an_error_answer_rolls_the_request_back(tx_client):
    assert tx_client.post("/_tx/unprocessable").status_code == 422
    assert _count("TX-422") == 0


def test_a_domain_error_raised_through_the_route_rolls_it_back(tx_client):
    assert tx_client.post("/_tx/raises", headers={"Accept": "application/json"}).status_code == 422
    assert _count("TX-RAISE") == 0


def test_keep_commits_an_error_answer_that_is_itself_a_record(tx_client):
    assert tx_client.post("/_tx/kept").status_code == 429
    assert _count("TX-KEPT") == 1


def test_discard_undoes_the_failed_attempt_and_what_follows_commits(tx_client):
    assert tx_client.post("/_tx/discarded").status_code == 303
    assert (_count("TX-GONE"), _count("TX-AFTER")) == (0, 1)
