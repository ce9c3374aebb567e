"""Accounts an actor may see, their balances, credit and statements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import aliased, selectinload

from portal.core.access import Actor, org_visible, trade_visible
from portal.core.db import Base
from portal.core.errors import NotFound
from portal.core.pagination import Page, paginate
from portal.extensions import db
from portal.finance.models import Account, AccountEntry
from portal.network.models import ChannelLink, Organization
from portal.policy import queries as policy_queries


def visible_accounts(actor: Actor) -> Select[Any]:
    """A buyer sees its own accounts, a supplier those of its buyers, and an org above both
    (HQ, a distributor over its stores) reads those below it."""
    return select(Account).where(
        trade_visible(actor, Account.supplier_org_id, Account.buyer_org_id, Account.brand_id)
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
    return account_terms(link).credit_limit_cents


def credit_position(account: Account, *, limit_cents: int | None = None) -> CreditPosition:
    if limit_cents is None:
        limit_cents = credit_limit(account.link)
    return CreditPosition(
        balance_cents=balance(account.id),
        committed_cents=account.committed_cents,
        limit_cents=limit_cents,
        currency=account.currency,
    )


# -- accounts per channel link --------------------------------------------------------------------
# Accounts are created lazily (by the first order), yet a buyer without one still has a supplier,
# a credit limit and a balance of zero. The finance pages are therefore keyed by the channel link:
# every visible link is listed, with its account when there is one.


@dataclass(frozen=True)
class LinkAccount:
    """A channel link and its account (None until the first order or payment)."""

    link: ChannelLink
    account: Account | None

    @property
    def currency(self) -> str:
        return self.account.currency if self.account else self.link.brand.currency


def visible_links(actor: Actor) -> Select[Any]:
    """The links whose accounts the actor may read: the same rule as `visible_accounts`."""
    stmt = select(ChannelLink)
    if actor.is_system:
        return stmt
    return stmt.where(
        or_(
            ChannelLink.supplier_org_id == actor.org_id,
            org_visible(actor, ChannelLink.buyer_org_id, ChannelLink.brand_id),
        )
    )


def _accounts_by_link(link_ids: list[int]) -> dict[int, Account]:
    if not link_ids:
        return {}
    rows = db.session.execute(select(Account).where(Account.link_id.in_(link_ids))).scalars()
    return {account.link_id: account for account in rows}


def list_link_accounts(
    actor: Actor,
    *,
    brand_id: int | None = None,
    q: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """A page of visible links (the actor's own account first, then by brand and buyer code),
    each as a LinkAccount. `q` matches the buyer's code or name."""
    buyer = aliased(Organization)
    brand = aliased(Organization)
    stmt = (
        visible_links(actor)
        .join(buyer, buyer.id == ChannelLink.buyer_org_id)
        .join(brand, brand.id == ChannelLink.brand_id)
        .options(
            selectinload(ChannelLink.buyer),
            selectinload(ChannelLink.supplier),
            selectinload(ChannelLink.brand),
        )
    )
    if brand_id is not None:
        stmt = stmt.where(ChannelLink.brand_id == brand_id)
    if q and q.strip():
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(buyer.code.ilike(like), buyer.name.ilike(like)))
    own_first = case((ChannelLink.buyer_org_id == (actor.org_id or 0), 0), else_=1)
    stmt = stmt.order_by(own_first, brand.code, buyer.code, ChannelLink.id)
    result = paginate(stmt, page, per_page)
    accounts = _accounts_by_link([link.id for link in result.items])
    result.items = [LinkAccount(link, accounts.get(link.id)) for link in result.items]
    return result


def get_link_account(actor: Actor, link_id: int) -> LinkAccount:
    """The scoped loader of the finance pages: a link outside the actor's view is a 404."""
    link = db.session.execute(
        visible_links(actor).where(ChannelLink.id == link_id)
    ).scalar_one_or_none()
    if link is None:
        raise NotFound()
    return LinkAccount(link, find_account(link.id))


def account_terms(link: ChannelLink) -> policy_queries.OrderTerms:
    """Credit limit and payment terms as the live policy sets them for this buyer."""
    return policy_queries.order_terms(policy_queries.Buyer.for_link(link))


def credit_limits(links: list[ChannelLink], at: datetime | None = None) -> dict[int, int]:
    return policy_queries.credit_limits(links, at)


def positions(lines: list[LinkAccount]) -> dict[int, CreditPosition]:
    """Credit positions of a page of links by link id: balances in one grouped query, limits in
    two (`credit_limits`)."""
    account_ids = [line.account.id for line in lines if line.account is not None]
    totals = balances(account_ids)
    limits = credit_limits([line.link for line in lines])
    out = {}
    for line in lines:
        account = line.account
        out[line.link.id] = CreditPosition(
            balance_cents=totals.get(account.id, 0) if account else 0,
            committed_cents=account.committed_cents if account else 0,
            limit_cents=limits[line.link.id],
            currency=line.currency,
        )
    return out


def position_of(line: LinkAccount, *, limit_cents: int | None = None) -> CreditPosition:
    if line.account is not None:
        return credit_position(line.account, limit_cents=limit_cents)
    return CreditPosition(
        balance_cents=0,
        committed_cents=0,
        limit_cents=credit_limit(line.link) if limit_cents is None else limit_cents,
        currency=line.currency,
    )


# -- ledger ---------------------------------------------------------------------------------------


def entries_stmt(
    account_id: int, *, start: datetime | None = None, end: datetime | None = None
) -> Select[Any]:
    """An account's entries in [start, end) (either bound optional), unordered."""
    stmt = select(AccountEntry).where(AccountEntry.account_id == account_id)
    if start is not None:
        stmt = stmt.where(AccountEntry.created_at >= start)
    if end is not None:
        stmt = stmt.where(AccountEntry.created_at < end)
    return stmt


def list_entries(
    line: LinkAccount,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    newest_first: bool = True,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """A page of the link's ledger (empty before its account exists)."""
    if line.account is None:
        return Page(items=[], page=page, per_page=per_page, total=0)
    stmt = entries_stmt(line.account.id, start=start, end=end)
    order = AccountEntry.id.desc() if newest_first else AccountEntry.id
    return paginate(stmt.order_by(order), page, per_page)


def balances_after(entries: list[AccountEntry]) -> dict[int, int]:
    """The balance right after each entry of a page of one account's ledger (in either order), by
    entry id: one sum of what came before the page's oldest entry, then walking up the page."""
    if not entries:
        return {}
    ordered = sorted(entries, key=lambda entry: entry.id)
    running = int(
        db.session.execute(
            select(func.coalesce(func.sum(AccountEntry.amount_cents), 0)).where(
                AccountEntry.account_id == ordered[0].account_id,
                AccountEntry.id < ordered[0].id,
            )
        ).scalar_one()
    )
    out = {}
    for entry in ordered:
        running += entry.amount_cents
        out[entry.id] = running
    return out


def order_numbers(entries: list[AccountEntry]) -> dict[int, str]:
    """Order numbers of the entries' orders, by order id. Read through the table, not the model:
    ordering builds on finance, never the other way (STYLE §1)."""
    order_ids = {entry.order_id for entry in entries if entry.order_id is not None}
    if not order_ids:
        return {}
    orders = Base.metadata.tables["orders"]
    rows = db.session.execute(
        select(orders.c.id, orders.c.number).where(orders.c.id.in_(order_ids))
    )
    return {order_id: number for order_id, number in rows}
