"""Pages: carts, the order grid, orders and their timeline, the supplier's queue."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext, to_utc
from flask_wtf import FlaskForm

from portal.catalog import queries as catalog_queries
from portal.catalog.models import Product
from portal.core import idempotency
from portal.core.access import Actor, OrgKind, Permission, current_actor, require
from portal.core.errors import DomainError, PermissionDenied, ValidationFailed
from portal.core.forms import apply_errors
from portal.core.idempotency import IdempotencyInProgress
from portal.core.inputs import date_problem
from portal.core.money import MINOR_UNITS, format_money, from_cents, to_cents
from portal.core.pagination import parse_page_args
from portal.core.spreadsheets import csv_bytes, upload_limits
from portal.extensions import db
from portal.finance import queries as finance_queries
from portal.network import queries as network_queries
from portal.network.models import ChannelLink, Organization
from portal.ordering import queries, services, upload
from portal.ordering.errors import OrderRefused
from portal.ordering.forms import (
    NoteForm,
    OrderFileForm,
    PurchasingRuleForm,
    QuickOrderForm,
    ReasonForm,
    ShipForm,
    SubmitCartForm,
    TemplateForm,
)
from portal.ordering.models import (
    Order,
    OrderStatus,
    OrderTemplate,
    ReturnRequest,
    ReturnStatus,
    Shipment,
    ShipmentStatus,
)
from portal.ordering.transitions import EVENT_LABELS
from portal.policy import queries as policy_queries

bp = Blueprint("ordering", __name__)

STATUS_LABELS = {
    OrderStatus.PENDING_BUYER_APPROVAL: _l("Awaiting buyer approval"),
    OrderStatus.SUBMITTED: _l("Submitted"),
    OrderStatus.AWAITING_APPROVAL: _l("Awaiting credit approval"),
    OrderStatus.CONFIRMED: _l("Confirmed"),
    OrderStatus.PARTIALLY_SHIPPED: _l("Partially shipped"),
    OrderStatus.SHIPPED: _l("Shipped"),
    OrderStatus.COMPLETED: _l("Completed"),
    OrderStatus.CANCELLED: _l("Cancelled"),
    OrderStatus.REJECTED: _l("Rejected"),
}
SHIPMENT_LABELS = {
    ShipmentStatus.SHIPPED: _l("In transit"),
    ShipmentStatus.RECEIVED: _l("Received"),
}
RETURN_LABELS = {
    ReturnStatus.REQUESTED: _l("Requested"),
    ReturnStatus.APPROVED: _l("Approved"),
    ReturnStatus.REJECTED: _l("Rejected"),
    ReturnStatus.RECEIVED: _l("Received, credited"),
}
# Why an order waits, as its buyer reads it and as everyone else does.
HOLD_LABELS = {
    "credit": (
        _l("Over the credit limit: waiting for the supplier's approval."),
        _l("Over the credit limit: waiting for the supplier's approval."),
    ),
    "amount": (
        _l("Above your organization's approval amount: waiting for your admin's approval."),
        _l("Above the buyer's approval amount: waiting for the buyer's admin."),
    ),
    "spending_limit": (
        _l("Over the buyer's monthly spending limit: waiting for your admin's approval."),
        _l("Over a monthly spending limit: waiting for the buyer's admin."),
    ),
}
TABS = {
    "buying": _l("Buying"),
    "selling": _l("Selling"),
    "below": _l("Below us"),
}


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {
        "status_labels": STATUS_LABELS,
        "shipment_labels": SHIPMENT_LABELS,
        "return_labels": RETURN_LABELS,
    }


# -- loaders -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Buying:
    """The actor's org as a buyer of one brand: its link (supplier, terms) and price group."""

    brand: Organization
    link: ChannelLink
    buyer: policy_queries.Buyer


def _load_buying(actor: Actor, brand_code: str) -> Buying:
    brand = policy_queries.get_buying_brand(actor, brand_code)
    link = services.buyer_link(actor, brand.id)  # 404 when the org does not buy the brand
    return Buying(brand, link, policy_queries.Buyer.for_link(link))


def _buying(brand_code: str) -> Buying:
    """Cart pages load after the permission check: the cart is one's own org's, so a role
    without ordering is told so (403) before a brand one does not buy is a 404."""
    return _load_buying(current_actor(), brand_code)


def _load_grid(actor: Actor, brand_code: str, product_code: str) -> tuple[Buying, Product]:
    buying = _load_buying(actor, brand_code)
    product = policy_queries.get_offer_product(actor, buying.brand.id, product_code, buying.buyer)
    return buying, product


def _load_order(actor: Actor, number: str) -> Order:
    return queries.get_order(actor, number)


def _load_shipment(actor: Actor, number: str, seq: int) -> tuple[Order, Shipment]:
    order = queries.get_order(actor, number)
    return order, queries.get_shipment(order, seq)


def _load_return(actor: Actor, number: str, seq: int) -> tuple[Order, ReturnRequest]:
    order = queries.get_order(actor, number)
    return order, queries.get_return(order, seq)


def _load_template(actor: Actor, template_id: int) -> OrderTemplate:
    return queries.get_template(actor, template_id)


# -- helpers -------------------------------------------------------------------------------------


def _error_text(error: DomainError) -> str:
    return " ".join([error.message, *(str(m) for m in error.fields.values())])


def _problem_lines(error: DomainError, where: str) -> list[str]:
    """Every refused line of a paste or a file, named by its line or row number."""
    problems = error.extra.get("problems") or []
    if not problems:
        return [_error_text(error)]
    messages = []
    for problem in problems:
        if problem.get("line") is None:
            messages.append(problem["message"])
        elif where == "row":
            messages.append(
                _("Row %(row)d: %(message)s", row=problem["line"] + 1, message=problem["message"])
            )
        else:
            messages.append(
                _(
                    "Line %(line)d: %(message)s",
                    line=problem["line"] + 1,
                    message=problem["message"],
                )
            )
    return messages


def _new_token() -> str:
    return str(uuid.uuid4())


# -- the order grid ------------------------------------------------------------------------------


@bp.route("/order/<brand_code>/<product_code>", methods=["GET", "POST"])
@require(Permission.ORDER_PLACE, load=_load_grid)
def order_grid(loaded: tuple[Buying, Product]):
    """One product's colors × sizes at the buyer's prices, with what is available and what the
    cart holds; saving sets the cart's quantity of every cell (empty or 0 removes it)."""
    buying, product = loaded
    actor = current_actor()
    variants = list(product.variants)
    terms = policy_queries.resolve(buying.buyer, variants)
    orderable = [v.id for v in variants if terms[v.id].authorized]
    errors: dict[str, str] = {}
    typed: dict[int, str] = {}
    status = 200
    if request.method == "POST":
        typed = {vid: (request.form.get(f"qty_{vid}") or "").strip() for vid in orderable}
        try:
            cart = services.get_cart(actor, buying.link)
            services.set_cart_quantities(actor, cart, dict(typed))
        except PermissionDenied:
            raise
        except DomainError as error:
            db.session.rollback()
            errors = error.fields
            flash(error.message, "error")
            status = 422
        else:
            db.session.commit()
            flash(_("Cart updated with %(product)s.", product=product.code), "success")
            return redirect(url_for("ordering.cart_detail", brand_code=buying.brand.code))
    cart = queries.find_cart(actor, buying.link)
    in_cart = {line.variant_id: line.qty for line in cart.lines} if cart else {}
    return render_template(
        "ordering/grid.html",
        brand=buying.brand,
        link=buying.link,
        product=product,
        grid=catalog_queries.variant_grid(product),
        terms=terms,
        available=queries.available_to(buying.link, [v.id for v in variants]),
        in_cart=in_cart,
        typed=typed,
        errors=errors,
    ), status


# -- carts ---------------------------------------------------------------------------------------


@bp.get("/cart")
@require(Permission.ORDER_PLACE)
def cart_list():
    """One cart per brand the actor's org buys, with how many units each holds."""
    actor = current_actor()
    sizes = queries.cart_sizes(actor)
    rows = [(link, sizes.get(link.brand_id, 0)) for link in queries.buyer_links(actor)]
    return render_template("ordering/carts.html", rows=rows)


@dataclass
class CartLineView:
    line: Any
    index: int
    terms: Any
    available: int
    problems: list[str]


def _render_cart(
    buying: Buying,
    *,
    forms: dict[str, FlaskForm] | None = None,
    refused: list[dict[str, Any]] | None = None,
    qty_errors: dict[str, str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    """The cart with today's prices and the submit checks run as a preview (`refused`: the
    problems of a submit that was just refused, shown with the preview's)."""
    actor = current_actor()
    link = buying.link
    cart = queries.find_cart(actor, buying.link)
    lines = list(cart.lines) if cart else []
    quote = services.preview(link, services.cart_requests(cart)) if lines else None
    by_line: dict[int, list[str]] = defaultdict(list)
    order_problems: list[str] = []
    seen: set[tuple[Any, str]] = set()
    problems = [p.as_json() for p in quote.problems] if quote else []
    for problem in [*problems, *(refused or [])]:
        key = (problem.get("line"), problem.get("message"))
        if key in seen:
            continue
        seen.add(key)
        if problem.get("line") is None:
            order_problems.append(problem["message"])
        else:
            by_line[problem["line"]].append(problem["message"])
    available = queries.available_to(link, [line.variant_id for line in lines])
    views = [
        CartLineView(
            line,
            index,
            quote.terms.get(line.variant_id) if quote else None,
            available.get(line.variant_id, 0),
            by_line.get(index, []),
        )
        for index, line in enumerate(lines)
    ]
    total = quote.total_cents if quote else 0
    account = finance_queries.find_account(link.id)
    position = finance_queries.credit_position(account) if account is not None else None
    forms = dict(forms or {})
    if "submit" not in forms:
        forms["submit"] = SubmitCartForm(formdata=None, submit_token=_new_token())
    forms.setdefault("quick", QuickOrderForm(formdata=None))
    forms.setdefault("upload", OrderFileForm(formdata=None))
    forms.setdefault("template", TemplateForm(formdata=None))
    body = render_template(
        "ordering/cart.html",
        brand=buying.brand,
        link=link,
        cart=cart,
        lines=views,
        order_problems=order_problems,
        has_problems=bool(order_problems or by_line),
        total_cents=total,
        total_qty=sum(line.qty for line in lines),
        currency=buying.brand.currency,
        position=position,
        credit_limit_cents=None if position else finance_queries.credit_limit(link),
        over_credit=position is not None and not position.allows(total),
        templates=queries.list_templates(actor, buying.brand.id),
        qty_errors=qty_errors or {},
        forms=forms,
    )
    return body, status


@bp.get("/cart/<brand_code>")
@require(Permission.ORDER_PLACE)
def cart_detail(brand_code: str):
    buying = _buying(brand_code)
    return _render_cart(buying)


def _cart_url(buying: Buying) -> str:
    return url_for("ordering.cart_detail", brand_code=buying.brand.code)


@bp.post("/cart/<brand_code>/quantities")
@require(Permission.ORDER_PLACE)
def cart_quantities(brand_code: str):
    buying = _buying(brand_code)
    actor = current_actor()
    cart = queries.find_cart(actor, buying.link)
    if cart is None:
        return redirect(_cart_url(buying))
    quantities = {
        line.variant_id: (request.form.get(f"qty_{line.variant_id}") or "").strip()
        for line in cart.lines
        if f"qty_{line.variant_id}" in request.form
    }
    try:
        services.set_cart_quantities(actor, cart, quantities)
    except PermissionDenied:
        raise
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _render_cart(buying, qty_errors=error.fields, status=422)
    db.session.commit()
    flash(_("Quantities saved."), "success")
    return redirect(_cart_url(buying))


@bp.post("/cart/<brand_code>/submit")
@require(Permission.ORDER_PLACE)
def cart_submit(brand_code: str):
    """Place the cart as an order, once per rendered form: the form's one-time token is the
    idempotency key, so a double click or a resent POST finds the first order."""
    buying = _buying(brand_code)
    actor = current_actor()
    form = SubmitCartForm()
    if not form.validate_on_submit():
        form.submit_token.data = _new_token()
        return _render_cart(buying, forms={"submit": form}, status=422)
    try:
        token = str(uuid.UUID(form.submit_token.data))
    except ValueError:
        flash(_("The form expired: check the cart and submit again."), "error")
        return redirect(_cart_url(buying))
    cart = queries.find_cart(actor, buying.link)
    if cart is None:
        flash(_("The cart is empty."), "error")
        return redirect(_cart_url(buying))

    def work() -> tuple[int, dict[str, Any], int | None]:
        order = services.submit_cart(
            actor, cart, po_number=form.po_number.data or "", note=form.note.data or ""
        )
        return 303, {"number": order.number}, order.id

    try:
        response = idempotency.run_once(actor.org_id, f"web:{token}", {"cart": cart.id}, work)
    except PermissionDenied:
        raise
    except IdempotencyInProgress:  # a second click while the first is still being placed
        db.session.rollback()
        flash(_("Your order is being placed: it will be in your orders in a moment."), "info")
        return redirect(url_for("ordering.order_list", tab="buying"))
    except DomainError as error:  # the token of another cart's form
        db.session.rollback()
        flash(error.message, "error")
        return redirect(_cart_url(buying))
    db.session.commit()
    if response.status < 400:
        number = response.body["number"]
        if response.replayed:
            flash(_("Order %(number)s was already placed.", number=number), "info")
        else:
            flash(_("Order %(number)s placed.", number=number), "success")
        return redirect(url_for("ordering.order_detail", number=number))
    error = response.body["error"]
    flash(error["message"], "error")
    fields = {
        key: message
        for key, message in (error.get("fields") or {}).items()
        if not key.startswith("lines.") and key != "order"
    }
    for name, message in fields.items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*list(field.errors or []), message]
        else:
            flash(message, "error")
    form.submit_token.data = _new_token()  # a corrected cart is a new submission
    return _render_cart(
        buying, forms={"submit": form}, refused=error.get("problems") or [], status=422
    )


def _add_lines(
    buying: Buying,
    form: FlaskForm,
    field_name: str,
    read: Callable[[], list[services.LineRequest]],
    where: str,
) -> Any:
    """Add parsed lines to the cart: all or nothing, every refused line listed on the form."""
    actor = current_actor()
    field = getattr(form, field_name)
    if form.validate_on_submit():
        try:
            requests = read()
            if not requests:
                raise ValidationFailed(fields={field_name: _("No lines to add.")})
            cart = services.get_cart(actor, buying.link)
            units = services.add_to_cart(actor, cart, requests)
        except PermissionDenied:
            raise
        except OrderRefused as error:
            db.session.rollback()
            field.errors = [*list(field.errors or []), *_problem_lines(error, where)]
            flash(_("Nothing was added: correct the lines named below."), "error")
        except DomainError as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            flash(
                _(
                    "%(units)d units of %(lines)d SKUs added to the cart.",
                    units=units,
                    lines=len(requests),
                ),
                "success",
            )
            return redirect(_cart_url(buying))
    return _render_cart(buying, forms={_FORM_KEYS[field_name]: form}, status=422)


_FORM_KEYS = {"lines": "quick", "file": "upload"}  # which of the cart's forms holds the field


@bp.post("/cart/<brand_code>/quick")
@require(Permission.ORDER_PLACE)
def cart_quick(brand_code: str):
    buying = _buying(brand_code)
    form = QuickOrderForm()
    return _add_lines(
        buying, form, "lines", lambda: upload.parse_pasted(form.lines.data or ""), "line"
    )


@bp.post("/cart/<brand_code>/upload")
@require(Permission.ORDER_PLACE)
def cart_upload(brand_code: str):
    buying = _buying(brand_code)
    form = OrderFileForm()

    def read() -> list[services.LineRequest]:
        file = form.file.data
        data = file.stream.read(upload_limits(in_request=True).max_bytes + 1)
        return upload.parse_file(file.filename or "", data)

    return _add_lines(buying, form, "file", read, "row")


@bp.post("/cart/<brand_code>/clear")
@require(Permission.ORDER_PLACE)
def cart_clear(brand_code: str):
    buying = _buying(brand_code)
    actor = current_actor()
    cart = queries.find_cart(actor, buying.link)
    if cart is not None:
        services.clear_cart(actor, cart)
        db.session.commit()
    flash(_("The cart is empty."), "success")
    return redirect(_cart_url(buying))


# -- order templates -----------------------------------------------------------------------------


@bp.post("/cart/<brand_code>/templates")
@require(Permission.ORDER_PLACE)
def template_save(brand_code: str):
    buying = _buying(brand_code)
    actor = current_actor()
    form = TemplateForm()
    if form.validate_on_submit():
        cart = queries.find_cart(actor, buying.link)
        try:
            if cart is None:
                raise ValidationFailed(fields={"name": _("The cart is empty: nothing to save.")})
            template = services.save_template(actor, cart, name=form.name.data)
        except PermissionDenied:
            raise
        except DomainError as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            flash(_("Saved as template “%(name)s”.", name=template.name), "success")
            return redirect(_cart_url(buying))
    return _render_cart(buying, forms={"template": form}, status=422)


def _template_buying(template: OrderTemplate) -> Buying:
    actor = current_actor()
    link = services.buyer_link(actor, template.brand_id)
    return Buying(link.brand, link, policy_queries.Buyer.for_link(link))


@bp.post("/order-templates/<int:template_id>/apply")
@require(Permission.ORDER_PLACE, load=_load_template)
def template_apply(template: OrderTemplate):
    actor = current_actor()
    buying = _template_buying(template)
    name = template.name
    try:
        cart = services.get_cart(actor, buying.link)
        units = services.apply_template(actor, cart, template)
    except PermissionDenied:
        raise
    except OrderRefused as error:
        db.session.rollback()
        flash(
            " ".join(
                [_("Nothing was added from “%(name)s”:", name=name), *_problem_lines(error, "")]
            ),
            "error",
        )
    except DomainError as error:
        db.session.rollback()
        flash(_error_text(error), "error")
    else:
        db.session.commit()
        flash(_("%(units)d units added from “%(name)s”.", units=units, name=name), "success")
    return redirect(_cart_url(buying))


@bp.post("/order-templates/<int:template_id>/delete")
@require(Permission.ORDER_PLACE, load=_load_template)
def template_delete(template: OrderTemplate):
    actor = current_actor()
    buying = _template_buying(template)
    name = template.name
    services.delete_template(actor, template)
    db.session.commit()
    flash(_("Template “%(name)s” deleted.", name=name), "success")
    return redirect(_cart_url(buying))


# -- orders --------------------------------------------------------------------------------------


def _day(text: str | None, *, end: bool = False) -> datetime | None:
    """A date typed in the portal's time zone as a UTC moment (the start of the next day for
    an "until" date, so the day itself is included)."""
    if not text:
        return None
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d")
        if date_problem(day):
            raise ValueError(text)  # year 1 or 9999 overflows in the time zone's conversion
    except ValueError:
        flash(_("Dates are written YYYY-MM-DD: %(value)s was left out.", value=text[:20]), "error")
        return None
    if end:
        day += timedelta(days=1)
    return to_utc(day).replace(tzinfo=UTC)


def _tabs(actor: Actor) -> list[str]:
    tabs = []
    if queries.buyer_links(actor):
        tabs.append("buying")
    if actor.can(Permission.ORDER_FULFIL) or queries.supplies_anyone(actor):
        tabs.append("selling")
    if actor.org_kind in (OrgKind.BRAND, OrgKind.DISTRIBUTOR):
        tabs.append("below")
    return tabs or ["buying"]


@bp.get("/orders")
@require(Permission.ORDER_VIEW)
def order_list():
    actor = current_actor()
    tabs = _tabs(actor)
    tab = request.args.get("tab") or tabs[0]
    if tab not in tabs:
        tab = tabs[0]
    page, per_page = parse_page_args(request.args, default_per_page=25)
    status = request.args.get("status") or None
    if status not in STATUS_LABELS:
        status = None
    result = queries.list_orders(
        actor,
        side={"buying": "buying", "selling": "selling"}.get(tab, ""),
        status=status,
        buyer=request.args.get("buyer") or None,
        since=_day(request.args.get("since")),
        until=_day(request.args.get("until"), end=True),
        number=request.args.get("q") or None,
        page=page,
        per_page=per_page,
    )
    return render_template(
        "ordering/orders.html",
        page=result,
        tab=tab,
        tabs=[(name, TABS[name]) for name in tabs],
        queue=tab == "selling" and actor.can(Permission.ORDER_FULFIL),
        status=status,
    )


@bp.post("/orders/approve")
@require(Permission.ORDER_FULFIL)
def order_approve_many():
    """The supplier's queue: approve the ticked orders, each on its own; those that cannot be
    approved (taken meanwhile, not one's own) are named."""
    actor = current_actor()
    numbers = [n.strip().upper() for n in request.form.getlist("numbers") if n.strip()]
    if not numbers:
        flash(_("Tick the orders to approve."), "error")
        return redirect(url_for("ordering.order_list", tab="selling"))
    orders = queries.get_orders(actor, numbers)
    done, skipped = services.approve_orders(actor, orders)
    db.session.commit()
    found = {order.number for order in orders}
    skipped = [*skipped, *(n for n in numbers if n not in found)]
    flash(ngettext("%(num)d order approved.", "%(num)d orders approved.", len(done)), "success")
    if skipped:
        flash(
            _("Not approved (not waiting for you): %(numbers)s", numbers=", ".join(skipped)),
            "error",
        )
    return redirect(url_for("ordering.order_list", tab="selling"))


def _pick_rows() -> tuple[list[Order], list[queries.PickRow]]:
    numbers = request.args.getlist("numbers")
    if len(numbers) == 1 and "," in numbers[0]:
        numbers = numbers[0].split(",")
    orders = queries.get_supplied_orders(current_actor(), numbers)
    return orders, queries.pick_list(orders)


@bp.get("/orders/pick-list")
@require(Permission.ORDER_FULFIL)
def pick_list():
    orders, rows = _pick_rows()
    return render_template(
        "ordering/pick_list.html",
        orders=orders,
        rows=rows,
        numbers=[o.number for o in orders],
        total=sum(r.qty for r in rows),
    )


@bp.get("/orders/pick-list.csv")
@require(Permission.ORDER_FULFIL)
def pick_list_csv():
    _orders, rows = _pick_rows()
    body = csv_bytes(
        [
            ("sku", "product", "color", "size", "qty", "orders"),
            *((r.sku, r.product, r.color, r.size, r.qty, " ".join(r.orders)) for r in rows),
        ]
    )
    return Response(
        body,
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="pick-list.csv"'},
    )


@bp.route("/orders/rules", methods=["GET", "POST"])
@require(Permission.ORDER_APPROVE)
def purchasing_rules():
    """The org's own limits for its buyers: an approval amount and a monthly limit each."""
    actor = current_actor()
    org = network_queries.get_org_by_id(actor, actor.org_id)
    rule = services.find_purchasing_rule(org.id)
    form = PurchasingRuleForm()
    if form.validate_on_submit():
        try:
            amounts = {}
            for name in ("approval_above", "monthly_limit"):
                text = getattr(form, name).data
                try:
                    amounts[name] = to_cents(text, org.currency) if text else None
                except ValidationFailed as exc:
                    raise ValidationFailed(
                        fields={name: _("Not an amount: %(value)s.", value=text[:20])}
                    ) from exc
            services.set_purchasing_rule(
                actor,
                org,
                approval_above_cents=amounts["approval_above"],
                monthly_limit_cents=amounts["monthly_limit"],
            )
        except PermissionDenied:
            raise
        except DomainError as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            flash(_("Purchasing rules saved."), "success")
            return redirect(url_for("ordering.purchasing_rules"))
    elif request.method == "GET" and rule is not None:
        form.approval_above.data = _major(rule.approval_above_cents, org.currency)
        form.monthly_limit.data = _major(rule.monthly_limit_cents, org.currency)
    return render_template(
        "ordering/rules.html", form=form, rule=rule, org=org
    ), 422 if request.method == "POST" else 200


def _major(cents: int | None, currency: str) -> str:
    digits = MINOR_UNITS.get(currency, 2)
    return "" if cents is None else f"{from_cents(cents, currency):.{digits}f}"


# -- one order -----------------------------------------------------------------------------------


def _event_details(event: Any, currency: str) -> list[str]:
    d = event.details or {}
    parts = []
    if "shipment" in d:
        parts.append(_("shipment %(seq)s", seq=d["shipment"]))
    if "ret" in d:
        parts.append(_("return R%(seq)s", seq=d["ret"]))
    if "lines" in d:
        parts.append(_("%(num)d lines", num=d["lines"]))
    if "units" in d:
        parts.append(_("%(num)d units", num=d["units"]))
    if "total_cents" in d:
        parts.append(_("total %(amount)s", amount=format_money(d["total_cents"], currency)))
    if "invoiced_cents" in d:
        parts.append(_("invoiced %(amount)s", amount=format_money(d["invoiced_cents"], currency)))
    if "released_cents" in d:
        parts.append(_("released %(amount)s", amount=format_money(d["released_cents"], currency)))
    if "credited_cents" in d:
        parts.append(
            _("credit note %(amount)s", amount=format_money(d["credited_cents"], currency))
        )
    if d.get("carrier"):
        parts.append(_("carrier %(name)s", name=d["carrier"]))
    if d.get("tracking_number"):
        parts.append(_("tracking %(number)s", number=d["tracking_number"]))
    if d.get("short"):
        short = ", ".join(f"{sku} −{qty}" for sku, qty in d["short"].items())
        parts.append(_("short: %(lines)s", lines=short))
    if d.get("credit_excess"):
        parts.append(_("accepted over the credit limit"))
    if d.get("hold") in HOLD_LABELS:
        parts.append(str(HOLD_LABELS[d["hold"]][1]))
    return parts


@bp.get("/orders/<number>")
@require(Permission.ORDER_VIEW, load=_load_order)
def order_detail(order: Order):
    actor = current_actor()
    is_buyer = actor.org_id == order.buyer_org_id
    actions = services.permitted_actions(actor, order)
    shipments = queries.shipments(order)
    returns = queries.returns(order)
    events = queries.order_events(order)
    hold = HOLD_LABELS.get(order.hold_reason) if order.is_open else None
    return render_template(
        "ordering/order.html",
        order=order,
        actions=actions,
        is_buyer=is_buyer,
        can_reorder=actions.reorder,
        hold=(hold[0] if is_buyer else hold[1]) if hold else None,
        shipments=shipments,
        returns=returns,
        return_actions={
            ret.seq: services.permitted_return_actions(actor, order, ret) for ret in returns
        },
        returnable={
            line.sku: line.received_qty - line.returned_qty
            for line in order.lines
            if line.received_qty > line.returned_qty
        },
        events=events,
        event_labels=EVENT_LABELS,
        event_details={e.id: _event_details(e, order.currency) for e in events},
        versions=queries.version_labels(order),
        ship_form=ShipForm(formdata=None),
        reason_form=ReasonForm(formdata=None),
        note_form=NoteForm(formdata=None),
    )


def _act(order: Order, change: Callable[[], str]) -> Any:
    """Run one service on the order: committed and flashed, or refused with its reasons;
    either way back to the order's page."""
    number = order.number
    try:
        message = change()
    except PermissionDenied:
        raise
    except DomainError as error:
        db.session.rollback()
        flash(_error_text(error), "error")
    else:
        db.session.commit()
        flash(message, "success")
    return redirect(url_for("ordering.order_detail", number=number))


def _reason() -> str:
    form = ReasonForm()
    return (form.reason.data or "").strip() if form.validate() else ""


def _quantities(skus: list[str]) -> dict[str, str]:
    """Per-SKU quantities typed on the page; an empty box is left out."""
    out = {}
    for sku in skus:
        value = (request.form.get(f"qty_{sku}") or "").strip()
        if value:
            out[sku] = value
    return out


@bp.post("/orders/<number>/approve")
@require(Permission.ORDER_FULFIL, load=_load_order)
def order_approve(order: Order):
    def change() -> str:
        services.approve_order(current_actor(), order)
        return _("Order %(number)s approved.", number=order.number)

    return _act(order, change)


@bp.post("/orders/<number>/reject")
@require(Permission.ORDER_FULFIL, load=_load_order)
def order_reject(order: Order):
    def change() -> str:
        services.reject_order(current_actor(), order, reason=_reason())
        return _("Order %(number)s rejected.", number=order.number)

    return _act(order, change)


@bp.post("/orders/<number>/buyer-approve")
@require(Permission.ORDER_APPROVE, load=_load_order)
def order_buyer_approve(order: Order):
    def change() -> str:
        services.buyer_approve_order(current_actor(), order)
        return _("Order %(number)s approved: it goes to the supplier.", number=order.number)

    return _act(order, change)


@bp.post("/orders/<number>/buyer-reject")
@require(Permission.ORDER_APPROVE, load=_load_order)
def order_buyer_reject(order: Order):
    def change() -> str:
        services.reject_order(current_actor(), order, reason=_reason())
        return _("Order %(number)s declined.", number=order.number)

    return _act(order, change)


@bp.post("/orders/<number>/cancel")
@require(Permission.ORDER_PLACE, load=_load_order)
def order_cancel(order: Order):
    def change() -> str:
        services.cancel_order(current_actor(), order, reason=_reason())
        return _("Order %(number)s cancelled.", number=order.number)

    return _act(order, change)


@bp.post("/orders/<number>/ship")
@require(Permission.ORDER_FULFIL, load=_load_order)
def order_ship(order: Order):
    def change() -> str:
        form = ShipForm()
        if not form.validate():
            raise ValidationFailed(fields={k: " ".join(v) for k, v in form.errors.items()})
        shipment = services.ship_order(
            current_actor(),
            order,
            _quantities([line.sku for line in order.lines if line.open_qty > 0]),
            carrier=form.carrier.data or "",
            tracking_number=form.tracking_number.data or "",
        )
        return _("Shipment %(label)s sent.", label=shipment.label)

    return _act(order, change)


@bp.post("/orders/<number>/close")
@require(Permission.ORDER_FULFIL, load=_load_order)
def order_close(order: Order):
    def change() -> str:
        services.close_order(current_actor(), order, reason=_reason())
        return _("Order %(number)s closed: the rest will not ship.", number=order.number)

    return _act(order, change)


@bp.post("/orders/<number>/shipments/<int:seq>/receive")
@require(Permission.ORDER_PLACE, load=_load_shipment)
def shipment_receive(loaded: tuple[Order, Shipment]):
    order, shipment = loaded

    def change() -> str:
        form = NoteForm()
        form.validate()
        services.receive_shipment(
            current_actor(),
            order,
            shipment,
            received=_quantities([sl.order_line.sku for sl in shipment.lines]),
            note=form.note.data or "",
        )
        return _("Shipment %(label)s received.", label=shipment.label)

    return _act(order, change)


@bp.post("/orders/<number>/return")
@require(Permission.ORDER_PLACE, load=_load_order)
def order_return(order: Order):
    def change() -> str:
        ret = services.request_return(
            current_actor(),
            order,
            _quantities([line.sku for line in order.lines]),
            reason=_reason(),
        )
        return _("Return %(label)s requested.", label=ret.label)

    return _act(order, change)


def _decide_return(loaded: tuple[Order, ReturnRequest], *, approve: bool):
    order, ret = loaded

    def change() -> str:
        form = NoteForm()
        form.validate()
        services.decide_return(current_actor(), ret, approve=approve, note=form.note.data or "")
        if approve:
            return _("Return %(label)s approved.", label=ret.label)
        return _("Return %(label)s refused.", label=ret.label)

    return _act(order, change)


@bp.post("/orders/<number>/returns/<int:seq>/approve")
@require(Permission.ORDER_FULFIL, load=_load_return)
def return_approve(loaded: tuple[Order, ReturnRequest]):
    return _decide_return(loaded, approve=True)


@bp.post("/orders/<number>/returns/<int:seq>/reject")
@require(Permission.ORDER_FULFIL, load=_load_return)
def return_reject(loaded: tuple[Order, ReturnRequest]):
    return _decide_return(loaded, approve=False)


@bp.post("/orders/<number>/returns/<int:seq>/receive")
@require(Permission.ORDER_FULFIL, load=_load_return)
def return_receive(loaded: tuple[Order, ReturnRequest]):
    order, ret = loaded

    def change() -> str:
        services.receive_return(current_actor(), ret)
        return _("Return %(label)s received: a credit note was issued.", label=ret.label)

    return _act(order, change)


@bp.post("/orders/<number>/reorder")
@require(Permission.ORDER_PLACE, load=_load_order)
def order_reorder(order: Order):
    """The past order's lines go in the cart at today's prices; what changed is said."""
    actor = current_actor()
    number = order.number
    brand_code = order.brand.code
    currency = order.currency
    try:
        _cart, differences = services.reorder(actor, order)
    except PermissionDenied:
        raise
    except DomainError as error:
        db.session.rollback()
        flash(_error_text(error), "error")
        return redirect(url_for("ordering.order_detail", number=number))
    db.session.commit()
    flash(_("The lines of %(number)s are in the cart at today's prices.", number=number), "success")
    for diff in differences:
        if diff.now_cents is None:
            flash(_("%(sku)s: no longer orderable, left out.", sku=diff.sku), "error")
        else:
            flash(
                _(
                    "%(sku)s: was %(was)s, now %(now)s.",
                    sku=diff.sku,
                    was=format_money(diff.was_cents, currency),
                    now=format_money(diff.now_cents, currency),
                ),
                "info",
            )
    return redirect(url_for("ordering.cart_detail", brand_code=brand_code))
