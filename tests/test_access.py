"""Access is declared on every route and enforced the same way everywhere: another org's object
is a 404 for every role; an action one's role lacks is a 403."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.auth.services import create_api_key
from portal.catalog.models import CatalogImport, Product
from portal.core.access import ROLE_PERMISSIONS, Permission, Role, route_access
from portal.core.jobs import JobRun
from portal.extensions import db
from portal.inventory.models import Location
from portal.network.models import ChannelLink, Membership, User
from portal.policy.models import Notification, PolicyVersion
from tests.support.services import actor_for, org

PERSONAS = {
    "hq_admin": "hq@demo.test",
    "hq_merchandiser": "merch@demo.test",
    "distributor_admin": "dist1@demo.test",
    "distributor_buyer": "buyer1@demo.test",
    "store_owner": "store1@demo.test",
    "store_staff": "staff1@demo.test",
    "other_brand_hq": "hq2@demo.test",
}

# Routes acting on one object: asked for another org's object, every role gets 404.
OBJECT_ROUTES = {
    "network.org_detail": ("GET", "/orgs/{org}"),
    "network.org_edit": ("GET", "/orgs/{org}/edit"),
    "network.link_edit": ("GET", "/orgs/{org}/terms?brand_id={brand}"),
    "network.org_move": ("POST", "/orgs/{org}/move?brand_id={brand}"),
    "network.org_suspend": ("POST", "/orgs/{org}/suspend"),
    "network.org_reactivate": ("POST", "/orgs/{org}/reactivate"),
    "network.org_invite": ("POST", "/orgs/{org}/invite"),
    "network.member_role": ("POST", "/members/{membership}/role"),
    "network.member_remove": ("POST", "/members/{membership}/remove"),
    "core.job_detail": ("GET", "/jobs/{job}"),
    "core.job_status": ("GET", "/jobs/{job}/status"),
    "core.job_retry": ("POST", "/jobs/{job}/retry"),
    "auth.revoke_api_key": ("POST", "/settings/api-keys/{key}/revoke"),
    "api_network.get_org": ("GET", "/api/v1/orgs/{org}"),
    "api_jobs.get": ("GET", "/api/v1/jobs/{job}"),
    "catalog.product_detail": ("GET", "/catalog/products/{product}"),
    "catalog.product_edit": ("GET", "/catalog/products/{product}/edit"),
    "catalog.product_add_variants": ("POST", "/catalog/products/{product}/variants"),
    "catalog.product_update_skus": ("POST", "/catalog/products/{product}/skus"),
    "catalog.product_image_upload": ("POST", "/catalog/products/{product}/image"),
    "catalog.product_image": ("GET", "/catalog/products/{product}/image"),
    "catalog.product_retire": ("POST", "/catalog/products/{product}/retire"),
    "catalog.product_reactivate": ("POST", "/catalog/products/{product}/reactivate"),
    "catalog.import_detail": ("GET", "/catalog/imports/{import}"),
    "catalog.import_errors": ("GET", "/catalog/imports/{import}/errors.xlsx"),
    "catalog.import_confirm": ("POST", "/catalog/imports/{import}/confirm"),
    "policy.policy_detail": ("GET", "/policies/{version}"),
    "policy.policy_edit": ("GET", "/policies/{version}/edit"),
    "policy.policy_revise": ("POST", "/policies/{version}/revise"),
    "policy.policy_publish": ("POST", "/policies/{version}/publish"),
    "policy.policy_reach": ("GET", "/policies/{version}/reach"),
    "policy.policy_remind": ("POST", "/policies/{version}/remind"),
    "policy.inbox_item": ("GET", "/inbox/{notification}"),
    "policy.inbox_ack": ("POST", "/inbox/{notification}/ack"),
    "api_policy.get_policy": ("GET", "/api/v1/policies/{version}"),
    "api_policy.update_policy": ("PUT", "/api/v1/policies/{version}"),
    "api_policy.publish_policy": ("POST", "/api/v1/policies/{version}/publish"),
    "api_policy.ack_notification": ("POST", "/api/v1/notifications/{notification}/ack"),
    "inventory.location_detail": ("GET", "/stock/{location}"),
    "inventory.location_moves": ("GET", "/stock/{location}/moves"),
    "inventory.location_adjust": ("POST", "/stock/{location}/adjust"),
    "inventory.location_count": ("POST", "/stock/{location}/count"),
    "inventory.location_damage": ("POST", "/stock/{location}/damage"),
    "api_inventory.list_stock": ("GET", "/api/v1/stock?location={location}"),
}

# Routes without an object: allowed when the role has the permission, else 403.
PLAIN_ROUTES = {
    "network.home": ("GET", "/"),
    "network.tree": ("GET", "/network"),
    "network.org_list": ("GET", "/orgs"),
    "network.org_new": ("GET", "/orgs/new"),
    "core.job_list": ("GET", "/jobs"),
    "auth.account": ("GET", "/account"),
    "auth.switch_org": ("POST", "/switch-org"),
    "auth.api_keys": ("GET", "/settings/api-keys"),
    "api_auth.me": ("GET", "/api/v1/me"),
    "api_network.list_orgs": ("GET", "/api/v1/orgs"),
    "catalog.product_list": ("GET", "/catalog/products"),
    "catalog.product_new": ("GET", "/catalog/products/new"),
    "catalog.import_list": ("GET", "/catalog/imports"),
    "catalog.import_template_csv": ("GET", "/catalog/imports/template.csv"),
    "catalog.import_template_xlsx": ("GET", "/catalog/imports/template.xlsx"),
    "policy.browse": ("GET", "/catalog"),
    "policy.policy_list": ("GET", "/policies"),
    "policy.policy_new": ("GET", "/policies/new"),
    "policy.inbox": ("GET", "/inbox"),
    "api_policy.catalog": ("GET", "/api/v1/catalog"),
    "api_policy.list_policies": ("GET", "/api/v1/policies"),
    "api_policy.create_policy": ("POST", "/api/v1/policies"),
    "api_policy.list_notifications": ("GET", "/api/v1/notifications"),
    "inventory.location_list": ("GET", "/stock"),
    "api_inventory.list_locations": ("GET", "/api/v1/locations"),
    # The location is in the body: another org's location is a 404 in tests/inventory/test_api.py.
    "api_inventory.create_adjustment": ("POST", "/api/v1/stock/adjustments"),
}

# Routes whose "other org's object" is a product or price the caller is not authorized for:
# covered by the tests named here (tests/policy/test_views.py), not by the generic walk.
CATALOG_ROUTES = {
    "policy.offer": "test_unauthorized_product_is_not_found",
    "policy.offer_image": "test_unauthorized_product_is_not_found",
    "policy.why": "test_price_explanation_of_unauthorized_sku_is_not_found",
    "api_policy.price": "test_price_explanation_of_unauthorized_sku_is_not_found",
}

PUBLIC_ROUTES = {
    "core.healthz",
    "core.readyz",
    "auth.login",
    "auth.logout",
    "auth.set_language",
    "auth.accept_invitation",
    "api_auth.issue_token",
    "openapi.spec",
}


def test_every_route_declares_require_or_public(app):
    undeclared = [
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and route_access(app, rule.endpoint) is None
    ]
    assert undeclared == []


def test_every_route_is_in_the_access_matrix(app):
    endpoints = {r.endpoint for r in app.url_map.iter_rules()} - {"static"}
    listed = set(OBJECT_ROUTES) | set(PLAIN_ROUTES) | PUBLIC_ROUTES | set(CATALOG_ROUTES)
    assert endpoints - listed == set(), "add new routes to the access matrix"
    assert listed - endpoints == set(), "the matrix lists routes that no longer exist"
    for endpoint in PUBLIC_ROUTES:
        assert route_access(app, endpoint)[0] == "public"


def _foreign(persona: str) -> dict[str, object]:
    """Objects of an org the persona cannot see."""
    if persona == "other_brand_hq":
        org_code, brand, email, owner = "S2", "ACME", "store2@demo.test", "store2@demo.test"
    else:
        org_code, brand, email, owner = "L2", "LUMI", "dist4@demo.test", "dist4@demo.test"
    target = org(org_code)
    membership = db.session.execute(
        select(Membership).join(User).where(User.email == email)
    ).scalar_one()
    job = JobRun(
        id=f"test:{org_code}",
        name="x",
        title="foreign",
        org_id=target.id,
        brand_id=org(brand).id,
    )
    db.session.add(job)
    key, _token = create_api_key(actor_for(owner), name="erp", scopes=["network.view"])
    db.session.flush()
    version = db.session.execute(
        select(PolicyVersion).where(PolicyVersion.brand_id == org(brand).id).limit(1)
    ).scalar_one()
    notification = db.session.execute(
        select(Notification).where(Notification.org_id == target.id).limit(1)
    ).scalar_one()
    product = db.session.execute(
        select(Product).where(Product.brand_id == org(brand).id).limit(1)
    ).scalar_one()
    upload = CatalogImport(
        brand_id=org(brand).id, filename="x.csv", stored_path="imports/x.csv", sha256="0" * 64
    )
    db.session.add(upload)
    db.session.flush()
    location = db.session.execute(
        select(Location).where(Location.org_id == target.id, Location.is_default.is_(True))
    ).scalar_one()
    return {
        "org": org_code,
        "brand": org(brand).id,
        "product": product.id,
        "import": upload.id,
        "membership": membership.id,
        "job": job.id,
        "key": key.id,
        "version": version.id,
        "notification": notification.id,
        "location": location.code,
    }


def _open(client, email: str, method: str, url: str):
    """Pages with the session cookie; the API with a bearer token (cookies only read it)."""
    if url.startswith("/api/"):
        tokens = client.__dict__.setdefault("bearer_tokens", {})
        if email not in tokens:
            issued = client.post(
                "/api/v1/auth/token", json={"email": email, "password": "demo1234"}
            )
            tokens[email] = issued.get_json()["token"]
        headers = {"Authorization": f"Bearer {tokens[email]}"}
        return client.open(url, method=method, json={}, headers=headers)
    return client.open(url, method=method, data={})


@pytest.mark.parametrize("persona", sorted(PERSONAS))
def test_other_orgs_objects_are_not_found_for_every_role(app, login, persona):
    objects = _foreign(persona)
    db.session.commit()
    client = login(PERSONAS[persona])
    for method, pattern in OBJECT_ROUTES.values():
        url = pattern.format(**objects)
        response = _open(client, PERSONAS[persona], method, url)
        assert response.status_code == 404, f"{persona} {method} {url} -> {response.status_code}"


@pytest.mark.parametrize("persona", sorted(PERSONAS))
def test_plain_routes_follow_the_role_table(app, login, persona):
    client = login(PERSONAS[persona])
    role = Role(persona) if persona in Role.__members__.values() else Role.HQ_ADMIN
    granted = ROLE_PERMISSIONS[role]
    for endpoint, (method, url) in PLAIN_ROUTES.items():
        permission = route_access(app, endpoint)[1]
        response = _open(client, PERSONAS[persona], method, url)
        if permission in granted:
            assert response.status_code not in (401, 403), f"{persona} {url}"
        else:
            assert response.status_code == 403, f"{persona} {url} -> {response.status_code}"


def test_signed_out_visitor_is_sent_to_login_or_gets_401(client):
    for method, url in PLAIN_ROUTES.values():
        response = client.open(url, method=method)
        if url.startswith("/api/"):
            assert response.status_code == 401
            assert response.get_json()["error"]["code"] == "unauthorized"
        else:
            assert response.status_code == 302
            assert "/login" in response.headers["Location"]


@pytest.mark.parametrize(
    ("email", "method", "url"),
    [
        ("staff1@demo.test", "POST", "/orgs/S1/suspend"),
        ("staff1@demo.test", "POST", "/orgs/S1/invite"),
        ("buyer1@demo.test", "POST", "/orgs/D1/invite"),
        ("buyer1@demo.test", "GET", "/orgs/S1/edit"),
        ("merch@demo.test", "POST", "/orgs/S1/suspend"),
        ("store1@demo.test", "GET", "/orgs/S1/edit"),
        ("staff1@demo.test", "POST", "/stock/S1-SHELF/adjust"),
        ("buyer1@demo.test", "POST", "/stock/D1-WH/count"),
        # Stock below one's org is read-only, whatever the role may do at home.
        ("hq@demo.test", "POST", "/stock/D1-WH/adjust"),
        ("dist1@demo.test", "POST", "/stock/S1-SHELF/damage"),
    ],
)
def test_own_object_but_role_lacks_the_action_is_forbidden(app, login, email, method, url):
    response = login(email).open(url, method=method, data={})
    assert response.status_code == 403


def test_api_key_scopes_limit_what_it_can_do(app, client):
    _key, token = create_api_key(actor_for("dist1@demo.test"), name="erp", scopes=["jobs.view"])
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    response = client.get("/api/v1/orgs", headers=headers)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_permissions_are_all_granted_to_hq_admin_only():
    assert ROLE_PERMISSIONS[Role.HQ_ADMIN] == frozenset(Permission)
    others = [p for r, p in ROLE_PERMISSIONS.items() if r != Role.HQ_ADMIN]
    assert all(Permission.JOBS_ADMIN not in p for p in others)


def test_link_paths_are_rooted_at_their_brand(app):
    for link in db.session.execute(select(ChannelLink)).scalars():
        assert link.path.startswith(f"/{link.brand_id}/")
        assert link.path.endswith(f"/{link.buyer_org_id}/")
