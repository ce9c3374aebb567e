"""HQ's private-sale pages (`MEMBERS_MANAGE`, the brand's own HQ only; anyone else a 404), under
the brand's shop URL like the other HQ shop pages: `/shop/<brand>/hq/private-sales` lists the
sales and starts one; a sale's page edits the draft and its items, publishes it (the stock is
set aside) and ends it. Routes join the `private_sales` blueprint (sale_views gathers them)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import to_user_timezone, to_utc
from wtforms import (
    DateTimeLocalField,
    DecimalField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from portal.core import transaction
from portal.core.access import Permission, current_actor, require
from portal.core.errors import DomainError, NotFound
from portal.core.forms import PortalForm, apply_errors
from portal.core.money import from_cents, to_cents
from portal.inventory.models import Grade
from portal.members import private_sales as sales
from portal.members.sale_models import PrivateSale, SaleStatus
from portal.members.sale_shared_views import bp
from portal.network.models import Organization
from portal.storefront.shops import shop_brand

FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]


class SaleForm(PortalForm):
    code = StringField(_l("Code"), validators=[Length(max=32)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    description = TextAreaField(_l("What the buyers read"), validators=[Length(max=500)])
    starts_at = DateTimeLocalField(_l("Opens"), format=FORMATS, validators=[DataRequired()])
    ends_at = DateTimeLocalField(_l("Ends"), format=FORMATS, validators=[DataRequired()])
    audience = SelectField(
        _l("Who may buy"),
        choices=[SelectChoice(value, name) for value, name in sales.AUDIENCE_NAMES.items()],
    )
    location_id = SelectField(_l("Stock held at"), coerce=int, choices=[])
    units_per_person = IntegerField(
        _l("Items per person (empty: no limit)"),
        validators=[Optional(), NumberRange(1, sales.MAX_LIMIT)],
    )
    amount_per_person = DecimalField(
        _l("Money per person (empty: no limit)"),
        places=2,
        validators=[Optional(), NumberRange(min=Decimal("0.01"), max=Decimal(10**8))],
    )


class ItemForm(PortalForm):
    sku = StringField(_l("SKU"), validators=[DataRequired(), Length(max=80)])
    grade = SelectField(
        _l("Grade"), choices=[SelectChoice(Grade.A.value, "A"), SelectChoice(Grade.B.value, "B")]
    )
    price = DecimalField(
        _l("Event price"),
        places=2,
        validators=[DataRequired(), NumberRange(min=Decimal("0.01"), max=Decimal(10**8))],
    )
    set_aside_qty = IntegerField(
        _l("Units set aside"), validators=[DataRequired(), NumberRange(1, sales.MAX_UNITS)]
    )
    limit_per_person = IntegerField(
        _l("Per person (empty: no limit)"),
        validators=[Optional(), NumberRange(1, sales.MAX_LIMIT)],
    )


def _hq_brand(brand_code: str) -> Organization:
    actor = current_actor()
    brand = shop_brand(brand_code)
    if not (actor.is_hq and actor.org_id == brand.id):
        raise NotFound()
    return brand


def _utc(value: datetime | None) -> datetime | None:
    """People type times in the portal's time zone; the database keeps UTC."""
    return to_utc(value).replace(tzinfo=UTC) if value is not None else None


def _local(value: datetime) -> datetime:
    return to_user_timezone(value).replace(tzinfo=None)


def _sale_form(brand: Organization, sale: PrivateSale | None = None) -> SaleForm:
    """The settings form: as posted, or (a GET of a sale's page) as the sale stands."""
    form = SaleForm()
    form.location_id.choices = [
        SelectChoice(location.id, f"{location.code} · {location.name}")
        for _online, location in sales.sale_locations(brand)
    ]
    if sale is not None and request.method == "GET":
        form.code.data, form.name.data = sale.code, sale.name
        form.description.data = sale.description
        form.starts_at.data, form.ends_at.data = _local(sale.starts_at), _local(sale.ends_at)
        form.audience.data, form.location_id.data = sale.audience, sale.location_id
        form.units_per_person.data = sale.units_per_person
        if sale.amount_per_person_cents is not None:
            form.amount_per_person.data = from_cents(sale.amount_per_person_cents)
    return form


def _sale_input(form: SaleForm) -> sales.SaleInput:
    amount = form.amount_per_person.data
    return sales.SaleInput(
        code=form.code.data or "",
        name=form.name.data or "",
        description=form.description.data or "",
        starts_at=_utc(form.starts_at.data),
        ends_at=_utc(form.ends_at.data),
        audience=form.audience.data or "",
        location_id=form.location_id.data,
        units_per_person=form.units_per_person.data,
        amount_per_person_cents=to_cents(amount) if amount is not None else None,
    )


def _list_page(brand: Organization, form: SaleForm, status: int = 200):
    return render_template(
        "members/sales/hq_list.html",
        brand=brand,
        sales=sales.list_sales(brand),
        form=form,
        status_names=sales.STATUS_NAMES,
        audience_names=sales.AUDIENCE_NAMES,
    ), status


@bp.get("/shop/<brand_code>/hq/private-sales")
@require(Permission.MEMBERS_MANAGE)
def sale_list(brand_code: str):
    brand = _hq_brand(brand_code)
    return _list_page(brand, _sale_form(brand))


@bp.post("/shop/<brand_code>/hq/private-sales")
@require(Permission.MEMBERS_MANAGE)
def sale_create(brand_code: str):
    brand = _hq_brand(brand_code)
    form = _sale_form(brand)
    if form.validate_on_submit():
        try:
            sale = sales.create_sale(current_actor(), brand, _sale_input(form))
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
        else:
            flash(_("Sale %(code)s drafted: add its items, then publish it.", code=sale.code))
            return redirect(_detail_url(brand, sale))
    return _list_page(brand, form, 422)


def _detail_url(brand: Organization, sale: PrivateSale) -> str:
    return url_for("private_sales.sale_detail", brand_code=brand.code, code=sale.code)


def _detail_page(
    brand: Organization,
    sale: PrivateSale,
    *,
    form: SaleForm | None = None,
    item_form: ItemForm | None = None,
    status: int = 200,
):
    return render_template(
        "members/sales/hq_detail.html",
        brand=brand,
        sale=sale,
        form=form or _sale_form(brand, sale),
        item_form=item_form or ItemForm(prefix="item"),
        names=sales.product_names(sale.items),
        is_draft=sale.status == SaleStatus.DRAFT,
        is_published=sale.status == SaleStatus.PUBLISHED,
        status_names=sales.STATUS_NAMES,
        audience_names=sales.AUDIENCE_NAMES,
        shop_url=url_for("private_sales.shop_sale", brand_code=brand.code, code=sale.code),
        currency=sale.items[0].variant.product.currency if sale.items else "CNY",
    ), status


@bp.get("/shop/<brand_code>/hq/private-sales/<code>")
@require(Permission.MEMBERS_MANAGE)
def sale_detail(brand_code: str, code: str):
    brand = _hq_brand(brand_code)
    return _detail_page(brand, sales.get_sale(brand, code))


@bp.post("/shop/<brand_code>/hq/private-sales/<code>")
@require(Permission.MEMBERS_MANAGE)
def sale_update(brand_code: str, code: str):
    brand = _hq_brand(brand_code)
    sale = sales.get_sale(brand, code)
    form = _sale_form(brand, sale)
    if form.validate_on_submit():
        try:
            sales.update_sale(current_actor(), sale, _sale_input(form))
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
        else:
            flash(_("Saved."), "success")
            return redirect(_detail_url(brand, sale))
    return _detail_page(brand, sales.get_sale(brand, code), form=form, status=422)


@bp.post("/shop/<brand_code>/hq/private-sales/<code>/items")
@require(Permission.MEMBERS_MANAGE)
def sale_item_add(brand_code: str, code: str):
    brand = _hq_brand(brand_code)
    sale = sales.get_sale(brand, code)
    form = ItemForm(prefix="item")
    if form.validate_on_submit():
        price = form.price.data
        try:
            item = sales.add_item(
                current_actor(),
                sale,
                sales.ItemInput(
                    sku=form.sku.data or "",
                    grade=form.grade.data or "",
                    price_cents=to_cents(price) if price is not None else None,
                    set_aside_qty=form.set_aside_qty.data,
                    limit_per_person=form.limit_per_person.data,
                ),
            )
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
        else:
            flash(_("%(sku)s added.", sku=item.variant.sku), "success")
            return redirect(_detail_url(brand, sale))
    return _detail_page(brand, sales.get_sale(brand, code), item_form=form, status=422)


@bp.post("/shop/<brand_code>/hq/private-sales/<code>/items/<int:item_id>/remove")
@require(Permission.MEMBERS_MANAGE)
def sale_item_remove(brand_code: str, code: str, item_id: int):
    brand = _hq_brand(brand_code)
    sale = sales.get_sale(brand, code)
    try:
        sales.remove_item(current_actor(), sale, item_id)
    except DomainError as error:
        if error.status == 404:
            raise
        transaction.discard()
        flash(error.message, "error")
        return _detail_page(brand, sales.get_sale(brand, code), status=error.status)
    flash(_("Item removed."), "success")
    return redirect(_detail_url(brand, sale))


def _step(brand_code: str, code: str, step: Any, done: str):
    brand = _hq_brand(brand_code)
    sale = sales.get_sale(brand, code)
    try:
        step(current_actor(), sale)
    except DomainError as error:
        if error.status == 404:
            raise
        transaction.discard()
        flash(" ".join([error.message, *error.fields.values()]), "error")
        return _detail_page(brand, sales.get_sale(brand, code), status=error.status)
    flash(done, "success")
    return redirect(_detail_url(brand, sale))


@bp.post("/shop/<brand_code>/hq/private-sales/<code>/publish")
@require(Permission.MEMBERS_MANAGE)
def sale_publish(brand_code: str, code: str):
    return _step(
        brand_code, code, sales.publish_sale, _("Published: the stock is set aside for the sale.")
    )


@bp.post("/shop/<brand_code>/hq/private-sales/<code>/end")
@require(Permission.MEMBERS_MANAGE)
def sale_end(brand_code: str, code: str):
    return _step(
        brand_code, code, sales.end_sale, _("Ended: what was left went back to the stock.")
    )
