"""Write use cases for the network. Services flush, never commit; boundaries commit."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from blinker import Namespace
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import CursorResult, String, func, literal, select, update

from portal.core import audit, jobs
from portal.core.access import ROLES_BY_KIND, Actor, OrgKind, Permission, Role
from portal.core.db import utcnow
from portal.core.errors import NotFound, PermissionDenied, ValidationFailed
from portal.core.mail import deliver_mail
from portal.extensions import db
from portal.network import queries
from portal.network.errors import (
    AlreadyMember,
    InvalidChannel,
    InvitationExpired,
    InvitationInvalid,
    InvitationUsed,
    OrgCodeTaken,
    OrgSuspended,
    RoleNotAllowed,
)
from portal.network.models import ChannelLink, Invitation, Membership, Organization, OrgStatus, User

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8
MAX_CREDIT_CENTS = 10**13  # 100 billion in major units

_signals = Namespace()
# Sent with the org inside the transaction that suspends it. Sign-in (portal/auth, which this
# package must not import) ends its people's sessions and tokens in the same transaction.
org_suspended = _signals.signal("org-suspended")


def normalize_code(code: str) -> str:
    return (code or "").strip().upper()


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def _check_text(fields: dict[str, str], name: str, value: str, *, limit: int, required: bool):
    if required and not value.strip():
        fields[name] = "This field is required."
    elif len(value) > limit:
        fields[name] = f"At most {limit} characters."


def _validate_org_fields(
    *, code: str | None, name: str, region: str, address: str, level: str | None = None
) -> None:
    fields: dict[str, str] = {}
    if code is not None and not CODE_RE.match(code):
        fields["code"] = "2-32 capital letters, digits, '-' or '_'."
    _check_text(fields, "name", name, limit=120, required=True)
    _check_text(fields, "region", region, limit=40, required=False)
    _check_text(fields, "address", address, limit=255, required=False)
    if level is not None:
        _check_text(fields, "level", level, limit=20, required=False)
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
    _ensure_may_change(actor, org)
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
    _check_text(fields, "level", level, limit=20, required=False)
    _check_text(fields, "region", region, limit=40, required=False)
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
    if not _may_move(actor, link):
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


# -- who may do what to an org: one set of predicates for the services and for the pages -------


def _all_links(org: Organization) -> list[ChannelLink]:
    """Every brand's link of the org, whoever asks: org-wide rules must weigh them all."""
    stmt = select(ChannelLink).where(ChannelLink.buyer_org_id == org.id)
    return list(db.session.execute(stmt).scalars())


def _above_in_every_brand(actor: Actor, links: list[ChannelLink]) -> bool:
    """Org-wide changes (status, details, people) touch every brand the org carries, so one
    brand's HQ must not make them for an org that also serves another brand."""
    return bool(links) and all(actor.is_above(link.brand_id, link.path) for link in links)


def _may_change(actor: Actor, org: Organization, links: list[ChannelLink]) -> bool:
    """Details: the org's own admins, and those above it in every brand it carries."""
    if not actor.can(Permission.NETWORK_MANAGE):
        return False
    return actor.is_system or org.id == actor.org_id or _above_in_every_brand(actor, links)


def _may_set_status(actor: Actor, org: Organization, links: list[ChannelLink]) -> bool:
    """Suspend / reactivate: never one's own org or a brand."""
    if not actor.can(Permission.NETWORK_SUSPEND):
        return False
    if org.id == actor.org_id or org.kind == OrgKind.BRAND:
        return False
    return _may_change(actor, org, links)


def _may_manage_people(actor: Actor, org: Organization, links: list[ChannelLink]) -> bool:
    """A store owner manages its own staff; org admins above manage the orgs below."""
    if not actor.can(Permission.PEOPLE_MANAGE):
        return False
    if actor.is_system or org.id == actor.org_id:
        return True
    return actor.can(Permission.NETWORK_MANAGE) and _above_in_every_brand(actor, links)


def _may_edit_terms(actor: Actor, link: ChannelLink) -> bool:
    """A link's level, region and credit are set by its supplier or anyone above."""
    return actor.can(Permission.NETWORK_MANAGE) and actor.is_above(link.brand_id, link.path)


def _may_move(actor: Actor, link: ChannelLink) -> bool:
    """Only the brand's HQ moves a store to another supplier."""
    return actor.is_system or (actor.is_hq and actor.org_id == link.brand_id)


@dataclass(frozen=True)
class OrgActions:
    """What the actor may do to one org, for pages to offer only what the services allow."""

    edit: bool
    set_status: bool
    manage_people: bool
    edit_terms_in: frozenset[int]  # brand ids
    move_in: frozenset[int]


def permitted_actions(actor: Actor, org: Organization) -> OrgActions:
    links = _all_links(org)
    return OrgActions(
        edit=_may_change(actor, org, links),
        set_status=_may_set_status(actor, org, links),
        manage_people=_may_manage_people(actor, org, links),
        edit_terms_in=frozenset(ln.brand_id for ln in links if _may_edit_terms(actor, ln)),
        move_in=frozenset(
            ln.brand_id for ln in links if org.kind == OrgKind.STORE and _may_move(actor, ln)
        ),
    )


def _refuse(actor: Actor, org: Organization, message: str) -> None:
    """Another org's row is a 404; one's own part of the network without the right, a 403."""
    if not queries.is_visible(actor, org):
        raise NotFound()
    raise PermissionDenied(message)


def _ensure_may_change(actor: Actor, org: Organization) -> None:
    actor.ensure(Permission.NETWORK_MANAGE)
    if not _may_change(actor, org, _all_links(org)):
        _refuse(actor, org, "This organization also serves another brand; ask its own admin.")


def set_org_status(actor: Actor, org: Organization, status: str, *, reason: str = "") -> None:
    """Suspend or reactivate an org below the actor. A suspended org's users cannot sign in."""
    actor.ensure(Permission.NETWORK_SUSPEND)
    if status not in (OrgStatus.ACTIVE, OrgStatus.SUSPENDED):
        raise ValidationFailed(fields={"status": "Unknown status."})
    if org.id == actor.org_id or org.kind == OrgKind.BRAND:
        raise PermissionDenied("You cannot suspend your own organization or a brand.")
    if not _may_set_status(actor, org, _all_links(org)):
        _refuse(actor, org, "This organization also serves another brand; ask its own admin.")
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


# -- people ---------------------------------------------------------------------------------------


def _ensure_manages_people(actor: Actor, org: Organization) -> None:
    actor.ensure(Permission.PEOPLE_MANAGE)
    if not _may_manage_people(actor, org, _all_links(org)):
        _refuse(actor, org, "Only this organization's own admins or those above it can do this.")


def _check_role(org: Organization, role: str) -> Role:
    try:
        value = Role(role)
    except ValueError as exc:
        raise RoleNotAllowed(fields={"role": "Unknown role."}) from exc
    if value not in ROLES_BY_KIND[OrgKind(org.kind)]:
        raise RoleNotAllowed(fields={"role": f"Not a role for a {org.kind}."})
    return value


def create_user(*, email: str, name: str, password: str, locale: str | None = None) -> User:
    email = normalize_email(email)
    fields: dict[str, str] = {}
    if not EMAIL_RE.match(email) or len(email) > 254:
        fields["email"] = "Enter a valid e-mail address."
    _check_text(fields, "name", name, limit=120, required=True)
    if len(password) < MIN_PASSWORD:
        fields["password"] = f"At least {MIN_PASSWORD} characters."
    elif len(password) > 200:
        fields["password"] = "At most 200 characters."
    if fields:
        raise ValidationFailed(fields=fields)
    if db.session.execute(select(User.id).where(User.email == email)).first():
        raise ValidationFailed(fields={"email": "An account with this e-mail already exists."})
    user = User(email=email, name=name.strip(), locale=locale)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def add_member(actor: Actor, org: Organization, user: User, role: str) -> Membership:
    _ensure_manages_people(actor, org)
    value = _check_role(org, role)
    existing = db.session.execute(
        select(Membership).where(Membership.org_id == org.id, Membership.user_id == user.id)
    ).scalar_one_or_none()
    if existing is not None:
        raise AlreadyMember(fields={"email": f"{user.email} is already a member."})
    membership = Membership(org_id=org.id, user_id=user.id, role=value)
    db.session.add(membership)
    db.session.flush()
    audit.record(actor, "member.added", org_id=org.id, user=user.email, role=value)
    return membership


def change_role(actor: Actor, membership: Membership, role: str) -> Membership:
    _ensure_manages_people(actor, membership.org)
    if membership.user_id == actor.user_id:
        raise PermissionDenied("You cannot change your own role.")
    membership.role = _check_role(membership.org, role)
    db.session.flush()
    audit.record(actor, "member.role_changed", org_id=membership.org_id, role=membership.role)
    return membership


def remove_member(actor: Actor, membership: Membership) -> None:
    _ensure_manages_people(actor, membership.org)
    if membership.user_id == actor.user_id:
        raise PermissionDenied("You cannot remove yourself.")
    audit.record(actor, "member.removed", org_id=membership.org_id, user=membership.user.email)
    db.session.delete(membership)
    db.session.flush()


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="portal-invitation")


def invite_user(actor: Actor, org: Organization, *, email: str, role: str) -> Invitation:
    """Invite someone by e-mail to join `org` with `role`; the link expires and works once."""
    _ensure_manages_people(actor, org)
    email = normalize_email(email)
    if not EMAIL_RE.match(email) or len(email) > 254:
        raise ValidationFailed(fields={"email": "Enter a valid e-mail address."})
    value = _check_role(org, role)
    if not org.is_active:
        raise OrgSuspended()
    member = db.session.execute(
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.org_id == org.id, User.email == email)
    ).first()
    if member:
        raise AlreadyMember(fields={"email": f"{email} is already a member."})
    hours = current_app.config["INVITATION_MAX_AGE_HOURS"]
    invitation = Invitation(
        email=email,
        org_id=org.id,
        role=value,
        nonce=secrets.token_hex(16),
        invited_by_user_id=actor.user_id,
        expires_at=utcnow() + timedelta(hours=hours),
    )
    db.session.add(invitation)
    db.session.flush()
    # The job builds the link itself, so the token is never stored in the job's arguments.
    jobs.enqueue(send_invitation, invitation.id, org_id=org.id, title=f"Invitation to {email}")
    audit.record(actor, "member.invited", org_id=org.id, email=email, role=value)
    return invitation


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Send invitation")
def send_invitation(invitation_id: int) -> dict[str, str]:
    invitation = queries.find_invitation(Actor.system(), invitation_id)
    if invitation is None or invitation.accepted_at is not None:
        return {"skipped": "invitation gone or already accepted"}
    token = _serializer().dumps({"id": invitation.id, "n": invitation.nonce})
    # Built from the URL map, not a request: this runs in a worker.
    path = current_app.url_map.bind("portal").build("auth.accept_invitation", {"token": token})
    link = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path
    org = invitation.org
    hours = current_app.config["INVITATION_MAX_AGE_HOURS"]
    return deliver_mail(
        invitation.email,
        f"You are invited to {org.name} on the channel portal",
        f"You have been invited to join {org.name} ({org.code}) as {invitation.role}.\n\n"
        f"Accept within {hours} hours: {link}\n",
    )


def load_invitation(token: str) -> Invitation:
    """Check a token: signature, expiry, single use. Raises an InvitationInvalid subclass."""
    hours = current_app.config["INVITATION_MAX_AGE_HOURS"]
    try:
        data = _serializer().loads(token, max_age=hours * 3600)
    except SignatureExpired as exc:
        raise InvitationExpired() from exc
    except BadSignature as exc:
        raise InvitationInvalid() from exc
    invitation_id = data.get("id") if isinstance(data, dict) else None
    # Whoever holds a validly signed token may open it: the signature is the permission.
    invitation = (
        queries.find_invitation(Actor.system(), invitation_id)
        if isinstance(invitation_id, int)
        else None
    )
    if invitation is None or not secrets.compare_digest(invitation.nonce, str(data.get("n"))):
        raise InvitationInvalid()
    if invitation.accepted_at is not None:
        raise InvitationUsed()
    if invitation.expires_at < utcnow():
        raise InvitationExpired()
    if not invitation.org.is_active:
        raise OrgSuspended()
    return invitation


def accept_invitation(
    token: str, *, name: str = "", password: str = "", existing_user: User | None = None
) -> Membership:
    """Join the invited org: as a new account (name + password) or as the signed-in user."""
    invitation = load_invitation(token)
    if existing_user is not None:
        if normalize_email(existing_user.email) != invitation.email:
            raise InvitationInvalid(
                f"This invitation is for {invitation.email}; sign out and open it again."
            )
        user = existing_user
    else:
        found = db.session.execute(
            select(User).where(User.email == invitation.email)
        ).scalar_one_or_none()
        if found is not None:
            if not found.check_password(password):
                raise ValidationFailed(
                    fields={"password": "This e-mail has an account: enter its password."}
                )
            user = found
        else:
            user = create_user(email=invitation.email, name=name, password=password)
    already = db.session.execute(
        select(Membership).where(
            Membership.org_id == invitation.org_id, Membership.user_id == user.id
        )
    ).scalar_one_or_none()
    if already is not None:
        raise AlreadyMember()
    # A conditional update, so two clicks racing on one link cannot both join.
    claimed = cast(
        CursorResult[Any],
        db.session.execute(
            update(Invitation)
            .where(Invitation.id == invitation.id, Invitation.accepted_at.is_(None))
            .values(accepted_at=utcnow(), accepted_user_id=user.id)
            .execution_options(synchronize_session=False)
        ),
    )
    if claimed.rowcount != 1:
        raise InvitationUsed()
    membership = Membership(org_id=invitation.org_id, user_id=user.id, role=invitation.role)
    db.session.add(membership)
    db.session.flush()
    db.session.refresh(invitation)
    return membership
