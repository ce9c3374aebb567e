"""Accounts an actor may see, their balances, credit and statements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select

from portal.core.access import Actor, org_visible
from portal.core.errors import NotFound
from portal.extensions import db
from portal.finance.models import Account, AccountEntry
from portal.network.models import ChannelLink, Organization
from portal.policy import queries as policy_queries


def visible_accounts(actor: Actor) -> Select[Any]:
    """A buyer sees its own accounts, a supplier those of its buyers, and an org above both
    (HQ, a distributor over its stores) reads those below it."""
    stmt = select(Account)
    if actor.is_system:
        return stmt
    return stmt.where(
        or_(
            Account.supplier_org_id == actor.org_id,
            org_visible(actor, Account.buyer_org_id, Account.brand_id),
        )
    )


def get_account(actor: Actor, account_id: int) -> Account:
    account = db.session.execute(
        visible_accounts(actor).where(Account.id == account_id)
    ).scalar_one_or_none()
    if account is None:
        raise NotFound()
    return account


def find_account(link_id: int) -> Account | None:
    return db.session.execute(
        select(Account).where(Account.link_id == link_id)
    ).scalar_one_or_none()


def balance(account_id: int, *, before: datetime | None = None) -> int:
    """What the buyer owes (negative: money in its favour), optionally as it stood at a moment."""
    stmt = select(func.coalesce(func.sum(AccountEntry.amount_cents), 0)).where(
        AccountEntry.account_id == account_id
    )
    if before is not None:
        stmt = stmt.where(AccountEntry.created_at < before)
    return int(db.session.execute(stmt).scalar_one())


def balances(account_ids: list[int]) -> dict[int, int]:
    if not account_ids:
        return {}
    rows = db.session.execute(
        select(AccountEntry.account_id, func.sum(AccountEntry.amount_cents))
        .where(AccountEntry.account_id.in_(account_ids))
        .group_by(AccountEntry.account_id)
    ).all()
    found = {account_id: int(total) for account_id, total in rows}
    return {account_id: found.get(account_id, 0) for account_id in account_ids}


@dataclass(frozen=True)
class CreditPosition:
    """`exposure` is what the buyer owes plus what its open orders will cost; the order that
    would push it past `limit` waits for the supplier's approval."""

    balance_cents: int
    committed_cents: int
    limit_cents: int
    currency: str

    @property
    def exposure_cents(self) -> int:
        return self.balance_cents + self.committed_cents

    @property
    def available_cents(self) -> int:
        return max(self.limit_cents - self.exposure_cents, 0)

    def allows(self, amount_cents: int) -> bool:
        return self.exposure_cents + amount_cents <= self.limit_cents


def credit_limit(link: ChannelLink) -> int:
    """The limit the live policy sets for this buyer, else the link's own."""
    buyer_code = db.session.get(Organization, link.buyer_org_id).code
    buyer = policy_queries.Buyer.of(link, buyer_code)
    return policy_queries.order_terms(buyer).credit_limit_cents


def credit_position(account: Account, *, limit_cents: int | None = None) -> CreditPosition:
    if limit_cents is None:
        limit_cents = credit_limit(account.link)
    return CreditPosition(
        balance_cents=balance(account.id),
        committed_cents=account.committed_cents,
        limit_cents=limit_cents,
        currency=account.currency,
    )
