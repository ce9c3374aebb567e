"""The sign-in throttle: growing delays per account and per client, never a lockout.

It serves every door that checks a secret: the portal's users (portal/auth) and each brand's
consumers (portal/storefront). A `scope` keeps their counts apart in the one table: the portal's
own rows carry none, a brand's consumer rows carry that brand's, so failures at one door never
slow another (nor does one brand's shop slow another's).

What is counted: failed sign-ins (a wrong password, or an e-mail with no account) against three
rows: the account from this client (its address, or its device when known), the account from
every client, and the address over every account. The two wider rows count a client's failures
only while they are free on its own row, so they measure breadth: many addresses on one
account, many accounts from one address. Each row lets a few failures through, then asks for a
delay before the next attempt that doubles with every further failure, up to a cap. An attempt
inside a delay is answered at once (429 with Retry-After) without looking at the password, and
is not counted. A successful sign-in clears the account-wide row and the client's own.

The owner is never locked out: one client hammering an account delays only itself, and a
browser that has signed in to an account before carries a signed "known device" cookie for it,
whose attempts on that account answer to that device's own failures alone. No one else's
failures, from one address or from thousands, delay it.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import (
    CursorResult,
    Integer,
    String,
    Table,
    UniqueConstraint,
    and_,
    case,
    delete,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.db import UTCDateTime, utcnow
from portal.extensions import Model, db

EVERY = "*"  # the `account` or `client` of a row that counts all of them
# Rows are kept this long after their last failure, so the owner hears of an attack on the next
# sign-in even a few weeks later; the delays themselves forget much sooner (the memory setting).
KEPT_FOR = timedelta(days=30)
ACCOUNT_LENGTH = 254


class SignInFailure(Model):
    """Failed sign-ins counted for the throttle. Written only when a sign-in fails and cleared
    when one succeeds; in the database so that every app host sees the same counts and a Redis
    outage changes nothing.

    One row per (account, client): `account` is the normalized e-mail tried (behind its scope,
    "<scope>:<e-mail>", when it has one), or "*" ("<scope>:*") for a row counting every account
    tried from one address; `client` is "a:<address>", "d:<device>" (a browser that signed in to
    this account before), or "*" for every client of one account.
    """

    __tablename__ = "sign_in_failures"
    __table_args__ = (UniqueConstraint("account", "client"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(ACCOUNT_LENGTH))
    client: Mapped[str] = mapped_column(String(80))
    # Counts toward the delays; starts over after LOGIN_FAILURE_MEMORY_HOURS without a failure.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    # Every failure since the account's last sign-in: what the owner is told on the next one.
    total: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    last_address: Mapped[str] = mapped_column(String(64), default="")


@dataclass(frozen=True)
class Client:
    """Who is trying: the network address, and the known-device id when the browser proved
    (with its signed cookie) that it signed in to this account before."""

    address: str
    device: str | None = None

    @property
    def key(self) -> str:
        return f"d:{self.device}" if self.device else f"a:{self.address}"


@dataclass(frozen=True)
class FailedSignIns:
    """What the owner is told on a successful sign-in."""

    count: int
    last_address: str
    last_at: datetime


def address_key(remote_addr: str | None) -> str:
    """The address a client is counted by. IPv6 hosts usually hold a whole /64, so that is
    counted as one address; anything unparsable is kept as given (cut to the column)."""
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return (remote_addr or "unknown")[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _scoped(scope: str, account: str) -> str:
    # An e-mail never holds ":" unquoted, so a scoped key cannot pass for an unscoped one. The
    # cut only matters for e-mails at the column's full length, far past any real one.
    return f"{scope}:{account}"[:ACCOUNT_LENGTH] if scope else account


def _checked(account: str, client: Client, scope: str) -> dict[tuple[str, str], int]:
    """The rows whose delays an attempt must respect, each with its free failures. A known
    device answers only for its own failures: no one else's can delay it."""
    config = current_app.config
    rows = {(account, client.key): config["LOGIN_FREE_FAILURES"]}
    if client.device is None:
        rows[(account, EVERY)] = config["LOGIN_FREE_FAILURES_PER_ACCOUNT"]
        rows[(_scoped(scope, EVERY), client.key)] = config["LOGIN_FREE_FAILURES_PER_ADDRESS"]
    return rows


def _delay(failures: int, free: int) -> float:
    if failures < free:
        return 0.0
    config = current_app.config
    delay = config["LOGIN_DELAY_SECONDS"] * 2 ** min(failures - free, 32)
    return float(min(delay, config["LOGIN_MAX_DELAY_SECONDS"]))


def _load(keys: list[tuple[str, str]]) -> list[SignInFailure]:
    match = or_(*(and_(SignInFailure.account == a, SignInFailure.client == c) for a, c in keys))
    stmt = select(SignInFailure).where(match).execution_options(populate_existing=True)
    return list(db.session.execute(stmt).scalars())


def wait_seconds(account: str, client: Client, *, scope: str = "") -> int:
    """Seconds the client must wait before it may try `account` again; 0 when it may now."""
    free = _checked(_scoped(scope, account), client, scope)
    now = utcnow()
    wait = 0.0
    for row in _load(list(free)):
        delay = _delay(row.failures, free[(row.account, row.client)])
        wait = max(wait, (row.last_failed_at + timedelta(seconds=delay) - now).total_seconds())
    return math.ceil(wait) if wait > 0 else 0


def record_failure(account: str, client: Client, *, scope: str = "") -> None:
    """Count one failed attempt: against the client's own row for the account, and against the
    account's and the address's rows while it is one of the client's free failures there.

    So the wider rows measure breadth (many clients on one account, many accounts from one
    address), and one client hammering one account is slowed by its own row alone: it cannot
    delay the owner, nor the others behind its address. A known device's failures count for its
    own row and the account's, never its address's. One upsert per row, so concurrent failures
    on any number of hosts all count.
    """
    key = _scoped(scope, account)
    own = _count(key, client.key, client.address, counted=True)
    counted = own <= current_app.config["LOGIN_FREE_FAILURES"]
    _count(key, EVERY, client.address, counted=counted)
    if client.device is None:
        _count(_scoped(scope, EVERY), client.key, client.address, counted=counted)


def _count(account: str, client_key: str, address: str, *, counted: bool) -> int:
    """Add a failure to one row (`total` always, `failures` when `counted`); returns failures."""
    now = utcnow()
    forget_before = now - timedelta(hours=current_app.config["LOGIN_FAILURE_MEMORY_HOURS"])
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = cast(Table, SignInFailure.__table__)
    add = 1 if counted else 0
    stmt = insert(table).values(
        account=account,
        client=client_key,
        failures=add,
        total=1,
        last_failed_at=now,
        last_address=address,
    )
    stale = table.c.last_failed_at < forget_before
    upsert = stmt.on_conflict_do_update(
        index_elements=[table.c.account, table.c.client],
        set_={
            "failures": case((stale, add), else_=table.c.failures + add),
            "total": table.c.total + 1,
            "last_failed_at": now,
            "last_address": address,
        },
    ).returning(table.c.failures)
    return int(db.session.execute(upsert).scalar_one())


def record_success(account: str, client: Client, *, scope: str = "") -> FailedSignIns | None:
    """Clear the account's counts for this client and for everyone, and say what failed in
    between when any of it came from somewhere else (one's own typos a moment ago are no news).

    The address's own row stays (it forgets with time): otherwise an attacker spraying many
    accounts from one address could clear it by signing in to an account of their own.
    """
    key = _scoped(scope, account)
    rows = {(r.account, r.client): r for r in _load([(key, EVERY), (key, client.key)])}
    everyone = rows.get((key, EVERY))
    mine = rows.get((key, client.key))
    notice = None
    if everyone is not None and everyone.total > (mine.total if mine else 0):
        notice = FailedSignIns(everyone.total, everyone.last_address, everyone.last_failed_at)
    if rows:
        db.session.execute(
            delete(SignInFailure).where(
                SignInFailure.account == key, SignInFailure.client.in_([EVERY, client.key])
            )
        )
    return notice


def prune() -> int:
    """Forget rows untouched for KEPT_FOR, of every scope; returns how many."""
    result = db.session.execute(
        delete(SignInFailure).where(SignInFailure.last_failed_at < utcnow() - KEPT_FOR)
    )
    return cast(CursorResult[Any], result).rowcount or 0
