"""Two HQ users publish overlapping policies for the same audience at the same moment: exactly
one is published, the other refused (PostgreSQL, real concurrent transactions)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from portal import create_app
from portal.extensions import db
from portal.policy import services
from portal.policy.errors import PolicyOverlap
from portal.policy.models import PolicyVersion, VersionStatus
from tests.conftest import need
from tests.support.policy import build_network
from tests.support.services import fresh_postgres_database


@pytest.mark.postgres
def test_concurrent_overlapping_publishes_let_exactly_one_through():
    need("postgresql")
    url = fresh_postgres_database("policy_race")
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, REDIS_URL=None)
    with app.app_context():
        db.create_all()
        net = build_network("PZ")
        drafts = [
            net.write(f"P-A{i}", kind="level", values=("A",), price="all 50%") for i in (1, 2)
        ]
        db.session.commit()
        ids = [d.id for d in drafts]
        hq_brand = net.brand.id
        db.session.remove()

    start = threading.Barrier(2)
    outcomes: list[str] = []

    def publish(version_id: int) -> None:
        with app.app_context():
            from portal.network.models import Organization
            from tests.support.policy import hq_actor

            actor = hq_actor(db.session.get(Organization, hq_brand))
            version = db.session.get(PolicyVersion, version_id)
            start.wait()
            try:
                services.publish_policy(actor, version)
                db.session.commit()
                outcomes.append("published")
            except PolicyOverlap:
                db.session.rollback()
                outcomes.append("overlap")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=publish, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["overlap", "published"]
    with app.app_context():
        statuses = db.session.execute(
            select(PolicyVersion.status).where(PolicyVersion.id.in_(ids))
        ).scalars()
        assert sorted(statuses) == sorted([VersionStatus.ACTIVE, VersionStatus.DRAFT])
        db.session.remove()
        db.engine.dispose()
