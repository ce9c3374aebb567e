"""Real concurrency, no mocks: friends redeeming one invite code at the same moment, and an
employee making codes from several devices at once, each in its own thread, app context, session
and transaction against a committed database made for the test (PostgreSQL: a fresh database;
SQLite: a file). A code never lets in more friends than its use count; the quota never lets out
more places than it has."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.core.db import writing
from portal.core.errors import PortalError
from portal.extensions import db
from portal.members import invites
from portal.members.employee_models import Entitlement, InviteCode
from portal.network.models import Organization
from portal.storefront.models import Consumer
from tests.members.test_entitlement import an_employee, retail_shop
from tests.members.test_invites import set_invite_terms
from tests.support.races import race_app

USES = 3
FRIENDS = 8
QUOTA = 4


@dataclass
class Arena:
    app: object
    brand_id: int
    employee_id: int
    code: str
    friends: list[int] = field(default_factory=list)

    def count(self, stmt) -> int:
        with self.app.app_context():
            value = db.session.execute(stmt).scalar_one()
            db.session.remove()
            return value


def build_arena(app: Flask) -> Arena:
    """The race's world on `app` (tests/support/races.py: a database of its own)."""
    with app.app_context():
        shop = retail_shop("IR")
        set_invite_terms(shop, quota_per_year=QUOTA + USES, code_uses=USES)
        employee = an_employee(shop)
        code = invites.make_code(shop.brand, employee)
        arena = Arena(app, shop.brand.id, employee.id, code.code)
        for _ in range(FRIENDS):
            arena.friends.append(shop.consumer(member=False).id)
        db.session.commit()
        db.session.remove()
    return arena


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def arena(request, tmp_path) -> Iterator[Arena]:
    built = build_arena(race_app(request.param, tmp_path, "invite_race", pool_size=20))
    yield built
    with built.app.app_context():
        db.engine.dispose()


def _in_own_transaction(app, work) -> str:
    with app.app_context(), writing():
        try:
            outcome = work()
            db.session.commit()
            return outcome
        except PortalError as error:
            db.session.rollback()
            return error.code
        except Exception as error:  # noqa: BLE001 - reported, never hidden
            db.session.rollback()
            return repr(error)
        finally:
            db.session.remove()


def _at_once(app, works) -> list[str]:
    start = threading.Barrier(len(works))

    def run(index: int) -> str:
        def work():
            start.wait()
            return works[index]()

        return _in_own_transaction(app, work)

    with ThreadPoolExecutor(max_workers=len(works)) as pool:
        return list(pool.map(run, range(len(works))))


def _redeem(arena: Arena, consumer_id: int):
    def work() -> str:
        brand = db.session.get(Organization, arena.brand_id)
        consumer = db.session.get(Consumer, consumer_id)
        invites.redeem(brand, consumer, arena.code)
        return "joined"

    return work


def _make_code(arena: Arena):
    def work() -> str:
        brand = db.session.get(Organization, arena.brand_id)
        consumer = db.session.get(Consumer, arena.employee_id)
        return invites.make_code(brand, consumer).code

    return work


def test_friends_redeeming_one_code_at_once_never_pass_its_use_count(arena):
    outcomes = _at_once(arena.app, [_redeem(arena, f) for f in arena.friends])
    assert outcomes.count("joined") == USES, outcomes
    assert set(outcomes) == {"joined", "invite_refused"}, outcomes
    uses = arena.count(select(InviteCode.uses_count).where(InviteCode.code == arena.code))
    assert uses == USES
    friends = arena.count(select(func.count(Entitlement.id)).where(Entitlement.kind == "friend"))
    assert friends == USES


def test_codes_made_at_once_never_pass_the_quota(arena):
    # The arena's code holds USES places; QUOTA are left: one use each (code_uses is USES, the
    # first code takes USES of the QUOTA left, the next one what remains).
    outcomes = _at_once(arena.app, [_make_code(arena) for _ in range(6)])
    made = [o for o in outcomes if o != "validation_error"]
    assert all(len(o) == 8 for o in made), outcomes
    open_places = arena.count(select(func.sum(InviteCode.uses_allowed - InviteCode.uses_count)))
    assert open_places == QUOTA + USES
    assert len(made) == 2 and outcomes.count("validation_error") == 4
