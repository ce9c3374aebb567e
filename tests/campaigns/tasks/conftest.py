"""Tasks on a shop of their own (tests/guides/conftest.py's GuideShop, brand TK): guides at
Jing'an (JA) and Lujiazui (LJ), straight under the brand in region "shanghai"; one at S1, the
store of distributor A1 (region "north", level "A"); an HQ merchandiser as a fourth. People who
sign in: HQ's admin, A1's and A2's distributor admins, JA's owner."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.campaigns import tasks
from portal.campaigns.models import GuideTask
from portal.core.access import Actor, Role
from portal.core.db import utcnow
from portal.extensions import db
from portal.guides.models import CommissionEntry, CommissionKind, Guide
from portal.network import people
from tests.guides.conftest import GuideShop
from tests.support.campaigns import count
from tests.support.retail import build_retail_shop

PASSWORD = "task-pass-1234"


@dataclass
class TaskShop:
    gs: GuideShop

    @property
    def brand(self):
        return self.gs.brand

    @property
    def net(self):
        return self.gs.shop.net

    @property
    def hq(self) -> Actor:
        return self.net.hq

    def distributor(self, short: str = "A1") -> Actor:
        return self.net.actor(short, Role.DISTRIBUTOR_ADMIN)

    def guide(self, short: str) -> Guide:
        return self.gs.guides[short]

    def task(self, actor: Actor | None = None, **values) -> GuideTask:
        """A task typed as a manager types it: an orders task open since an hour ago for a
        day, two results wanted, ¥1.00 each, at most ¥1.50; `values` change any of that."""
        now = utcnow()
        fields = {
            "title": "Sell two",
            "kind": "orders",
            "starts_at": now - timedelta(hours=1),
            "ends_at": now + timedelta(days=1),
            "target": 2,
            "reward_cents": 100,
            "cap_cents": 150,
        }
        fields.update(values)
        return tasks.create_task(actor or self.hq, self.brand, tasks.TaskInput(**fields))

    def published(self, actor: Actor | None = None, **values) -> GuideTask:
        task = self.task(actor, **values)
        tasks.publish_task(actor or self.hq, task)
        return task

    def user(self, short: str, role: Role) -> str:
        """A person of the org who signs in with PASSWORD; their e-mail."""
        org = self.brand if short == "HQ" else self.gs.org(short)
        email = f"{short.lower()}-{secrets.token_hex(3)}@tasks.test"
        user = people.create_user(email=email, name=f"{role} {short}", password=PASSWORD)
        people.add_member(Actor.system(), org, user, role)
        return email


def rewards(task: GuideTask) -> dict[int, int]:
    """The reward entries written for the task: guide id -> amount."""
    rows = db.session.execute(
        select(CommissionEntry.guide_id, CommissionEntry.amount_cents).where(
            CommissionEntry.kind == CommissionKind.REWARD,
            CommissionEntry.reference == f"T{task.id}",
        )
    ).all()
    return dict(rows)


def task_count() -> int:
    """The tasks the test wrote (not the demo seed's T-LIVE for ACME)."""
    return count(GuideTask)


def browser(app: Flask, email: str | None = None) -> FlaskClient:
    """A browser of its own, signed in to the portal as `email` (English) when given."""
    client = app.test_client()
    with client.session_transaction() as cookie:
        cookie["lang"] = "en"
    if email is not None:
        response = client.post("/login", data={"email": email, "password": PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


@pytest.fixture
def ts(app) -> TaskShop:
    gs = GuideShop(build_retail_shop("TK"))
    for short in ("JA", "LJ", "S1"):
        gs.add_guide(short)
    gs.add_guide("HQ", Role.HQ_MERCHANDISER)
    db.session.commit()
    return TaskShop(gs)
