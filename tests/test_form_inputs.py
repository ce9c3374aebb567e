"""Every HTML form route takes NUL characters and lone surrogates without a 5xx, and a form
shows the message on its field (portal/core/inputs.py, portal/core/forms.py)."""

from __future__ import annotations

import json

import pytest
from flask_wtf import FlaskForm
from sqlalchemy import text
from wtforms.fields.core import UnboundField

from portal.extensions import db
from tests.support.services import org

NUL = "x\x00y"
SURROGATE = "x\ud800y"
NUL_MESSAGE = "must not contain a NUL character"
# Names the views read from request.form themselves, beside the forms' fields.
DIRECT_NAMES = (
    "brand",
    "scope",
    "region",
    "on",
    "role",
    "numbers",
    "lang",
    "next",
    "membership_id",
    "email",
    "password",
)


def _form_classes(cls=FlaskForm):
    for sub in cls.__subclasses__():
        yield sub
        yield from _form_classes(sub)


def field_names() -> list[str]:
    """Every field name of every form in the portal, and those the views read directly."""
    names = set(DIRECT_NAMES)
    for form in _form_classes():
        for klass in form.__mro__:
            names.update(k for k, v in vars(klass).items() if isinstance(v, UnboundField))
    return sorted(names)


def _first(sql: str, **params) -> object:
    value = db.session.execute(text(sql), params).scalar()
    return 1 if value is None else value


def path_values(rule, org_code: str) -> dict[str, object]:
    """Real ids and codes the signed-in org can reach, so the request gets as far as its form."""
    org_id = org(org_code).id
    lookups = {
        "version_id": "SELECT min(id) FROM policy_versions",
        "product_id": "SELECT min(id) FROM products",
        "import_id": "SELECT min(id) FROM catalog_imports",
        "upload_id": "SELECT min(id) FROM stock_uploads WHERE org_id = :org",
        "notification_id": "SELECT min(id) FROM notifications WHERE org_id = :org",
        "template_id": "SELECT min(id) FROM order_templates WHERE buyer_org_id = :org",
        "membership_id": "SELECT max(id) FROM memberships WHERE org_id = :org",
        "key_id": "SELECT min(id) FROM api_tokens",
        "link_id": "SELECT min(id) FROM channel_links WHERE supplier_org_id = :org "
        "OR buyer_org_id = :org",
        "suggestion_id": "SELECT min(id) FROM suggestions",
        "number": "SELECT min(number) FROM orders WHERE buyer_org_id = :org "
        "OR supplier_org_id = :org",
        "product_code": "SELECT min(code) FROM products",
        "address_id": "SELECT min(id) FROM consumer_addresses",
    }
    values: dict[str, object] = {}
    for name in rule.arguments:
        if name in lookups:
            values[name] = _first(lookups[name], org=org_id)
        elif name == "code" and rule.rule.startswith("/stock/"):
            values[name] = _first("SELECT min(code) FROM locations WHERE org_id = :org", org=org_id)
        elif name == "code":  # an org below the signed-in one
            values[name] = "D1" if org_code == "ACME" else "S1"
        elif name == "brand_code":
            values[name] = "ACME"
        elif name == "tier":
            values[name] = "outlet"
        elif "int:" in rule.rule and f"<int:{name}>" in rule.rule:
            values[name] = 1  # an id of a table this test has no lookup for
        else:
            values[name] = "none"  # job ids, invitation tokens, sequence numbers
    if "seq" in values:
        values["seq"] = 1
    return values


def post_routes(app):
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if "POST" in rule.methods and not rule.rule.startswith("/api/")
    ]
    # Signing out last: it ends the session the other posts need.
    return sorted(rules, key=lambda rule: (rule.endpoint == "auth.logout", rule.rule))


def bodies(names: list[str]) -> list[dict]:
    """The same bad values as a browser's form, a multipart form and a JSON body (the only way a
    lone surrogate reaches a form: percent-encoded or multipart bytes are decoded leniently)."""
    surrogate_bytes = SURROGATE.encode("utf-8", "surrogatepass")
    return [
        {"data": {name: NUL for name in names}},
        {
            "data": {name: surrogate_bytes for name in names} | {"extra": NUL},
            "content_type": "multipart/form-data",
        },
        {
            "data": json.dumps({name: SURROGATE for name in names}),
            "content_type": "application/json",
        },
    ]


@pytest.mark.parametrize(
    ("email", "org_code"), [("hq@demo.test", "ACME"), ("dist1@demo.test", "D1")]
)
def test_every_form_route_refuses_nul_and_surrogates_without_a_server_error(
    app, client, login, email, org_code
):
    names = field_names()
    signed_in = login(email)
    failures, shown = [], 0
    for rule in post_routes(app):
        url = app.url_map.bind("localhost").build(rule.endpoint, path_values(rule, org_code))
        for body in bodies(names):
            response = signed_in.post(url, **body)
            if response.status_code >= 500:
                failures.append(f"{rule.endpoint} {body.get('content_type', 'form')}")
            if response.status_code == 302 and "/login" in response.headers["Location"]:
                signed_in = login(email)  # a post signed out or switched org: sign in again
                continue
            if response.status_code == 302:  # a form flashed its errors on the page it left for
                response = signed_in.get(response.headers["Location"])
            if NUL_MESSAGE in response.get_data(as_text=True):
                shown += 1
    assert failures == []
    # The forms that got as far as validating said why (others refuse earlier: 403, 404, 409).
    assert shown >= 15


def test_a_form_shows_the_nul_message_on_its_field_and_keeps_the_page(client, login):
    signed_in = login("hq@demo.test")
    response = signed_in.post("/orgs/new", data={"name": NUL, "code": "N1", "kind": "store"})
    assert response.status_code == 422  # the portal's answer for a form shown again
    page = response.get_data(as_text=True)
    assert NUL_MESSAGE in page
    assert "<form" in page  # the form is shown again, not an error page


def test_a_value_a_view_reads_itself_is_a_400_page_naming_the_field(client, login):
    signed_in = login("dist1@demo.test")
    response = signed_in.post("/replenishment/run", data={"brand": NUL})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "brand" in page and NUL_MESSAGE in page
    assert 'data-status="400"' in page


def test_sign_in_with_a_nul_in_the_email_is_refused_clearly(client):
    response = client.post("/login", data={"email": "hq@demo.test\x00", "password": "demo1234"})
    assert response.status_code == 422  # the sign-in form again, the message on the field
    page = response.get_data(as_text=True)
    assert NUL_MESSAGE in page and 'name="email"' in page
