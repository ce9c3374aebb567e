"""One WeChat user, several consumers linking it at the same moment (each in its own thread and
transaction against a committed database): exactly one is linked, the others are told that the
WeChat account is someone else's, and no second identity is left behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from portal.extensions import db
from portal.network.models import Organization
from portal.storefront import wechat_accounts
from portal.storefront.identity_models import ConsumerIdentity
from portal.storefront.models import Consumer
from portal.storefront.wechat_login import WeChatUser
from tests.support.races import at_once, race_app
from tests.support.retail import build_retail_shop

RACERS = 6
USER = WeChatUser(app="mini", openid="oRaceOpenid", unionid="uRaceUnion")


@pytest.fixture
def race(backend, tmp_path) -> Iterator[Flask]:
    app = race_app(backend, tmp_path, "portal_wechat_race")
    yield app
    with app.app_context():
        db.engine.dispose()


def test_one_wechat_user_linked_by_many_at_once_is_linked_once(race):
    app = race
    with app.app_context():
        shop = build_retail_shop("WX")
        brand_id = shop.brand.id
        consumer_ids = [shop.consumer(member=False).id for _ in range(RACERS)]
        db.session.commit()
        db.session.remove()

    def link(consumer_id: int):
        def work() -> str:
            consumer = db.session.get(Consumer, consumer_id)
            wechat_accounts.link_identity(consumer, USER)
            return "linked"

        return work

    outcomes = at_once(app, [link(cid) for cid in consumer_ids], lambda error: error.code)
    assert sorted(outcomes) == ["linked"] + ["wechat_identity_taken"] * (RACERS - 1), outcomes

    with app.app_context():
        rows = list(db.session.execute(select(ConsumerIdentity)).scalars())
        winner = consumer_ids[outcomes.index("linked")]
        assert [(row.consumer_id, row.openid) for row in rows] == [(winner, USER.openid)]
        brand = db.session.get(Organization, brand_id)
        assert wechat_accounts.sign_in_with_wechat(brand, USER).id == winner
        db.session.rollback()
        db.session.remove()
