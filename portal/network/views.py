from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from wtforms import SelectChoice

from portal.core import transaction
from portal.core.access import ROLES_BY_KIND, Actor, OrgKind, Permission, current_actor, require
from portal.core.errors import DomainError, NotFound
from portal.core.forms import apply_errors
from portal.core.inputs import MAX_INT_ID
from portal.core.money import to_cents
from portal.core.pagination import parse_page_args
from portal.network import queries, rights, services
from portal.network.forms import (
    InviteForm,
    LinkForm,
    MoveForm,
    OrgDetailsForm,
    OrgForm,
    RoleForm,
    SuspendForm,
)
from portal.network.models import ChannelLink, Membership, Organization, OrgStatus

bp = Blueprint("network", __name__)

ROLE_LABELS = {
    "hq_admin": "HQ admin",
    "hq_merchandiser": "HQ merchandiser",
    "distributor_admin": "Distributor admin",
    "distributor_buyer": "Distributor buyer",
    "store_owner": "Store owner",
    "store_staff": "Store staff",
}


def _role_choices(org: Organization) -> list[SelectChoice]:
    return [
        SelectChoice(r.value, _(ROLE_LABELS[r.value])) for r in ROLES_BY_KIND[OrgKind(org.kind)]
    ]


def _org_choices(orgs: list[Organization]) -> list[SelectChoice]:
    return [SelectChoice(o.code, f"{o.code} · {o.name}") for o in orgs]


def _brand_from_args(actor: Actor) -> Organization:
    brands = queries.brands_of(actor)
    if not brands:
        raise NotFound()
    code = (request.args.get("brand") or "").upper()
    for brand in brands:
        if brand.code == code:
            return brand
    if code:
        raise NotFound()
    return brands[0]


@bp.get("/")
@require(Permission.NETWORK_VIEW)
def home():
    actor = current_actor()
    org = queries.find_own_org(actor)
    brands = queries.brands_of(actor)
    counts = {b.code: queries.count_orgs_by_kind(actor, b.id) for b in brands}
    return render_template("network/home.html", org=org, brands=brands, counts=counts)


@bp.get("/network")
@require(Permission.NETWORK_VIEW)
def tree():
    actor = current_actor()
    brand = _brand_from_args(actor)
    root = queries.network_tree(actor, brand.id)
    return render_template(
        "network/tree.html", brand=brand, brands=queries.brands_of(actor), root=root
    )


@bp.get("/orgs")
@require(Permission.NETWORK_VIEW)
def org_list():
    actor = current_actor()
    page, per_page = parse_page_args(request.args)
    brand_code = (request.args.get("brand") or "").upper()
    brand = next((b for b in queries.brands_of(actor) if b.code == brand_code), None)
    if brand_code and brand is None:
        raise NotFound()
    kind = request.args.get("kind") or None
    status = request.args.get("status") or None
    result = queries.list_orgs(
        actor,
        page=page,
        per_page=per_page,
        kind=kind if kind in tuple(OrgKind) else None,
        status=status if status in tuple(OrgStatus) else None,
        brand_id=brand.id if brand else None,
        q=request.args.get("q") or None,
    )
    return render_template("network/orgs.html", page=result, brands=queries.brands_of(actor))


@bp.route("/orgs/new", methods=["GET", "POST"])
@require(Permission.NETWORK_MANAGE)
def org_new():
    actor = current_actor()
    brand = _brand_from_args(actor)
    suppliers = queries.suppliers_for(actor, brand.id)
    if not suppliers:
        own = queries.find_own_org(actor)
        # A distributor adds stores under itself.
        suppliers = [own] if own and own.kind == OrgKind.DISTRIBUTOR else []
    form = OrgForm(kind=request.args.get("kind", "store"))
    form.supplier.choices = _org_choices(suppliers)
    if not actor.is_hq:
        form.kind.choices = [SelectChoice("store", _("Store"))]
    if form.validate_on_submit():
        supplier = next((s for s in suppliers if s.code == form.supplier.data), None)
        try:
            link = services.add_org(
                actor,
                brand_id=brand.id,
                kind=form.kind.data,
                code=form.code.data,
                name=form.name.data,
                supplier=supplier,
                level=form.level.data or "",
                region=form.region.data or "",
                address=form.address.data or "",
                latitude=form.latitude.data,
                longitude=form.longitude.data,
                credit_limit_cents=to_cents(form.credit_limit.data or 0, brand.currency),
                payment_terms_days=form.payment_terms_days.data or 0,
            )
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
        else:
            flash(_("%(name)s was added to %(brand)s.", name=link.buyer.name, brand=brand.code))
            return redirect(url_for("network.org_detail", code=link.buyer.code))
    status = 422 if request.method == "POST" else 200
    return render_template("network/org_new.html", form=form, brand=brand), status


@bp.get("/orgs/<code>")
@require(Permission.NETWORK_VIEW, load=queries.get_org)
def org_detail(org: Organization):
    actor = current_actor()
    links = queries.links_of(actor, org)
    members = queries.list_members(actor, org) if actor.can(Permission.PEOPLE_VIEW) else []
    invite_form = InviteForm()
    invite_form.role.choices = _role_choices(org)
    can = rights.permitted_actions(actor, org)
    move_forms = {}
    for link in links:
        if link.brand_id in can.move_in:
            form = MoveForm(prefix=f"move{link.brand_id}", supplier=link.supplier.code)
            form.supplier.choices = _org_choices(queries.suppliers_for(actor, link.brand_id))
            move_forms[link.brand_id] = form
    return render_template(
        "network/org.html",
        org=org,
        links=links,
        members=members,
        invite_form=invite_form,
        move_forms=move_forms,
        suspend_form=SuspendForm(),
        role_form=RoleForm(),
        role_choices=_role_choices(org),
        role_labels=ROLE_LABELS,
        can=can,
    )


@bp.route("/orgs/<code>/edit", methods=["GET", "POST"])
@require(Permission.NETWORK_MANAGE, load=queries.get_org)
def org_edit(org: Organization):
    actor = current_actor()
    form = OrgDetailsForm(obj=org)
    if form.validate_on_submit():
        try:
            services.update_org(
                actor,
                org,
                name=form.name.data,
                region=form.region.data or "",
                address=form.address.data or "",
                latitude=form.latitude.data,
                longitude=form.longitude.data,
            )
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("network.org_detail", code=org.code))
    status = 422 if request.method == "POST" else 200
    return render_template("network/org_edit.html", org=org, form=form), status


def _link_in_brand(actor: Actor, org: Organization) -> ChannelLink:
    brand_id = request.args.get("brand_id", type=int)
    link = None
    if brand_id is not None and 0 < brand_id <= MAX_INT_ID:
        link = queries.find_link(actor, brand_id, org)
    if link is None:
        raise NotFound()
    return link


@bp.route("/orgs/<code>/terms", methods=["GET", "POST"])
@require(Permission.NETWORK_MANAGE, load=queries.get_org)
def link_edit(org: Organization):
    actor = current_actor()
    link = _link_in_brand(actor, org)
    form = LinkForm(obj=link)
    if request.method == "GET":
        form.credit_limit.data = link.credit_limit_cents / 100
    if form.validate_on_submit():
        try:
            services.update_link(
                actor,
                link,
                level=form.level.data or "",
                region=form.region.data or "",
                credit_limit_cents=to_cents(form.credit_limit.data or 0, org.currency),
                payment_terms_days=form.payment_terms_days.data or 0,
            )
        except DomainError as error:
            transaction.discard()
            apply_errors(form, error)
        else:
            flash(_("Channel terms saved."), "success")
            return redirect(url_for("network.org_detail", code=org.code))
    status = 422 if request.method == "POST" else 200
    return render_template("network/link_edit.html", org=org, link=link, form=form), status


@bp.post("/orgs/<code>/move")
@require(Permission.NETWORK_MANAGE, load=queries.get_org)
def org_move(org: Organization):
    actor = current_actor()
    link = _link_in_brand(actor, org)
    form = MoveForm(prefix=f"move{link.brand_id}")
    suppliers = queries.suppliers_for(actor, link.brand_id)
    form.supplier.choices = _org_choices(suppliers)
    if not form.validate_on_submit():
        flash(_("Choose a supplier."), "error")
        return redirect(url_for("network.org_detail", code=org.code))
    target = next(s for s in suppliers if s.code == form.supplier.data)
    try:
        services.move_org(actor, link, target)
    except DomainError as error:
        transaction.discard()
        flash(" ".join([error.message, *error.fields.values()]), "error")
    else:
        flash(_("%(org)s now buys from %(supplier)s.", org=org.code, supplier=target.code))
    return redirect(url_for("network.org_detail", code=org.code))


@bp.post("/orgs/<code>/suspend")
@require(Permission.NETWORK_SUSPEND, load=queries.get_org)
def org_suspend(org: Organization):
    form = SuspendForm()
    try:
        services.set_org_status(
            current_actor(), org, OrgStatus.SUSPENDED, reason=form.reason.data or ""
        )
    except DomainError as error:
        transaction.discard()
        flash(" ".join([error.message, *error.fields.values()]), "error")
    else:
        flash(_("%(org)s is suspended: its people cannot sign in.", org=org.code), "success")
    return redirect(url_for("network.org_detail", code=org.code))


@bp.post("/orgs/<code>/reactivate")
@require(Permission.NETWORK_SUSPEND, load=queries.get_org)
def org_reactivate(org: Organization):
    try:
        services.set_org_status(current_actor(), org, OrgStatus.ACTIVE)
    except DomainError as error:
        transaction.discard()
        flash(error.message, "error")
    else:
        flash(_("%(org)s is active again.", org=org.code), "success")
    return redirect(url_for("network.org_detail", code=org.code))


@bp.post("/orgs/<code>/invite")
@require(Permission.PEOPLE_MANAGE, load=queries.get_org)
def org_invite(org: Organization):
    form = InviteForm()
    form.role.choices = _role_choices(org)
    if not form.validate_on_submit():
        errors = [f"{getattr(form, k).label.text}: {' '.join(v)}" for k, v in form.errors.items()]
        flash(" ".join(errors), "error")
        return redirect(url_for("network.org_detail", code=org.code))
    try:
        invitation = services.invite_user(
            current_actor(), org, email=form.email.data, role=form.role.data
        )
    except DomainError as error:
        transaction.discard()
        flash(" ".join([error.message, *error.fields.values()]), "error")
    else:
        flash(_("Invitation sent to %(email)s.", email=invitation.email), "success")
    return redirect(url_for("network.org_detail", code=org.code))


@bp.post("/members/<int:membership_id>/role")
@require(Permission.PEOPLE_MANAGE, load=queries.get_membership)
def member_role(membership: Membership):
    try:
        services.change_role(current_actor(), membership, request.form.get("role", ""))
    except DomainError as error:
        transaction.discard()
        flash(" ".join([error.message, *error.fields.values()]), "error")
    else:
        flash(_("Role changed."), "success")
    return redirect(url_for("network.org_detail", code=membership.org.code))


@bp.post("/members/<int:membership_id>/remove")
@require(Permission.PEOPLE_MANAGE, load=queries.get_membership)
def member_remove(membership: Membership):
    code = membership.org.code
    try:
        services.remove_member(current_actor(), membership)
    except DomainError as error:
        transaction.discard()
        flash(error.message, "error")
    else:
        flash(_("Member removed."), "success")
    return redirect(url_for("network.org_detail", code=code))
