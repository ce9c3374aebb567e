"""Write use cases for the network: orgs, channel links, people and invitations. Services flush,
never commit; the request or job commits. Who may do what to an org is decided in `rights`."""

from __future__ import annotations

from blinker import Namespace
from sqlalchemy import String, func, literal, select, update

from portal.core import audit
from portal.core.access import Actor, OrgKind, Permission
from portal.core.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.network import queries, rights
from portal.network.errors import (
    InvalidChannel,
    OrgCodeTaken,
)
from portal.network.fields import (
    CODE_RE,
    EMAIL_RE,
    MIN_PASSWORD,
    check_text,
    normalize_code,
    normalize_email,
)
from portal.network.models import ChannelLink, Organization, OrgStatus
from portal.network.people import (
    accept_invitation,
    add_member,
    change_role,
    create_user,
    invite_user,
    load_invitation,
    remove_member,
    send_invitation,
)
from portal.network.rights import OrgActions, permitted_actions

MAX_CREDIT_CENTS = 10**13  # 100 billion in major units

_signals = Namespace()
# Sent with the org inside the transaction that suspends it. Sign-in (portal/auth, which this
# package must not import) ends its people's sessions and tokens in the same transaction.
org_suspended = _signals.signal("org-suspended")


def _validate_org_fields(
    *, code: str | None, name: str, region: str, address: str, level: str | None = None
) -> None:
    fields: dict[str, str] = {}
    if code is not None and not CODE_RE.match(code):
        fields["code"] = "2-32 capital letters, digits, '-' or '_'."
    check_text(fields, "name", name, limit=120, required=True)
    check_text(fields, "region", region, limit=40, required=False)
    check_text(fields, "address", address, limit=255, required=False)
    if level is not None:
        check_text(fields, "level", level, limit=20, required=False)
    if fields:
        raise ValidationFailed(fields=fields)


def _validate_terms(credit_limit_cents: int, payment_terms_days: int) -> None:
    fields = {}
    if credit_limit_cents < 0:
        fields["credit_limit"] = "Cannot be negative."
    elif credit_limit_cents > MAX_CREDIT_CENTS:
        fields["credit_limit"] = "Too large."
    if not 0 <= payment_terms_days <= 365:
        fields["payment_terms_days"] = "Between 0 and 365 days."
    if fields:
        raise ValidationFailed(fields=fields)


def create_brand(actor: Actor, *, code: str, name: str, currency: str = "CNY") -> Organization:
    """A new brand is the root of its own channel tree. System actor only (CLI, seed)."""
    if not actor.is_system:
        raise PermissionDenied()
    code = normalize_code(code)
    _validate_org_fields(code=code, name=name, region="", address="")
    _ensure_code_free(code)
    brand = Organization(kind=OrgKind.BRAND, code=code, name=name.strip(), currency=currency)
    db.session.add(brand)
    db.session.flush()
    return brand


def _ensure_code_free(code: str) -> None:
    if db.session.execute(select(Organization.id).where(Organization.code == code)).first():
        raise OrgCodeTaken(fields={"code": f"{code} is already in use."})


def _ensure_manages(actor: Actor, brand_id: int, supplier: Organization) -> ChannelLink | None:
    """The actor may add or change nodes directly below `supplier` in this brand."""
    actor.ensure(Permission.NETWORK_MANAGE)
    if supplier.kind == OrgKind.BRAND:
        if supplier.id != brand_id:
            raise InvalidChannel(fields={"supplier": "Not this brand."})
        if not (actor.is_system or (actor.is_hq and actor.org_id == brand_id)):
            raise NotFound()
        return None
    link = db.session.execute(
        select(ChannelLink).where(
            ChannelLink.brand_id == brand_id, ChannelLink.buyer_org_id == supplier.id
        )
    ).scalar_one_or_none()
    if link is None:
        raise InvalidChannel(fields={"supplier": "That supplier does not carry this brand."})
    own = actor.path_for(brand_id)
    if not (actor.is_system or (own is not None and link.path.startswith(own))):
        raise NotFound()
    return link


def add_org(
    actor: Actor,
    *,
    brand_id: int,
    kind: str,
    code: str,
    name: str,
    supplier: Organization | None = None,
    level: str = "",
    region: str = "",
    address: str = "",
    latitude: float | None = None,
    longitude: float | None = None,
    credit_limit_cents: int = 0,
    payment_terms_days: int = 0,
) -> ChannelLink:
    """Add a distributor (under the brand) or a store (under the brand or a distributor).

    Raises ValidationFailed naming the field, OrgCodeTaken, InvalidChannel, NotFound when the
    supplier is outside the actor's part of the tree.
    """
    code = normalize_code(code)
    if kind not in (OrgKind.DISTRIBUTOR, OrgKind.STORE):
        raise ValidationFailed(fields={"kind": "Choose distributor or store."})
    brand = queries.find_brand(actor, brand_id)
    if brand is None:
        raise ValidationFailed(fields={"brand": "Unknown brand."})
    supplier = supplier or brand
    _validate_org_fields(code=code, name=name, region=region, address=address, level=level)
    _validate_terms(credit_limit_cents, payment_terms_days)
    if kind == OrgKind.DISTRIBUTOR and supplier.kind != OrgKind.BRAND:
        raise InvalidChannel(fields={"supplier": "Distributors buy from the brand."})
    if kind == OrgKind.STORE and supplier.kind == OrgKind.STORE:
        raise InvalidChannel(fields={"supplier": "A store cannot supply another store."})
    parent_link = _ensure_manages(actor, brand_id, supplier)
    _ensure_code_free(code)
    org = Organization(
        kind=kind,
        code=code,
        name=name.strip(),
        region=region.strip(),
        address=address.strip(),
        latitude=latitude,
        longitude=longitude,
        currency=brand.currency,
    )
    db.session.add(org)
    db.session.flush()
    parent_path = parent_link.path if parent_link else f"/{brand.id}/"
    link = ChannelLink(
        brand_id=brand.id,
        supplier_org_id=supplier.id,
        buyer_org_id=org.id,
        level=level.strip(),
        region=(region or "").strip(),
        credit_limit_cents=credit_limit_cents,
        payment_terms_days=payment_terms_days,
        path=f"{parent_path}{org.id}/",
    )
    db.session.add(link)
    db.session.flush()
    audit.record(actor, "org.added", org_id=org.id, brand_id=brand.id, supplier=supplier.code)
    return link


def link_org(
    actor: Actor,
    org: Organization,
    *,
    brand_id: int,
    supplier: Organization | None = None,
    level: str = "",
    region: str = "",
    credit_limit_cents: int = 0,
    payment_terms_days: int = 0,
) -> ChannelLink:
    """Let an existing distributor or store carry one more brand (one distributor, many brands)."""
    brand = queries.find_brand(actor, brand_id)
    if brand is None:
        raise ValidationFailed(fields={"brand": "Unknown brand."})
    if org.kind == OrgKind.BRAND:
        raise InvalidChannel(fields={"org": "A brand cannot buy from a brand."})
    if not queries.is_visible(actor, org):
        raise NotFound()
    supplier = supplier or brand
    if org.kind == OrgKind.DISTRIBUTOR and supplier.kind != OrgKind.BRAND:
        raise InvalidChannel(fields={"supplier": "Distributors buy from the brand."})
    if supplier.kind == OrgKind.STORE:
        raise InvalidChannel(fields={"supplier": "A store cannot supply another store."})
    _validate_org_fields(code=None, name=org.name, region=region, address="", level=level)
    _validate_terms(credit_limit_cents, payment_terms_days)
    parent_link = _ensure_manages(actor, brand_id, supplier)
    exists = db.session.execute(
        select(ChannelLink.id).where(
            ChannelLink.brand_id == brand_id, ChannelLink.buyer_org_id == org.id
        )
    ).first()
    if exists:
        raise InvalidChannel(fields={"org": f"{org.code} already carries {brand.code}."})
    parent_path = parent_link.path if parent_link else f"/{brand.id}/"
    link = ChannelLink(
        brand_id=brand_id,
        supplier_org_id=supplier.id,
        buyer_org_id=org.id,
        level=level,
        region=region,
        credit_limit_cents=credit_limit_cents,
        payment_terms_days=payment_terms_days,
        path=f"{parent_path}{org.id}/",
    )
    db.session.add(link)
    db.session.flush()
    audit.record(actor, "org.linked", org_id=org.id, brand_id=brand_id, supplier=supplier.code)
    return link


def update_org(
    actor: Actor,
    org: Organization,
    *,
    name: str,
    region: str = "",
    address: str = "",
    latitude: float | None = None,
    longitude: float | None = None,
) -> Organization:
    rights.ensure_may_change(actor, org)
    _validate_org_fields(code=None, name=name, region=region, address=address)
    org.name, org.region, org.address = name.strip(), region.strip(), address.strip()
    org.latitude, org.longitude = latitude, longitude
    db.session.flush()
    audit.record(actor, "org.updated", org_id=org.id)
    return org


def update_link(
    actor: Actor,
    link: ChannelLink,
    *,
    level: str,
    region: str,
    credit_limit_cents: int,
    payment_terms_days: int,
) -> ChannelLink:
    """Level, region and credit terms of a link are set by whoever supplies it (or above)."""
    _ensure_manages(actor, link.brand_id, link.supplier)
    fields: dict[str, str] = {}
    check_text(fields, "level", level, limit=20, required=False)
    check_text(fields, "region", region, limit=40, required=False)
    if fields:
        raise ValidationFailed(fields=fields)
    _validate_terms(credit_limit_cents, payment_terms_days)
    before = (link.level, link.region, link.credit_limit_cents, link.payment_terms_days)
    link.level, link.region = level.strip(), region.strip()
    link.credit_limit_cents, link.payment_terms_days = credit_limit_cents, payment_terms_days
    db.session.flush()
    audit.record(
        actor, "link.updated", org_id=link.buyer_org_id, brand_id=link.brand_id, before=before
    )
    return link


def move_org(actor: Actor, link: ChannelLink, new_supplier: Organization) -> ChannelLink:
    """Move a store (and anything below it) to another supplier in the same brand. HQ only."""
    if not rights.may_move(actor, link):
        raise PermissionDenied("Only the brand's HQ can move an organization.")
    buyer = link.buyer
    if buyer.kind != OrgKind.STORE:
        raise InvalidChannel(fields={"supplier": "Only stores can be moved."})
    if new_supplier.kind == OrgKind.STORE or new_supplier.id == buyer.id:
        raise InvalidChannel(fields={"supplier": "Choose the brand or a distributor."})
    if new_supplier.id == link.supplier_org_id:
        return link
    parent_link = _ensure_manages(actor, link.brand_id, new_supplier)
    old_path = link.path
    new_path = f"{parent_link.path if parent_link else f'/{link.brand_id}/'}{buyer.id}/"
    old_supplier = link.supplier.code
    # One statement rewrites the subtree, whatever its size.
    db.session.execute(
        update(ChannelLink)
        .where(ChannelLink.brand_id == link.brand_id, ChannelLink.path.startswith(old_path))
        .values(path=literal(new_path, String) + func.substr(ChannelLink.path, len(old_path) + 1))
        .execution_options(synchronize_session=False)
    )
    link.supplier_org_id = new_supplier.id
    db.session.flush()
    db.session.refresh(link)
    audit.record(
        actor,
        "org.moved",
        org_id=buyer.id,
        brand_id=link.brand_id,
        supplier_before=old_supplier,
        supplier_after=new_supplier.code,
    )
    return link


def set_org_status(actor: Actor, org: Organization, status: str, *, reason: str = "") -> None:
    """Suspend or reactivate an org below the actor. A suspended org's users cannot sign in."""
    actor.ensure(Permission.NETWORK_SUSPEND)
    if status not in (OrgStatus.ACTIVE, OrgStatus.SUSPENDED):
        raise ValidationFailed(fields={"status": "Unknown status."})
    if org.id == actor.org_id or org.kind == OrgKind.BRAND:
        raise PermissionDenied("You cannot suspend your own organization or a brand.")
    if not rights.may_set_status(actor, org, rights.all_links(org)):
        rights.refuse(actor, org, "This organization also serves another brand; ask its own admin.")
    if status == OrgStatus.SUSPENDED and not reason.strip():
        raise ValidationFailed(fields={"reason": "Say why the organization is suspended."})
    if len(reason) > 500:
        raise ValidationFailed(fields={"reason": "At most 500 characters."})
    if org.status == status:
        return
    org.status = status
    db.session.flush()
    action = "org.suspended" if status == OrgStatus.SUSPENDED else "org.reactivated"
    audit.record(actor, action, org_id=org.id, reason=reason.strip())
    if status == OrgStatus.SUSPENDED:
        org_suspended.send(org)


__all__ = [
    "CODE_RE",
    "EMAIL_RE",
    "MIN_PASSWORD",
    "OrgActions",
    "accept_invitation",
    "add_member",
    "change_role",
    "check_text",
    "create_user",
    "invite_user",
    "load_invitation",
    "normalize_code",
    "normalize_email",
    "permitted_actions",
    "remove_member",
    "send_invitation",
]
