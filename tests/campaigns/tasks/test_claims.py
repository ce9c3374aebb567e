"""Coupon-claim tasks counted from real claims (portal/campaigns/tasks.py record_claim_source on
portal.members.coupon_claims.claim_listeners): a consumer opens a guide's link to a coupon in a
browser, signs in, and claims it on the coupon's page; the claim records the guide, and the
task counts it for them. A claim through no guide's link counts for nobody."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.campaigns import task_counting, tasks
from portal.campaigns.models import ClaimSource
from portal.extensions import db
from portal.guides import links
from portal.members import coupon_claims, coupons
from portal.members.coupon_models import Coupon
from portal.storefront.auth import SESSION_KEY, start_session
from tests.campaigns.tasks.conftest import TaskShop

pytestmark = pytest.mark.skipif(
    not hasattr(coupon_claims, "claim_listeners"),
    reason="portal.members.coupon_claims.claim_listeners is not there yet (red packets' change)",
)


def coupon_template(ts: TaskShop):
    return coupons.create_template(
        ts.hq,
        ts.brand,
        coupons.TemplateInput(
            name="Twenty off",
            kind="amount",
            amount="20",
            validity="days",
            valid_days="30",
            distribution="link",
        ),
    )


def shopper(app, ts: TaskShop, consumer) -> object:
    """A browser of the consumer's, signed in to the shop."""
    client = app.test_client()
    secret, _expires = start_session(consumer)
    db.session.commit()
    with client.session_transaction() as cookie:
        cookie[SESSION_KEY] = {str(ts.brand.id): secret}
        cookie["lang"] = "en"
    return client


def claimed_through(consumer) -> ClaimSource | None:
    return db.session.execute(
        select(ClaimSource)
        .join(Coupon, Coupon.id == ClaimSource.coupon_id)
        .where(Coupon.member_id == consumer.member_id)
    ).scalar_one_or_none()


def test_a_coupon_claimed_through_a_guides_link_counts_for_that_guide(app, ts):
    template = coupon_template(ts)
    task = ts.published(kind="coupon_claims", ref=f"coupon:{template.code}", target=1)
    db.session.commit()
    token = links.make_token(ts.guide("JA"), "coupon", template.code)
    first, second = ts.gs.consumer(), ts.gs.consumer()

    # The link opened before signing in: the browser's own id carries it to the claim.
    browser = app.test_client()
    opened = browser.get(f"/shop/TK/g/{token}")
    assert opened.status_code == 302
    assert opened.headers["Location"].endswith(f"/shop/TK/coupons/{template.code}")
    secret, _expires = start_session(first)
    db.session.commit()
    with browser.session_transaction() as cookie:
        cookie[SESSION_KEY] = {str(ts.brand.id): secret}
    assert browser.post(f"/shop/TK/coupons/{template.code}/claim").status_code == 302

    # Another consumer claims the same coupon on its page, through nobody's link.
    other = shopper(app, ts, second)
    assert other.post(f"/shop/TK/coupons/{template.code}/claim").status_code == 302

    source = claimed_through(first)
    assert source is not None and source.guide_id == ts.guide("JA").id
    assert claimed_through(second) is None
    tasks.run_task(task.id)
    assert task_counting.results_by_guide(task) == {ts.guide("JA").id: 1}
    tasks.close_task(ts.hq, task)
    assert task_counting.written_by_guide(task) == {ts.guide("JA").id: 100}


def test_a_link_opened_signed_in_counts_and_the_newest_guides_link_wins(app, ts):
    template = coupon_template(ts)
    consumer = ts.gs.consumer()
    browser = shopper(app, ts, consumer)
    for short in ("LJ", "JA"):  # LJ's first, then JA's: JA's is the newest
        token = links.make_token(ts.guide(short), "coupon", template.code)
        assert browser.get(f"/shop/TK/g/{token}").status_code == 302
    assert browser.post(f"/shop/TK/coupons/{template.code}/claim").status_code == 302
    assert claimed_through(consumer).guide_id == ts.guide("JA").id
