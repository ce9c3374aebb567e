from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.core.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.network import queries, services
from portal.network.errors import InvalidChannel, OrgCodeTaken, RoleNotAllowed
from portal.network.models import ChannelLink, OrgStatus
from tests.support.services import actor_for, org


def link_of(code: str, brand: str = "ACME") -> ChannelLink:
    return db.session.execute(
        select(ChannelLink).where(
            ChannelLink.buyer_org_id == org(code).id, ChannelLink.brand_id == org(brand).id
        )
    ).scalar_one()


def codes(actor) -> set[str]:
    return {o.code for o in db.session.execute(queries.visible_orgs(actor)).scalars()}


def test_hq_sees_its_whole_brand_and_nothing_of_another(app):
    seen = codes(actor_for("hq@demo.test"))
    assert {"ACME", "D1", "D2", "D3", "S1", "S2", "C1", "C2"} <= seen
    assert not seen & {"LUMI", "LC1", "D4", "L2"}
    # D1 carries LUMI too, but ACME HQ sees only ACME's part of it: L1 is LUMI's.
    assert "L1" not in seen


def test_distributor_sees_itself_and_its_stores_in_every_brand_it_carries(app):
    assert codes(actor_for("dist1@demo.test")) == {"D1", "S1", "S3", "S4", "L1"}


def test_store_sees_only_itself(app):
    assert codes(actor_for("store1@demo.test")) == {"S1"}


def test_another_orgs_row_is_not_found(app):
    with pytest.raises(NotFound):
        queries.get_org(actor_for("dist1@demo.test"), "S2")
    with pytest.raises(NotFound):
        queries.get_org(actor_for("hq2@demo.test"), "S1")


def test_hq_adds_store_under_distributor_with_path_below_it(app):
    hq = actor_for("hq@demo.test")
    link = services.add_org(
        hq,
        brand_id=org("ACME").id,
        kind="store",
        code="s9",
        name="New Store",
        supplier=org("D2"),
        level="B",
        region="south",
    )
    assert link.buyer.code == "S9"
    assert link.path == f"{link_of('D2').path}{link.buyer.id}/"
    assert "S9" in codes(actor_for("dist2@demo.test"))
    assert "S9" not in codes(actor_for("dist1@demo.test"))


def test_distributor_adds_store_only_under_itself(app):
    dist1 = actor_for("dist1@demo.test")
    link = services.add_org(
        dist1, brand_id=org("ACME").id, kind="store", code="S10", name="Mine", supplier=org("D1")
    )
    assert link.supplier.code == "D1"
    with pytest.raises(NotFound):
        services.add_org(
            dist1, brand_id=org("ACME").id, kind="store", code="S11", name="X", supplier=org("D2")
        )
    with pytest.raises(NotFound):  # adding under the brand is HQ's call
        services.add_org(dist1, brand_id=org("ACME").id, kind="store", code="S12", name="Y")


def test_add_org_names_the_bad_fields_and_changes_nothing(app):
    hq = actor_for("hq@demo.test")
    before = codes(hq)
    with pytest.raises(ValidationFailed) as error:
        services.add_org(
            hq,
            brand_id=org("ACME").id,
            kind="store",
            code="!",
            name="x" * 121,
            credit_limit_cents=-1,
        )
    assert set(error.value.fields) == {"code", "name"}
    with pytest.raises(OrgCodeTaken) as taken:
        services.add_org(hq, brand_id=org("ACME").id, kind="store", code="S1", name="Dup")
    assert "code" in taken.value.fields
    with pytest.raises(InvalidChannel):
        services.add_org(
            hq,
            brand_id=org("ACME").id,
            kind="distributor",
            code="DX",
            name="Sub",
            supplier=org("D1"),
        )
    assert codes(hq) == before


def test_move_store_rewrites_its_path_and_visibility(app):
    hq = actor_for("hq@demo.test")
    link = services.move_org(hq, link_of("S3"), org("D2"))
    assert link.supplier.code == "D2"
    assert link.path.startswith(link_of("D2").path)
    assert "S3" in codes(actor_for("dist2@demo.test"))
    assert "S3" not in codes(actor_for("dist1@demo.test"))


def test_only_hq_moves_stores(app):
    with pytest.raises(PermissionDenied):
        services.move_org(actor_for("dist1@demo.test"), link_of("S3"), org("D2"))


def test_suspend_needs_a_reason_and_blocks_sign_in(app, client):
    hq = actor_for("hq@demo.test")
    with pytest.raises(ValidationFailed) as error:
        services.set_org_status(hq, org("S2"), OrgStatus.SUSPENDED, reason=" ")
    assert "reason" in error.value.fields
    services.set_org_status(hq, org("S2"), OrgStatus.SUSPENDED, reason="unpaid invoices")
    db.session.commit()
    response = client.post("/login", data={"email": "store2@demo.test", "password": "demo1234"})
    assert response.status_code == 401
    assert "suspended" in response.get_data(as_text=True)


def test_distributor_suspends_its_store_but_not_others_or_itself(app):
    dist1 = actor_for("dist1@demo.test")
    services.set_org_status(dist1, org("S1"), OrgStatus.SUSPENDED, reason="audit")
    assert org("S1").status == OrgStatus.SUSPENDED
    with pytest.raises(NotFound):
        services.set_org_status(dist1, org("S2"), OrgStatus.SUSPENDED, reason="x")
    with pytest.raises(PermissionDenied):
        services.set_org_status(dist1, org("D1"), OrgStatus.SUSPENDED, reason="x")


def test_roles_must_fit_the_org_kind(app):
    with pytest.raises(RoleNotAllowed):
        services.invite_user(
            actor_for("hq@demo.test"), org("S1"), email="x@example.com", role="hq_admin"
        )


def test_store_owner_invites_staff_to_own_store_only(app):
    owner = actor_for("store1@demo.test")
    invitation = services.invite_user(owner, org("S1"), email="New@Example.com", role="store_staff")
    assert invitation.email == "new@example.com"
    with pytest.raises(NotFound):
        services.invite_user(owner, org("S2"), email="y@example.com", role="store_staff")


def test_network_tree_counts_members_and_stores(app):
    root = queries.network_tree(actor_for("hq@demo.test"), org("ACME").id)
    d1 = next(n for n in root.children if n.org.code == "D1")
    assert {c.org.code for c in d1.children} == {"S1", "S3", "S4"}
    assert d1.members == 2
    assert root.store_count == 8


def test_distributor_tree_is_rooted_at_itself(app):
    root = queries.network_tree(actor_for("dist1@demo.test"), org("ACME").id)
    assert root.org.code == "D1"
    assert {c.org.code for c in root.children} == {"S1", "S3", "S4"}


def test_one_brand_cannot_take_over_a_distributor_shared_with_another(app):
    # D1 carries ACME and LUMI: neither HQ alone may suspend it or manage its people.
    for email in ("hq@demo.test", "hq2@demo.test"):
        hq = actor_for(email)
        with pytest.raises(PermissionDenied):
            services.set_org_status(hq, org("D1"), OrgStatus.SUSPENDED, reason="takeover")
        with pytest.raises(PermissionDenied):
            services.invite_user(hq, org("D1"), email="spy@example.com", role="distributor_admin")
    assert org("D1").status == OrgStatus.ACTIVE
    # Its per-brand channel terms stay each brand's own business.
    link = services.update_link(
        actor_for("hq@demo.test"),
        link_of("D1"),
        level="A",
        region="north",
        credit_limit_cents=1,
        payment_terms_days=10,
    )
    assert link.credit_limit_cents == 1


def test_brand_filter_keeps_to_the_actors_part_of_that_brand(app):
    # ACME HQ sees D1 through ACME; D1 also carries LUMI, but LUMI's tree is not ACME's to list.
    hq = actor_for("hq@demo.test")
    lumi = org("LUMI")
    listed = {
        o.code for o in db.session.execute(queries.visible_orgs(hq, brand_id=lumi.id)).scalars()
    }
    assert listed == set()
    d1 = actor_for("dist1@demo.test")
    listed = {
        o.code for o in db.session.execute(queries.visible_orgs(d1, brand_id=lumi.id)).scalars()
    }
    assert listed == {"D1", "L1"}


def test_credit_limit_bounds_are_checked(app):
    with pytest.raises(ValidationFailed) as error:
        services.update_link(
            actor_for("hq@demo.test"),
            link_of("S2"),
            level="",
            region="",
            credit_limit_cents=10**14,
            payment_terms_days=0,
        )
    assert "credit_limit" in error.value.fields
