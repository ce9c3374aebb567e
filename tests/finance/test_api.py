"""The finance API as an ERP uses it: accounts with balance and credit, an account's entries over
a period, and payments the supplier records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from portal.auth.services import create_api_key
from portal.core.access import Actor
from portal.extensions import db
from portal.finance import services
from portal.finance.models import EntryKind
from tests.finance.conftest import FRESH, FRESH_OWNER, UNTOUCHED
from tests.support.services import actor_for


def _bearer(client, email: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", json={"email": email, "password": "demo1234"})
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_accounts_list_every_visible_link_with_balance_and_credit(client, ledger):
    account = ledger.account(FRESH)
    ledger.invoice(account, 1_000_000)
    db.session.commit()
    body = client.get("/api/v1/accounts", headers=_bearer(client, "dist1@demo.test")).get_json()
    assert [(i["buyer"], i["brand"]) for i in body["items"][:2]] == [("D1", "ACME"), ("D1", "LUMI")]
    by_buyer = {item["buyer"]: item for item in body["items"]}
    assert set(by_buyer) == {"D1", "S1", "S3", "S4", "L1"}
    assert body["total"] == 6
    assert by_buyer[FRESH] == {
        "link_id": ledger.link(FRESH).id,
        "brand": "ACME",
        "buyer": FRESH,
        "supplier": "D1",
        "currency": "CNY",
        "balance_cents": 1_000_000,
        "committed_cents": 0,
        "credit_limit_cents": 3_000_000,
        "credit_available_cents": 2_000_000,
    }
    assert by_buyer[UNTOUCHED]["balance_cents"] == 0  # no account yet: still listed


def test_accounts_filter_by_brand_and_buyer_and_page(client):
    headers = _bearer(client, "dist1@demo.test")
    lumi = client.get("/api/v1/accounts?brand=LUMI", headers=headers).get_json()
    assert [item["buyer"] for item in lumi["items"]] == ["D1", "L1"]
    searched = client.get("/api/v1/accounts?q=s4", headers=headers).get_json()
    assert [item["buyer"] for item in searched["items"]] == ["S4"]
    paged = client.get(
        "/api/v1/accounts?per_page=2&page=2", headers=_bearer(client, "hq@demo.test")
    ).get_json()
    assert (paged["page"], paged["per_page"], len(paged["items"])) == (2, 2, 2)
    store = client.get("/api/v1/accounts", headers=_bearer(client, "store1@demo.test"))
    assert [item["buyer"] for item in store.get_json()["items"]] == ["S1"]


def test_entries_over_a_period_come_oldest_first_with_opening_and_closing(client, ledger):
    account = ledger.account(FRESH)
    ledger.entry(account, EntryKind.INVOICE, 100_000, _utc(2026, 1, 10), reference="shipment:1")
    feb = ledger.entry(account, EntryKind.INVOICE, 50_000, _utc(2026, 2, 3), reference="s:2")
    ledger.entry(account, EntryKind.PAYMENT, -70_000, _utc(2026, 2, 20), reference="B-7")
    ledger.entry(account, EntryKind.PAYMENT, -10_000, _utc(2026, 3, 2), reference="B-8")
    db.session.commit()
    link_id = ledger.link(FRESH).id
    body = client.get(
        f"/api/v1/accounts/{link_id}/entries?start=2026-02-01&end=2026-02-28",
        headers=_bearer(client, FRESH_OWNER),
    ).get_json()
    assert {k: body[k] for k in ("link_id", "currency", "start", "end", "total")} == {
        "link_id": link_id,
        "currency": "CNY",
        "start": "2026-02-01",
        "end": "2026-02-28",
        "total": 2,
    }
    assert (body["opening_balance_cents"], body["closing_balance_cents"]) == (100_000, 80_000)
    assert [(i["reference"], i["amount_cents"], i["balance_cents"]) for i in body["items"]] == [
        ("s:2", 50_000, 150_000),
        ("B-7", -70_000, 80_000),
    ]
    assert body["items"][0] == {
        "id": feb.id,
        "kind": "invoice",
        "amount_cents": 50_000,
        "currency": "CNY",
        "reference": "s:2",
        "order_number": None,
        "note": "",
        "due_at": None,
        "created_at": feb.created_at.isoformat(),
        "balance_cents": 150_000,
    }
    everything = client.get(
        f"/api/v1/accounts/{link_id}/entries?per_page=3",
        headers=_bearer(client, "hq@demo.test"),
    ).get_json()
    assert (everything["total"], len(everything["items"])) == (4, 3)
    assert everything["items"][0]["reference"] == "shipment:1"
    assert (everything["opening_balance_cents"], everything["closing_balance_cents"]) == (
        0,
        70_000,
    )


def test_an_entry_names_its_order(client, ledger):
    order = ledger.order(FRESH, "PO-FIN-1")
    services.post_invoice(
        Actor.system(),
        ledger.account(FRESH),
        amount_cents=900,
        reference="shipment:7",
        order_id=order.id,
    )
    db.session.commit()
    body = client.get(
        f"/api/v1/accounts/{ledger.link(FRESH).id}/entries",
        headers=_bearer(client, FRESH_OWNER),
    ).get_json()
    assert body["items"][0]["order_number"] == "PO-FIN-1"
    assert body["items"][0]["due_at"] is not None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start=2026-02-31", "start"),
        ("end=soon", "end"),
        ("start=2026-03-01&end=2026-02-01", "end"),
    ],
)
def test_a_bad_period_is_a_validation_error_naming_the_field(client, ledger, query, field):
    response = client.get(
        f"/api/v1/accounts/{ledger.link('S1').id}/entries?{query}",
        headers=_bearer(client, "store1@demo.test"),
    )
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert (error["code"], set(error["fields"])) == ("validation_error", {field})


def test_entries_of_another_orgs_account_are_not_found(client, ledger):
    response = client.get(
        f"/api/v1/accounts/{ledger.link('S2').id}/entries",
        headers=_bearer(client, "dist1@demo.test"),
    )
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


# -- payments ------------------------------------------------------------------------------------


def _pay(client, email: str, link_id: int, **body):
    payload = {"amount_cents": 123_450, "reference": "ICBC-77"}
    payload.update(body)
    return client.post(
        f"/api/v1/accounts/{link_id}/payments", json=payload, headers=_bearer(client, email)
    )


def test_the_supplier_records_a_payment(client, ledger):
    ledger.invoice(ledger.account(FRESH), 200_000)
    db.session.commit()
    link_id = ledger.link(FRESH).id
    response = _pay(client, "dist1@demo.test", link_id, note="March")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    entry = body["entry"]
    assert (entry["kind"], entry["amount_cents"], entry["reference"], entry["note"]) == (
        "payment",
        -123_450,
        "ICBC-77",
        "March",
    )
    assert entry["balance_cents"] == 76_550
    assert body["account"]["balance_cents"] == 76_550
    assert body["account"]["credit_available_cents"] == 3_000_000 - 76_550


def test_a_payment_on_a_link_without_an_account_creates_it(client, ledger):
    response = _pay(client, "dist1@demo.test", ledger.link(UNTOUCHED).id)
    assert response.status_code == 201
    assert response.get_json()["account"]["balance_cents"] == -123_450


@pytest.mark.parametrize("amount", [0, -5, 12.5, "100", None])
def test_a_payment_amount_must_be_whole_cents_above_zero(client, ledger, amount):
    response = _pay(client, "dist1@demo.test", ledger.link(FRESH).id, amount_cents=amount)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert (error["code"], set(error["fields"])) == ("validation_error", {"amount_cents"})


def test_a_payment_needs_a_reference_and_is_not_recorded_twice(client, ledger):
    link_id = ledger.link(FRESH).id
    missing = _pay(client, "dist1@demo.test", link_id, reference="  ")
    assert missing.status_code == 422
    assert set(missing.get_json()["error"]["fields"]) == {"reference"}
    assert _pay(client, "dist1@demo.test", link_id).status_code == 201
    again = _pay(client, "dist1@demo.test", link_id, amount_cents=5)
    assert again.status_code == 422
    assert set(again.get_json()["error"]["fields"]) == {"reference"}
    assert len(ledger.entries(ledger.account(FRESH))) == 1


@pytest.mark.parametrize(
    ("email", "buyer"),
    [("store1@demo.test", "S1"), ("hq@demo.test", "S1"), ("dist1@demo.test", "D1")],
)
def test_only_the_supplier_records_a_payment(client, ledger, email, buyer):
    response = _pay(client, email, ledger.link(buyer).id)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_a_payment_on_another_orgs_account_is_not_found(client, ledger):
    response = _pay(client, "dist1@demo.test", ledger.link("S2").id)
    assert response.status_code == 404


def _adjust(client, headers: dict[str, str], link_id: int, **body):
    payload = {"amount_cents": -2_500, "note": "damaged in transit", "reference": "CN-9"}
    payload.update(body)
    return client.post(f"/api/v1/accounts/{link_id}/adjustments", json=payload, headers=headers)


def test_an_erp_key_with_finance_manage_records_an_adjustment_once(client, ledger):
    ledger.invoice(ledger.account(FRESH), 200_000)
    _key, token = create_api_key(
        actor_for("dist1@demo.test"), name="ERP", scopes=["finance.view", "finance.manage"]
    )
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    link_id = ledger.link(FRESH).id
    response = _adjust(client, headers, link_id)
    assert response.status_code == 201, response.get_json()
    entry = response.get_json()["entry"]
    assert (entry["kind"], entry["amount_cents"], entry["reference"], entry["note"]) == (
        "adjustment",
        -2_500,
        "CN-9",
        "damaged in transit",
    )
    assert response.get_json()["account"]["balance_cents"] == 197_500
    again = _adjust(client, headers, link_id)  # a retry
    assert again.status_code == 422
    assert set(again.get_json()["error"]["fields"]) == {"reference"}
    zero = _adjust(client, headers, link_id, amount_cents=0, reference="CN-10")
    assert set(zero.get_json()["error"]["fields"]) == {"amount_cents"}
    no_note = _adjust(client, headers, link_id, note=" ", reference="CN-11")
    assert set(no_note.get_json()["error"]["fields"]) == {"note"}
    assert [e.kind for e in ledger.entries(ledger.account(FRESH))].count("adjustment") == 1


@pytest.mark.parametrize(
    ("email", "buyer", "status"),
    [("store1@demo.test", "S1", 403), ("hq@demo.test", "S1", 403), ("dist1@demo.test", "S2", 404)],
)
def test_only_the_supplier_records_an_adjustment(client, ledger, email, buyer, status):
    response = _adjust(client, _bearer(client, email), ledger.link(buyer).id)
    assert response.status_code == status


def test_the_openapi_document_describes_the_finance_routes(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    assert "/api/v1/accounts" in paths
    assert "/api/v1/accounts/{link_id}/entries" in paths
    payment = paths["/api/v1/accounts/{link_id}/payments"]["post"]
    assert "201" in payment["responses"]
    schema = spec["components"]["schemas"]["PaymentIn"]
    assert set(schema["required"]) == {"amount_cents", "reference"}
    assert "credit_available_cents" in spec["components"]["schemas"]["AccountOut"]["properties"]
    adjustment = paths["/api/v1/accounts/{link_id}/adjustments"]["post"]
    assert (payment["x-scope"], adjustment["x-scope"]) == ("finance.manage", "finance.manage")
    assert "Needs `finance.manage`" in adjustment["description"]
    assert paths["/api/v1/accounts"]["get"]["x-scope"] == "finance.view"
