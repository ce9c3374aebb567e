"""Pages where a buyer fills its cart and places it: the order grid, the cart (quantities, quick
order, a file, submit), and order templates."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from portal.catalog import queries as catalog_queries
from portal.catalog.models import Product
from portal.core import idempotency, transaction
from portal.core.access import Actor, Permission, current_actor, require
from portal.core.errors import DomainError, ValidationFailed
from portal.core.forms import apply_errors
from portal.core.idempotency import IdempotencyInProgress
from portal.core.spreadsheets import upload_limits
from portal.finance import queries as finance_queries
from portal.ordering import queries, services, upload
from portal.ordering.errors import OrderRefused
from portal.ordering.forms import OrderFileForm, QuickOrderForm, SubmitCartForm, TemplateForm
from portal.ordering.models import OrderTemplate
from portal.ordering.shared_views import (
    Buying,
    bp,
    current_buying,
    error_text,
    load_buying,
    new_token,
    problem_lines,
)
from portal.policy import queries as policy_queries


def _load_grid(actor: Actor, brand_code: str, product_code: str) -> tuple[Buying, Product]:
    buying = load_buying(actor, brand_code)
    product = policy_queries.get_offer_product(actor, buying.brand.id, product_code, buying.buyer)
    return buying, product


def _load_template(actor: Actor, template_id: int) -> OrderTemplate:
    return queries.get_template(actor, template_id)


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
        except DomainError as error:
            transaction.discard()
            errors = error.fields
            flash(error.message, "error")
            status = 422
        else:
            flash(_("Cart updated with %(product)s.", product=product.code), "success")
            return redirect(url_for("ordering.cart_detail", brand_code=buying.brand.code))
    held = queries.find_cart(actor, buying.link)
    in_cart = {line.variant_id: line.qty for line in held.lines} if held else {}
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
    quote = services.preview(link, services.cart_requests(cart)) if cart and lines else None
    by_line: dict[int, list[str]] = defaultdict(list)
    order_problems: list[str] = []
    seen: set[tuple[Any, Any]] = set()
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
        forms["submit"] = SubmitCartForm(formdata=None, submit_token=new_token())
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
    buying = current_buying(brand_code)
    return _render_cart(buying)


def _cart_url(buying: Buying) -> str:
    return url_for("ordering.cart_detail", brand_code=buying.brand.code)


@bp.post("/cart/<brand_code>/quantities")
@require(Permission.ORDER_PLACE)
def cart_quantities(brand_code: str):
    buying = current_buying(brand_code)
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
    except DomainError as error:
        transaction.discard()
        flash(error.message, "error")
        return _render_cart(buying, qty_errors=error.fields, status=422)
    flash(_("Quantities saved."), "success")
    return redirect(_cart_url(buying))


@bp.post("/cart/<brand_code>/submit")
@require(Permission.ORDER_PLACE)
def cart_submit(brand_code: str):
    """Place the cart as an order, once per rendered form: the form's one-time token is the
    idempotency key, so a double click or a resent POST finds the first order."""
    buying = current_buying(brand_code)
    actor = current_actor()
    form = SubmitCartForm()
    if not form.validate_on_submit():
        form.submit_token.data = new_token()
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
        # The cart was found by the actor's org: its buyer is that org.
        response = idempotency.run_once(cart.buyer_org_id, f"web:{token}", {"cart": cart.id}, work)
    except IdempotencyInProgress:  # a second click while the first is still being placed
        transaction.discard()
        flash(_("Your order is being placed: it will be in your orders in a moment."), "info")
        return redirect(url_for("ordering.order_list", tab="buying"))
    except DomainError as error:  # the token of another cart's form
        transaction.discard()
        flash(error.message, "error")
        return redirect(_cart_url(buying))
    # The stored answer lasts even when it is a refusal: a resent form gets the same one.
    transaction.keep()
    if response.status < 400:
        number = response.body["number"]
        if response.replayed:
            flash(_("Order %(number)s was already placed.", number=number), "info")
        else:
            flash(_("Order %(number)s placed.", number=number), "success")
        return redirect(url_for("ordering.order_detail", number=number))
    refusal = response.body["error"]
    flash(refusal["message"], "error")
    fields = {
        key: message
        for key, message in (refusal.get("fields") or {}).items()
        if not key.startswith("lines.") and key != "order"
    }
    for name, message in fields.items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*list(field.errors or []), message]
        else:
            flash(message, "error")
    form.submit_token.data = new_token()  # a corrected cart is a new submission
    return _render_cart(
        buying, forms={"submit": form}, refused=refusal.get("problems") or [], status=422
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
        except OrderRefused as error:
            transaction.discard()
            field.errors = [*list(field.errors or []), *problem_lines(error, where)]
            flash(_("Nothing was added: correct the lines named below."), "error")
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
        else:
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
    buying = current_buying(brand_code)
    form = QuickOrderForm()
    return _add_lines(
        buying, form, "lines", lambda: upload.parse_pasted(form.lines.data or ""), "line"
    )


@bp.post("/cart/<brand_code>/upload")
@require(Permission.ORDER_PLACE)
def cart_upload(brand_code: str):
    buying = current_buying(brand_code)
    form = OrderFileForm()

    def read() -> list[services.LineRequest]:
        file = form.file.data
        data = file.stream.read(upload_limits(in_request=True).max_bytes + 1)
        return upload.parse_file(file.filename or "", data)

    return _add_lines(buying, form, "file", read, "row")


@bp.post("/cart/<brand_code>/clear")
@require(Permission.ORDER_PLACE)
def cart_clear(brand_code: str):
    buying = current_buying(brand_code)
    actor = current_actor()
    cart = queries.find_cart(actor, buying.link)
    if cart is not None:
        services.clear_cart(actor, cart)
    flash(_("The cart is empty."), "success")
    return redirect(_cart_url(buying))


# -- order templates -----------------------------------------------------------------------------


@bp.post("/cart/<brand_code>/templates")
@require(Permission.ORDER_PLACE)
def template_save(brand_code: str):
    buying = current_buying(brand_code)
    actor = current_actor()
    form = TemplateForm()
    if form.validate_on_submit():
        cart = queries.find_cart(actor, buying.link)
        try:
            if cart is None:
                raise ValidationFailed(fields={"name": _("The cart is empty: nothing to save.")})
            template = services.save_template(actor, cart, name=form.name.data)
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
        else:
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
    except OrderRefused as error:
        transaction.discard()
        flash(
            " ".join(
                [_("Nothing was added from “%(name)s”:", name=name), *problem_lines(error, "")]
            ),
            "error",
        )
    except DomainError as error:
        transaction.discard()
        flash(error_text(error), "error")
    else:
        flash(_("%(units)d units added from “%(name)s”.", units=units, name=name), "success")
    return redirect(_cart_url(buying))


@bp.post("/order-templates/<int:template_id>/delete")
@require(Permission.ORDER_PLACE, load=_load_template)
def template_delete(template: OrderTemplate):
    actor = current_actor()
    buying = _template_buying(template)
    name = template.name
    services.delete_template(actor, template)
    flash(_("Template “%(name)s” deleted.", name=name), "success")
    return redirect(_cart_url(buying))
