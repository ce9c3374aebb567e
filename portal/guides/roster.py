"""Who the guides are: a person of a store (or of HQ) selling one brand, known to consumers by a
short code.

A store staff member, a store owner or an HQ merchandiser or admin gets a code the first time
they need one (`guide_for`): 6 characters from upper-case letters and digits without the ones
people mix up (0/O, 1/I/L), unique across every brand, so a code alone names its guide. A store
that sells several brands (a channel link in each) has one guide code per person and brand.

A code typed by a consumer (`find_by_code`) counts only while its guide is active, and only in
its own brand's shops; a code of another brand counts when the selling brand's terms allow it
(`guides.cross_brand`) AND both brands share one membership programme: the sale then counts
under the selling brand's rules. A stopped guide (`stop_guide`: the store's owner for their own
store, HQ for the brand) attributes nothing new and loses their bound customers.

HQ's people may instead be sharers (`Guide.kind` one of SHARER_KINDS, added and stopped by HQ in
portal/campaigns/sharers.py): they have a code and links like a guide's, found here the same
way, but what a sharer's code or link does is attribution.py's to say (nothing, for the guides).
"""

from __future__ import annotations

import secrets

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.core.access import ROLE_PERMISSIONS, Actor, OrgKind, Permission, Role
from portal.core.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.guides.models import Guide, GuideKind, GuideStatus
from portal.members import membership
from portal.members.member_queries import brands_of
from portal.network.models import ChannelLink, Membership, Organization, OrgStatus
from portal.policy.consumer_terms import ProgramTerms, terms_for
from portal.storefront.words import say

# No 0/O, 1/I/L: a code read aloud in a shop or copied from a photo is typed right.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
MAX_TYPED = 12  # the column's width: anything longer is no code of ours
_TRIES = 8
GUIDE_ROLES = frozenset(
    role for role, granted in ROLE_PERMISSIONS.items() if Permission.GUIDES_USE in granted
)


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(raw: str | None) -> str:
    """A code as typed ("ab 3k-7q") as stored ("AB3K7Q")."""
    return "".join(ch for ch in (raw or "").upper() if ch.isalnum())


def sells_brand(org_id: int, brand_id: int) -> bool:
    """Whether the org is the brand itself (HQ) or a store of it (a channel link in its tree)."""
    if org_id == brand_id:
        return True
    return (
        db.session.execute(
            select(ChannelLink.id)
            .join(Organization, Organization.id == ChannelLink.buyer_org_id)
            .where(
                ChannelLink.brand_id == brand_id,
                ChannelLink.buyer_org_id == org_id,
                Organization.kind == OrgKind.STORE,
            )
            .limit(1)
        ).first()
        is not None
    )


def find_guide(user_id: int, org_id: int, brand_id: int) -> Guide | None:
    return db.session.execute(
        select(Guide).where(
            Guide.user_id == user_id, Guide.org_id == org_id, Guide.brand_id == brand_id
        )
    ).scalar_one_or_none()


def guide_for(
    user_id: int,
    org_id: int,
    brand_id: int,
    *,
    create: bool = True,
    kind: str = GuideKind.GUIDE,
) -> Guide | None:
    """The person's guide record for the brand at that org, made with a new code on first use
    (`create`), of `kind` (a sharer's is made by HQ, portal/campaigns/sharers.py). Only people
    whose role there may be a guide (store staff and owners, HQ's merchandisers and admins), at
    an org that sells the brand, get one: else PermissionDenied. A stopped guide stays stopped
    (no new code); a record found is returned whatever its kind. None when there is none and
    `create` is off."""
    found = find_guide(user_id, org_id, brand_id)
    if found is not None or not create:
        return found
    role = db.session.execute(
        select(Membership.role).where(Membership.user_id == user_id, Membership.org_id == org_id)
    ).scalar_one_or_none()
    org_status = db.session.execute(
        select(Organization.status).where(Organization.id == org_id)
    ).scalar_one_or_none()
    if (
        role not in GUIDE_ROLES
        or org_status != OrgStatus.ACTIVE
        or not sells_brand(org_id, brand_id)
        or (role in (Role.HQ_ADMIN, Role.HQ_MERCHANDISER)) != (org_id == brand_id)
    ):
        raise PermissionDenied(say(_l("Only a store's or HQ's people of this brand are guides.")))
    for _try in range(_TRIES):
        code = new_code()
        try:
            with db.session.begin_nested():
                guide = Guide(
                    brand_id=brand_id, org_id=org_id, user_id=user_id, code=code, kind=kind
                )
                db.session.add(guide)
                db.session.flush()
            return guide
        except IntegrityError:
            # Either the code was taken (try another) or the same person's first use ran at
            # the same moment (theirs stands).
            found = find_guide(user_id, org_id, brand_id)
            if found is not None:
                return found
    raise RuntimeError("no free guide code after several tries")  # 31^6 codes: not in practice


def my_brands(actor: Actor, wanted: str | None) -> tuple[Organization, list[Organization]]:
    """The brand a guide's page is about (`wanted`, a brand code among the brands the actor's
    org sells, else the first; HQ: its own brand) and those brands, for the brand picker.
    NotFound when the org sells none."""
    brands = brands_of(actor)
    if actor.is_hq:
        brands = [b for b in brands if b.id == actor.org_id]
    if not brands:
        raise NotFound()
    code = (wanted or "").strip().upper()
    return next((b for b in brands if b.code == code), brands[0]), brands


def my_guide(actor: Actor, brand: Organization) -> Guide:
    """The actor's own guide of the brand at their org, made on first use."""
    if actor.user_id is None or actor.org_id is None:
        raise PermissionDenied()
    guide = guide_for(actor.user_id, actor.org_id, brand.id, create=True)
    if guide is None:  # pragma: no cover - create=True always answers
        raise NotFound()
    return guide


def _code_error(message: object) -> ValidationFailed:
    return ValidationFailed(fields={"guide_code": say(message)})


def may_sell_for(
    brand: Organization, guide_brand_id: int, terms: ProgramTerms | None = None
) -> bool:
    """Whether a guide of `guide_brand_id` may be credited with a sale of `brand`: their own
    brand, or one that shares the programme when the selling brand's terms (`terms`, read when
    not given) allow it."""
    if guide_brand_id == brand.id:
        return True
    if not (terms if terms is not None else terms_for(brand.id)).guides.cross_brand:
        return False
    ours = membership.find_program(brand.id)
    theirs = membership.find_program(guide_brand_id)
    return ours is not None and theirs is not None and ours.id == theirs.id


def find_by_code(brand: Organization, code: str | None, terms: ProgramTerms | None = None) -> Guide:
    """The active guide (or sharer: the caller looks at `is_sharer`) with this code, for a sale
    of `brand`. Raises ValidationFailed naming `guide_code` for a code nobody has, a stopped
    guide's, or another brand's when the brand does not take it (see `may_sell_for`)."""
    typed = normalize_code(code)
    if not typed or len(typed) > MAX_TYPED:
        raise _code_error(_l("No guide has this code: check it, or leave it empty."))
    guide = db.session.execute(select(Guide).where(Guide.code == typed)).scalar_one_or_none()
    if guide is None:
        raise _code_error(_l("No guide has this code: check it, or leave it empty."))
    if not may_sell_for(brand, guide.brand_id, terms):
        raise _code_error(
            _l("This guide code belongs to another brand: it cannot be used in this shop.")
        )
    if not guide.is_active:
        raise _code_error(_l("This guide code is no longer in use."))
    return guide


def may_manage(actor: Actor, guide: Guide) -> bool:
    """The guide's own store (its owner), or HQ of the guide's brand."""
    if actor.is_system:
        return True
    return actor.org_id == guide.org_id or (actor.is_hq and actor.org_id == guide.brand_id)


def get_guide(actor: Actor, guide_id: int) -> Guide:
    """A guide the actor's org may manage; anyone else's is a 404."""
    guide = db.session.execute(select(Guide).where(Guide.id == guide_id)).scalar_one_or_none()
    if guide is None or not may_manage(actor, guide):
        raise NotFound()
    return guide


def stop_guide(actor: Actor, guide: Guide) -> Guide:
    """Stop a guide: their code and links attribute nothing from now on, and their customers'
    bindings end (the history stays). The store's owner stops their own store's guides, HQ the
    brand's; another org's guide is NotFound, a role without `guides.manage` PermissionDenied.
    Stopping a stopped guide changes nothing."""
    from portal.guides import bindings  # (bindings reads the roster's rules)

    if not may_manage(actor, guide):
        raise NotFound()
    actor.ensure(Permission.GUIDES_MANAGE)
    if guide.status == GuideStatus.STOPPED:
        return guide
    guide.status = GuideStatus.STOPPED
    bindings.end_bindings_of(guide)
    db.session.flush()
    return guide


def guides_of_org(actor: Actor, org_id: int, *, brand_id: int | None = None) -> list[Guide]:
    """The guides of one org (all brands, or one), by code: the actor's own org, or any org of
    the brand for HQ. Another org's list is NotFound."""
    stmt = select(Guide).where(Guide.org_id == org_id).order_by(Guide.status, Guide.code)
    if brand_id is not None:
        stmt = stmt.where(Guide.brand_id == brand_id)
    if not actor.is_system and actor.org_id != org_id:
        if not actor.is_hq or actor.org_id is None:
            raise NotFound()
        if not sells_brand(org_id, actor.org_id):
            raise NotFound()
        stmt = stmt.where(Guide.brand_id == actor.org_id)
    return list(db.session.execute(stmt).scalars())
