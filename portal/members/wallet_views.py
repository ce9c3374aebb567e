"""A member's points and wallet in the brand's shop, phone first: balances and history, and
topping the wallet up through the payment provider (/shop/<brand>/member/points, /member/wallet,
/member/wallet/top-up). There is no page that pays wallet money out."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.core import transaction
from portal.core.errors import DomainError
from portal.members import membership, points, wallet
from portal.members.ledger_models import PointsKind, TopUpStatus, WalletKind
from portal.members.models import Member
from portal.network.models import Organization
from portal.storefront.auth import consumer_required, signed_in_consumer
from portal.storefront.payments import services as payments
from portal.storefront.payments.errors import PaymentNotPayable
from portal.storefront.payments.providers import provider_named
from portal.storefront.shops import shop_brand

bp = Blueprint("member_wallet", __name__)

HISTORY = 50


def _labels() -> tuple[dict[str, str], dict[str, str]]:
    """What each kind of entry is called on the pages (in the page's language)."""
    return (
        {
            PointsKind.EARN: _("Earned on an order"),
            PointsKind.POS_EARN: _("Earned in a store"),
            PointsKind.MATURE: _("Now usable"),
            PointsKind.REDEEM: _("Paid an order"),
            PointsKind.RELEASE: _("Back from a cancelled order"),
            PointsKind.REFUND: _("Back from a refund"),
            PointsKind.REVERSE: _("Taken back: goods returned"),
            PointsKind.POS_REVERSE: _("Taken back: store refund"),
            PointsKind.EXPIRE: _("Expired"),
        },
        {
            WalletKind.TOP_UP: _("Top-up"),
            WalletKind.PAY: _("Paid an order"),
            WalletKind.RELEASE: _("Back from a cancelled order"),
            WalletKind.REFUND: _("Back from a refund"),
        },
    )


def _page(template: str, brand: Organization, status: int = 200, **context: Any):
    context.setdefault("errors", {})
    context.setdefault("join_url", f"/shop/{brand.code}/member/join")
    context.setdefault("card_url", f"/shop/{brand.code}/member/")
    points_labels, wallet_labels = _labels()
    html = render_template(
        f"members/wallet/{template}",
        brand=brand,
        shop_consumer=signed_in_consumer(),
        points_labels=points_labels,
        wallet_labels=wallet_labels,
        **context,
    )
    return html, status


def _member(brand: Organization) -> Member | None:
    consumer = signed_in_consumer()
    return membership.member_in(brand, consumer)


@bp.get("/shop/<brand_code>/member/points")
@consumer_required
def points_page(brand_code: str):
    brand = shop_brand(brand_code)
    member = _member(brand)
    if member is None:
        return _page("not_member.html", brand, title=_("My points"))
    terms = membership.terms_of(member)
    soon, last_day = points.expiring(member, terms)
    return _page(
        "points.html",
        brand,
        member=member,
        balance=points.balance(member),
        terms=terms,
        expiring=soon,
        expiring_on=last_day,
        entries=points.history(member, HISTORY),
    )


@bp.get("/shop/<brand_code>/member/wallet")
@consumer_required
def wallet_page(brand_code: str):
    brand = shop_brand(brand_code)
    member = _member(brand)
    if member is None:
        return _page("not_member.html", brand, title=_("My wallet"))
    return _page(
        "wallet.html",
        brand,
        member=member,
        balance_cents=wallet.balance_cents(member),
        currency=wallet.CURRENCY,
        entries=wallet.history(member, HISTORY),
    )


@bp.get("/shop/<brand_code>/member/wallet/top-up")
@consumer_required
def top_up(brand_code: str):
    brand = shop_brand(brand_code)
    if _member(brand) is None:
        return _page("not_member.html", brand, title=_("Top up my wallet"))
    return _page("top_up.html", brand, amount="", limits=wallet.top_up_limits())


@bp.post("/shop/<brand_code>/member/wallet/top-up")
@consumer_required
def top_up_start(brand_code: str):
    brand = shop_brand(brand_code)
    typed = request.form.get("amount", "")
    try:
        made = wallet.start_top_up(signed_in_consumer(), brand, wallet.parse_top_up_amount(typed))
    except DomainError as error:
        transaction.discard()
        return _page(
            "top_up.html",
            brand,
            422,
            amount=typed,
            limits=wallet.top_up_limits(),
            errors=error.fields,
            alert=None if error.fields else error.message,
        )
    return redirect(url_for("member_wallet.top_up_pay", brand_code=brand.code, number=made.number))


def _absolute(path: str) -> str:
    return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/") + path


@bp.get("/shop/<brand_code>/member/wallet/top-up/<number>")
@consumer_required
def top_up_pay(brand_code: str, number: str):
    """The top-up's own page: paid, it says so; else it sends the consumer to the provider."""
    brand = shop_brand(brand_code)
    made = wallet.get_own_top_up(signed_in_consumer(), number)
    payment = wallet.payment_of(made)
    started, alert = None, None
    if made.status == TopUpStatus.PENDING and payment is not None:
        here = url_for("member_wallet.top_up_pay", brand_code=brand.code, number=made.number)
        try:
            started = payments.start_payment(
                payment,
                provider_named(payment.provider),
                description=f"{brand.name} {made.number}"[:120],
                notify_url=_absolute(
                    url_for(
                        "storefront.pay_notify", brand_code=brand.code, provider=payment.provider
                    )
                ),
                return_url=_absolute(here),
                client_ip=request.remote_addr or "",
            )
        except PaymentNotPayable:
            flash(_("This top-up can no longer be paid: start a new one."), "error")
            return redirect(url_for("member_wallet.top_up", brand_code=brand.code))
        except DomainError as error:  # the provider could not be reached: try again later
            alert = error.message
    return _page("top_up_pay.html", brand, top_up=made, started=started, alert=alert)
