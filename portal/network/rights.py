"""Who may do what to an org: one set of predicates for the network's services and for its
pages (which show only the actions these allow)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from portal.core.access import Actor, OrgKind, Permission
from portal.core.errors import NotFound, PermissionDenied
from portal.extensions import db
from portal.network import queries
from portal.network.models import ChannelLink, Organization


def all_links(org: Organization) -> list[ChannelLink]:
    """Every brand's link of the org, whoever asks: org-wide rules must weigh them all."""
    stmt = select(ChannelLink).where(ChannelLink.buyer_org_id == org.id)
    return list(db.session.execute(stmt).scalars())


def above_in_every_brand(actor: Actor, links: list[ChannelLink]) -> bool:
    """Org-wide changes (status, details, people) touch every brand the org carries, so one
    brand's HQ must not make them for an org that also serves another brand."""
    return bool(links) and all(actor.is_above(link.brand_id, link.path) for link in links)


def may_change(actor: Actor, org: Organization, links: list[ChannelLink]) -> bool:
    """Details: the org's own admins, and those above it in every brand it carries."""
    if not actor.can(Permission.NETWORK_MANAGE):
        return False
    return actor.is_system or org.id == actor.org_id or above_in_every_brand(actor, links)


def may_set_status(actor: Actor, org: Organization, links: list[ChannelLink]) -> bool:
    """Suspend / reactivate: never one's own org or a brand."""
    if not actor.can(Permission.NETWORK_SUSPEND):
        return False
    if org.id == actor.org_id or org.kind == OrgKind.BRAND:
        return False
    return may_change(actor, org, links)


def may_manage_people(actor: Actor, org: Organization, links: list[ChannelLink]) -> bool:
    """A store owner manages its own staff; org admins above manage the orgs below."""
    if not actor.can(Permission.PEOPLE_MANAGE):
        return False
    if actor.is_system or org.id == actor.org_id:
        return True
    return actor.can(Permission.NETWORK_MANAGE) and above_in_every_brand(actor, links)


def may_edit_terms(actor: Actor, link: ChannelLink) -> bool:
    """A link's level, region and credit are set by its supplier or anyone above."""
    return actor.can(Permission.NETWORK_MANAGE) and actor.is_above(link.brand_id, link.path)


def may_move(actor: Actor, link: ChannelLink) -> bool:
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
    links = all_links(org)
    return OrgActions(
        edit=may_change(actor, org, links),
        set_status=may_set_status(actor, org, links),
        manage_people=may_manage_people(actor, org, links),
        edit_terms_in=frozenset(ln.brand_id for ln in links if may_edit_terms(actor, ln)),
        move_in=frozenset(
            ln.brand_id for ln in links if org.kind == OrgKind.STORE and may_move(actor, ln)
        ),
    )


def refuse(actor: Actor, org: Organization, message: str) -> None:
    """Another org's row is a 404; one's own part of the network without the right, a 403."""
    if not queries.is_visible(actor, org):
        raise NotFound()
    raise PermissionDenied(message)


def ensure_may_change(actor: Actor, org: Organization) -> None:
    actor.ensure(Permission.NETWORK_MANAGE)
    if not may_change(actor, org, all_links(org)):
        refuse(actor, org, "This organization also serves another brand; ask its own admin.")
