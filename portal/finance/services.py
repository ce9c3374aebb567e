"""Money moves only as ledger entries. An invoice is posted when goods ship, a credit note when
returned goods arrive back, a payment when the supplier records one; the balance is their sum.

`committed_cents` on the account is what open orders will cost once shipped. Ordering moves it in
the same transaction as the order, under the account's row lock, so two orders of one buyer see
each other's commitment when they check credit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError

from portal.core import audit
from portal.core.access import Actor, Permission
from portal.core.db import utcnow
from portal.core.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.finance.models import Account, AccountEntry, EntryKind
from portal.network.models import ChannelLink

MAX_AMOUNT_CENTS = 10**13  # a hundred billion: anything above is a typo


def ensure_account(link: ChannelLink) -> Account:
    """The link's account, created on first use (two first uses at once: one insert wins)."""

    def find() -> Account | None:
        return db.session.execute(
            select(Account).where(Account.link_id == link.id)
        ).scalar_one_or_none()

    account = find()
    if account is not None:
        return account
    currency = link.brand.currency
    try:
        with db.session.begin_nested():
            account = Account(
                brand_id=link.brand_id,
                link_id=link.id,
                buyer_org_id=link.buyer_org_id,
                supplier_org_id=link.supplier_org_id,
                currency=currency,
            )
            db.session.add(account)
    except IntegrityError:
        account = find()
        if account is None:
            raise
    return account


def lock_account(link: ChannelLink) -> Account:
    """The link's account under a row lock (PostgreSQL) until the transaction ends: credit checks
    of one buyer take turns; different buyers never wait on each other."""
    account = ensure_account(link)
    return db.session.execute(
        select(Account)
        .where(Account.id == account.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def commit_credit(account: Account, cents: int) -> None:
    """Open orders promise `cents` more (negative: less). Never below zero."""
    if cents == 0:
        return
    changed = cast(
        CursorResult[Any],
        db.session.execute(
            update(Account)
            .where(Account.id == account.id, Account.committed_cents + cents >= 0)
            .values(committed_cents=Account.committed_cents + cents)
            .execution_options(synchronize_session=False)
        ),
    )
    if changed.rowcount != 1:
        raise RuntimeError(f"account {account.id}: committed amount would go below zero")
    db.session.refresh(account, ["committed_cents"])


def _post(
    actor: Actor,
    account: Account,
    kind: EntryKind,
    amount_cents: int,
    *,
    reference: str = "",
    order_id: int | None = None,
    note: str = "",
    due_at: datetime | None = None,
) -> AccountEntry:
    entry = AccountEntry(
        brand_id=account.brand_id,
        account_id=account.id,
        kind=kind,
        amount_cents=amount_cents,
        currency=account.currency,
        reference=reference[:80],
        order_id=order_id,
        note=note[:500],
        due_at=due_at,
        actor_user_id=actor.user_id,
        actor_org_id=actor.org_id,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def post_invoice(
    actor: Actor,
    account: Account,
    *,
    amount_cents: int,
    reference: str,
    order_id: int | None = None,
    payment_terms_days: int = 0,
) -> AccountEntry | None:
    """Goods shipped: the buyer owes their value, due after the link's payment terms."""
    if amount_cents <= 0:
        return None
    due_at = utcnow() + timedelta(days=payment_terms_days)
    return _post(
        actor,
        account,
        EntryKind.INVOICE,
        amount_cents,
        reference=reference,
        order_id=order_id,
        due_at=due_at,
    )


def post_credit_note(
    actor: Actor,
    account: Account,
    *,
    amount_cents: int,
    reference: str,
    order_id: int | None = None,
    note: str = "",
) -> AccountEntry | None:
    """Goods came back: the buyer owes their value less."""
    if amount_cents <= 0:
        return None
    return _post(
        actor,
        account,
        EntryKind.CREDIT_NOTE,
        -amount_cents,
        reference=reference,
        order_id=order_id,
        note=note,
    )


def post_settlement(
    actor: Actor, account: Account, *, amount_cents: int, reference: str, note: str = ""
) -> AccountEntry:
    """A consumer sale's share for the account's buyer (a store that fulfilled or sold it):
    negative when the store earned it (it owes its supplier less), positive when a refund
    takes it back. Written by the split of consumer orders (portal/guides/split.py), which
    makes each reference once."""
    if amount_cents == 0:
        raise ValueError("a settlement entry moves money")
    return _post(actor, account, EntryKind.SETTLEMENT, amount_cents, reference=reference, note=note)


def may_manage(actor: Actor, account: Account) -> bool:
    """Payments and corrections are the supplier's to record."""
    if actor.is_system:
        return True
    return actor.org_id == account.supplier_org_id and actor.can(Permission.FINANCE_MANAGE)


def may_manage_link(actor: Actor, link: ChannelLink, account: Account | None = None) -> bool:
    """`may_manage` for a link, also before its account exists (then the link's supplier)."""
    if account is not None:
        return may_manage(actor, account)
    if actor.is_system:
        return True
    return actor.org_id == link.supplier_org_id and actor.can(Permission.FINANCE_MANAGE)


def _ensure_manager(actor: Actor, account: Account) -> None:
    if not may_manage(actor, account):
        raise PermissionDenied("Only the supplier records payments on this account.")


def _check_amount(amount_cents: int, field: str = "amount") -> None:
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool):
        raise ValidationFailed(fields={field: "An amount in whole cents."})
    if not 0 < abs(amount_cents) <= MAX_AMOUNT_CENTS:
        raise ValidationFailed(fields={field: "An amount above zero."})


def record_payment(
    actor: Actor, account: Account, *, amount_cents: int, reference: str, note: str = ""
) -> AccountEntry:
    """The supplier received money from the buyer (a bank transfer's reference is required, so
    the same payment is not recorded twice by accident: a repeated reference is refused)."""
    _ensure_manager(actor, account)
    _check_amount(amount_cents)
    if amount_cents < 0:
        raise ValidationFailed(fields={"amount": "A payment is above zero."})
    reference = (reference or "").strip()
    if not reference:
        raise ValidationFailed(fields={"reference": "The payment's reference (bank, receipt)."})
    _refuse_repeated_reference(
        account, EntryKind.PAYMENT, reference[:80], "A payment with this reference is recorded."
    )
    entry = _post(actor, account, EntryKind.PAYMENT, -amount_cents, reference=reference, note=note)
    _audit(actor, "finance.payment_recorded", account, amount_cents=amount_cents, ref=reference)
    return entry


def record_adjustment(
    actor: Actor, account: Account, *, amount_cents: int, note: str, reference: str = ""
) -> AccountEntry:
    """A correction either way (positive: the buyer owes more), with a required note. With a
    `reference` (an ERP's credit or debit note number), a reference already used by an
    adjustment of this account is refused, so a retried call never records it twice."""
    _ensure_manager(actor, account)
    _check_amount(amount_cents)
    note = (note or "").strip()
    if not note:
        raise ValidationFailed(fields={"note": "Say why."})
    reference = (reference or "").strip()[:80]
    if reference:
        _refuse_repeated_reference(
            account,
            EntryKind.ADJUSTMENT,
            reference,
            "An adjustment with this reference is recorded.",
        )
    entry = _post(
        actor, account, EntryKind.ADJUSTMENT, amount_cents, reference=reference, note=note
    )
    _audit(actor, "finance.adjusted", account, amount_cents=amount_cents, note=note)
    return entry


def _refuse_repeated_reference(account: Account, kind: str, reference: str, message: str) -> None:
    """Entries of one kind on one account with a reference take turns (PostgreSQL row lock;
    SQLite writers are serialized), so two recordings of one transfer or note at once cannot both
    pass this check; a reference already recorded is refused, naming `reference`."""
    db.session.execute(select(Account.id).where(Account.id == account.id).with_for_update())
    duplicate = db.session.execute(
        select(AccountEntry.id).where(
            AccountEntry.account_id == account.id,
            AccountEntry.kind == kind,
            AccountEntry.reference == reference,
        )
    ).first()
    if duplicate:
        raise ValidationFailed(fields={"reference": message})


def _audit(actor: Actor, action: str, account: Account, **details) -> None:
    audit.record(actor, action, org_id=account.buyer_org_id, brand_id=account.brand_id, **details)
