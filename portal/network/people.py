"""People in the network: users, memberships and their roles, and invitations (sent by a job,
accepted through a signed link). Who may manage an org's people is decided in `rights`."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any, cast

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import CursorResult, select, update

from portal.core import audit, jobs
from portal.core.access import ROLES_BY_KIND, Actor, OrgKind, Permission, Role
from portal.core.db import utcnow
from portal.core.errors import PermissionDenied, ValidationFailed
from portal.core.mail import deliver_mail
from portal.extensions import db
from portal.network import queries, rights
from portal.network.errors import (
    AlreadyMember,
    InvitationExpired,
    InvitationInvalid,
    InvitationUsed,
    OrgSuspended,
    RoleNotAllowed,
)
from portal.network.fields import EMAIL_RE, MIN_PASSWORD, check_text, normalize_email
from portal.network.models import Invitation, Membership, Organization, User


def _ensure_manages_people(actor: Actor, org: Organization) -> None:
    actor.ensure(Permission.PEOPLE_MANAGE)
    if not rights.may_manage_people(actor, org, rights.all_links(org)):
        rights.refuse(
            actor, org, "Only this organization's own admins or those above it can do this."
        )


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
    check_text(fields, "name", name, limit=120, required=True)
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
