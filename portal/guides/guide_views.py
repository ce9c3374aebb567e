"""The guides' portal pages (phone first).

- A guide's own (`GUIDES_USE`): `/guides/me` (my code, my QR, what to share: the brand's home,
  my store's shop, a product found by code or name, live private sales and coupons), the QR
  codes and posters of each link (`/guides/me/qr.png|qr.svg|poster.png|poster.svg?target=&ref=`),
  `/guides/me/customers`, `/guides/me/sales` (a month) and `/guides/leaderboard`.
- A store owner's (`GUIDES_MANAGE`): `/guides/store`, the store's guides with the month's
  sales and commission, and stopping a guide.
- HQ's (`GUIDES_MANAGE`, the brand's own HQ): `/guides/hq`, sales by store and by guide,
  attribution by rule, commission pending, due and paid, and the by-guide CSV.
- Either: `/guides/guide/<id>`, one guide's month (their store's owner, or HQ of the brand;
  anyone else a 404).

A person of a store selling several brands picks the brand (`?brand=`); the first is the
default. The first visit of `/guides/me` gives the person their code (roster.guide_for).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.catalog.services import image_file
from portal.core.access import Actor, OrgKind, Permission, current_actor, require
from portal.core.errors import NotFound
from portal.core.money import format_money
from portal.core.spreadsheets import csv_bytes
from portal.guides import links, qr, reports, roster
from portal.guides.models import AttributionRule, Guide, LinkTarget
from portal.network.models import Organization
from portal.policy.consumer_terms import terms_for
from portal.storefront import catalog, look, store_shops
from portal.storefront.models import Tier

bp = Blueprint("guides", __name__, url_prefix="/guides")

REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}
SEARCH_RESULTS = 10
# The campaigns' pages for a guide (portal/campaigns, a layer above: named, never imported), on
# the guide's home while they exist.
CAMPAIGN_PAGES = (
    ("campaign_tasks.my_tasks", _l("My tasks")),
    ("campaign_events.my_links", _l("Live events to share")),
    ("campaign_packets.my_packets", _l("Red packets")),
)
RULE_NAMES = {
    AttributionRule.CODE: _l("Code at checkout"),
    AttributionRule.LINK: _l("Shared link"),
    AttributionRule.BINDING: _l("Bound customer"),
    AttributionRule.STAFF: _l("Placed in store"),
}


@bp.context_processor
def _names() -> dict[str, Any]:
    return {
        "rule_names": {str(rule): name for rule, name in RULE_NAMES.items()},
        "kind_names": {str(kind): name for kind, name in reports.KIND_NAMES.items()},
    }


# -- who and which brand -------------------------------------------------------------------------


def _brand(actor: Actor) -> tuple[Organization, list[Organization]]:
    """The brand the page is about: `?brand=` (or the form's) among the org's brands."""
    return roster.my_brands(actor, request.args.get("brand") or request.form.get("brand"))


def _my_guide(actor: Actor, brand: Organization) -> Guide:
    return roster.my_guide(actor, brand)


# -- what a link opens ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Share:
    """One thing a guide shares: its signed link and what a poster says about it."""

    target: str
    ref: str
    url: str
    currency: str
    title: str = ""
    title_ascii: str = ""
    price_cents: int | None = None
    image: bytes | None = None
    image_type: str = "image/png"


def _signed(guide: Guide, brand: Organization, target: str, ref: str, **about: Any) -> Share:
    """The guide's signed link to `target`/`ref` (checked by the caller), with what a poster
    says about it."""
    url = links.share_url(brand.code, links.make_token(guide, target, ref))
    return Share(target=target, ref=ref, url=url, **{"currency": brand.currency, **about})


def _product_share(guide: Guide, brand: Organization, code: str, *, with_image: bool) -> Share:
    product = catalog.find_active_product(brand.id, code)
    if product is None:
        raise NotFound()
    price: int | None
    try:
        offer = catalog.get_offer(brand.id, Tier.OFFICIAL.value, product.code)
        price, currency = offer.min_cents, offer.currency
    except NotFound:
        price, currency = None, product.currency
    image, image_type = None, "image/png"
    if with_image:
        path = image_file(product)
        if path is not None and path.is_file() and path.suffix.lower() in IMAGE_TYPES:
            image, image_type = path.read_bytes(), IMAGE_TYPES[path.suffix.lower()]
    return _signed(
        guide,
        brand,
        LinkTarget.PRODUCT,
        product.code,
        title=product.name,
        title_ascii=product.code,
        price_cents=price,
        currency=currency,
        image=image,
        image_type=image_type,
    )


def _share(
    guide: Guide, brand: Organization, target: str, ref: str, *, with_image: bool = False
) -> Share:
    """The guide's link to `target`/`ref`; a target that does not exist for the brand is a 404."""
    if target not in tuple(LinkTarget):
        raise NotFound()
    if target == LinkTarget.PRODUCT:
        if not REF_RE.match(ref):
            raise NotFound()
        return _product_share(guide, brand, ref, with_image=with_image)
    if target == LinkTarget.HOME:
        return _signed(guide, brand, target, "")
    if target == LinkTarget.SHOP:
        store = reports.store_of_brand(brand.id, ref)
        if store is None or not store_shops.is_on(brand.id, store.id):
            raise NotFound()
        return _store_share(guide, brand, store)
    if not REF_RE.match(ref):
        raise NotFound()
    return _signed(guide, brand, target, ref, title=ref, title_ascii=ref)


def _store_share(guide: Guide, brand: Organization, store: Organization) -> Share:
    return _signed(
        guide, brand, LinkTarget.SHOP, store.code, title=store.name, title_ascii=store.code
    )


def _poster(guide: Guide, brand: Organization, share: Share) -> qr.Poster:
    settings = look.find_look(brand.id)
    color = settings.primary_color if settings is not None else look.DEFAULT_PRIMARY
    price = ""
    price_ascii = ""
    if share.price_cents is not None:
        price = format_money(share.price_cents, share.currency)
        whole, cents = divmod(share.price_cents, 100)
        price_ascii = f"{share.currency} {whole}.{cents:02d}"
    return qr.Poster(
        url=share.url,
        color=color,
        brand=qr.Text(look.shop_title(brand, settings), brand.code),
        title=qr.Text(share.title, share.title_ascii),
        price=qr.Text(price, price_ascii),
        guide_code=guide.code,
        caption=qr.Text(_("Scan to shop"), "Scan to shop"),
        code_label=qr.Text(_("Guide code"), "Guide code"),
        image=share.image,
        image_type=share.image_type,
    )


def _download(body: bytes | str, mimetype: str, name: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'inline; filename="{name}"'
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


def _requested_share(with_image: bool = False) -> tuple[Guide, Organization, Share]:
    actor = current_actor()
    brand, _brands_list = _brand(actor)
    guide = _my_guide(actor, brand)
    if not guide.is_active:
        raise NotFound()
    target = (request.args.get("target") or LinkTarget.HOME).strip().lower()
    ref = (request.args.get("ref") or "").strip()[:64]
    return guide, brand, _share(guide, brand, target, ref, with_image=with_image)


def _file_name(guide: Guide, share: Share, kind: str) -> str:
    ref = re.sub(r"[^A-Za-z0-9_.-]", "", share.ref)
    return "-".join(part for part in (guide.code, share.target, ref) if part) + f"-{kind}"


# -- a guide's pages -----------------------------------------------------------------------------


@bp.get("/me")
@require(Permission.GUIDES_USE)
def me():
    actor = current_actor()
    brand, brands = _brand(actor)
    guide = _my_guide(actor, brand)
    if guide.is_sharer:  # a sharer's own page (portal/campaigns)
        return redirect(url_for("campaign_sharers.me"))  # a sharer's links are shared there
    home = shop = None
    found: list[Share] = []
    events: list[Share] = []
    coupons: list[Share] = []
    q = (request.args.get("q") or "").strip()[:100]
    if guide.is_active:
        home = _share(guide, brand, LinkTarget.HOME, "")
        store = reports.store_of_brand(brand.id, None, org_id=guide.org_id)
        if store is not None and store_shops.is_on(brand.id, store.id):  # a closed shop: 404
            shop = _store_share(guide, brand, store)
        if q:
            listed = catalog.list_products(
                brand.id, Tier.OFFICIAL.value, catalog.Filters(q=q), per_page=SEARCH_RESULTS
            )
            found = [  # the listing already carries name and price: no query per result
                _signed(
                    guide,
                    brand,
                    LinkTarget.PRODUCT,
                    item.code,
                    title=item.name,
                    title_ascii=item.code,
                    price_cents=item.min_cents,
                    currency=item.currency,
                )
                for item in listed.items
            ]
        events = [
            _share(guide, brand, LinkTarget.EVENT, e.code)
            for e in reports.shareable_events(brand.id)
            if REF_RE.match(e.code)
        ]
        coupons = [
            _share(guide, brand, LinkTarget.COUPON, c.code)
            for c in reports.shareable_coupons(brand.id)
            if REF_RE.match(c.code)
        ]
    return render_template(
        "guides/me.html",
        brand=brand,
        brands=brands,
        guide=guide,
        home=home,
        shop=shop,
        found=found,
        q=q,
        events=events,
        coupons=coupons,
        window_days=_window_days(brand),
        campaign_pages=CAMPAIGN_PAGES,
    )


def _window_days(brand: Organization) -> int:
    return terms_for(brand.id).guides.window_days


@bp.get("/me/qr.png")
@require(Permission.GUIDES_USE)
def qr_png():
    guide, _brand_row, share = _requested_share()
    return _download(qr.qr_png(share.url), "image/png", _file_name(guide, share, "qr.png"))


@bp.get("/me/qr.svg")
@require(Permission.GUIDES_USE)
def qr_svg():
    guide, _brand_row, share = _requested_share()
    body = qr.qr_svg(share.url, title=share.title or guide.code)
    return _download(body, "image/svg+xml", _file_name(guide, share, "qr.svg"))


@bp.get("/me/poster.svg")
@require(Permission.GUIDES_USE)
def poster_svg():
    guide, brand, share = _requested_share(with_image=True)
    body = qr.poster_svg(_poster(guide, brand, share))
    return _download(body, "image/svg+xml", _file_name(guide, share, "poster.svg"))


@bp.get("/me/poster.png")
@require(Permission.GUIDES_USE)
def poster_png():
    guide, brand, share = _requested_share(with_image=True)
    font = current_app.config.get("POSTER_FONT_PATH") or None
    body = qr.poster_png(_poster(guide, brand, share), font_path=font)
    return _download(body, "image/png", _file_name(guide, share, "poster.png"))


@bp.get("/me/customers")
@require(Permission.GUIDES_USE)
def customers():
    actor = current_actor()
    brand, brands = _brand(actor)
    guide = _my_guide(actor, brand)
    return render_template(
        "guides/customers.html",
        brand=brand,
        brands=brands,
        guide=guide,
        customers=reports.customers(guide),
    )


@bp.get("/me/sales")
@require(Permission.GUIDES_USE)
def sales():
    actor = current_actor()
    brand, brands = _brand(actor)
    guide = _my_guide(actor, brand)
    span = reports.period(request.args.get("period"))
    return render_template(
        "guides/sales.html",
        brand=brand,
        brands=brands,
        guide=guide,
        month=reports.guide_month(guide, span),
        person=None,
        endpoint="guides.sales",
    )


@bp.get("/leaderboard")
@require(Permission.GUIDES_USE)
def leaderboard():
    actor = current_actor()
    brand, brands = _brand(actor)
    guide = _my_guide(actor, brand)
    span = reports.period(None)
    region, region_lines = reports.region_board(guide, span)
    return render_template(
        "guides/leaderboard.html",
        brand=brand,
        brands=brands,
        guide=guide,
        period=span,
        store_lines=reports.store_board(guide, span),
        region=region,
        region_lines=region_lines,
    )


# -- a store owner's page ------------------------------------------------------------------------


@bp.get("/store")
@require(Permission.GUIDES_MANAGE)
def store():
    actor = current_actor()
    if actor.is_hq:
        return redirect(url_for("guides.hq"))
    if actor.org_kind != OrgKind.STORE or actor.org_id is None:
        raise NotFound()
    brand, brands = _brand(actor)
    span = reports.period(request.args.get("period"))
    return render_template(
        "guides/store.html",
        brand=brand,
        brands=brands,
        period=span,
        rows=reports.guide_rows(brand.id, span, org_id=actor.org_id),
    )


@bp.post("/store/<int:guide_id>/stop")
@require(Permission.GUIDES_MANAGE, load=roster.get_guide)
def stop(guide: Guide):
    roster.stop_guide(current_actor(), guide)
    flash(
        _(
            "Guide %(code)s is stopped: their code and links count for nothing new.",
            code=guide.code,
        ),
        "success",
    )
    if current_actor().is_hq:
        return redirect(url_for("guides.hq"))
    return redirect(url_for("guides.store", brand=guide.brand.code))


@bp.get("/guide/<int:guide_id>")
@require(Permission.GUIDES_MANAGE, load=roster.get_guide)
def guide_page(guide: Guide):
    span = reports.period(request.args.get("period"))
    return render_template(
        "guides/sales.html",
        brand=guide.brand,
        brands=[guide.brand],
        guide=guide,
        month=reports.guide_month(guide, span),
        person=reports.short_name(guide.user.name),
        endpoint="guides.guide_page",
    )


# -- HQ ------------------------------------------------------------------------------------------


def _hq_brand(actor: Actor) -> Organization:
    if not actor.is_hq:
        raise NotFound()
    brand, _unused = _brand(actor)
    return brand


@bp.get("/hq")
@require(Permission.GUIDES_MANAGE)
def hq():
    actor = current_actor()
    brand = _hq_brand(actor)
    span = reports.period(request.args.get("period"))
    return render_template(
        "guides/hq.html",
        brand=brand,
        report=reports.hq_report(brand.id, span),
        period=span,
    )


@bp.get("/hq/guides.csv")
@require(Permission.GUIDES_MANAGE)
def hq_csv():
    actor = current_actor()
    brand = _hq_brand(actor)
    span = reports.period(request.args.get("period"))
    report = reports.hq_report(brand.id, span)
    body = csv_bytes(  # a name that would run as a spreadsheet formula stays text
        [
            (
                "period", "store", "guide_code", "guide", "status", "orders", "sales_cents",
                "commission_cents", "earned_cents", "pending_cents", "due_cents", "paid_cents",
            ),
            *(
                (
                    span.label, row.store_code, row.code, row.name, row.status, row.orders,
                    row.amount_cents, row.commission_cents, row.earned_cents, row.pending_cents,
                    row.due_cents, row.paid_cents,
                )
                for row in report.guides
            ),
        ]
    )  # fmt: skip
    response = Response(body, mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="guides-{brand.code}-{span.label}.csv"'
    )
    return response
