"""Every change to stock goes through `apply_moves`: one conditional UPDATE per level, taken in a
fixed order, and one ledger row per change, in the caller's transaction.

The conditional UPDATE (`... WHERE on_hand + d >= 0 AND on_hand + d - (reserved + r) >= 0`) is
what makes overselling impossible on PostgreSQL and SQLite alike: of two buyers racing for the
last unit, the second one's UPDATE matches no row once the first has committed (PostgreSQL
re-checks the condition after the row lock is released). Levels are touched in (location, SKU,
grade) order, so two transactions never wait on each other in a cycle.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import BigInteger, bindparam, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from portal.catalog.models import Variant
from portal.core import audit, jobs
from portal.core.access import Actor, OrgKind, Permission
from portal.core.db import utcnow
from portal.core.errors import PermissionDenied, ValidationFailed
from portal.core.spreadsheets import FileRefused, check_size, upload_limits
from portal.extensions import db
from portal.inventory.errors import InsufficientStock, StockUploadNotReady, StockUploadRejected
from portal.inventory.models import (
    Grade,
    Location,
    LocationKind,
    MoveReason,
    StockLevel,
    StockMove,
    StockUpload,
    UploadStatus,
)
from portal.network.models import Organization

MAX_QUANTITY = 10_000_000  # no single move of a SKU is larger; anything above is a typo


# The two statements every line runs, built once: building them per line with literal values
# cost several times more than running them (and SQLAlchemy caches no compiled form of a dialect
# `on_conflict_do_nothing()`, so the insert is plain SQL both SQLite and PostgreSQL accept).
_LEVELS = StockLevel.__table__
_DH = bindparam("dh", type_=BigInteger)
_DR = bindparam("dr", type_=BigInteger)
_UPDATE_LEVEL = (
    update(_LEVELS)
    .where(
        _LEVELS.c.location_id == bindparam("loc"),
        _LEVELS.c.variant_id == bindparam("var"),
        _LEVELS.c.grade == bindparam("gr"),
        _LEVELS.c.on_hand + _DH >= 0,
        _LEVELS.c.reserved + _DR >= 0,
        _LEVELS.c.on_hand + _DH - (_LEVELS.c.reserved + _DR) >= 0,
    )
    .values(on_hand=_LEVELS.c.on_hand + _DH, reserved=_LEVELS.c.reserved + _DR)
)
_INSERT_LEVEL = text(
    "INSERT INTO stock_levels (brand_id, location_id, variant_id, grade, on_hand, reserved) "
    "VALUES (:brand_id, :location_id, :variant_id, :grade, 0, 0) ON CONFLICT DO NOTHING"
)


@dataclass(frozen=True)
class MoveLine:
    """One change to one level. `where` names it in errors ("lines.3")."""

    location_id: int
    variant_id: int
    on_hand_delta: int = 0
    reserved_delta: int = 0
    grade: str = Grade.A
    where: str = "qty"


def apply_moves(
    actor: Actor,
    lines: Iterable[MoveLine],
    *,
    reason: str,
    reference: str = "",
    note: str = "",
    occurred_at: datetime | None = None,
) -> list[StockMove]:
    """Change levels and write the ledger, all or nothing: on InsufficientStock (naming the line
    and the quantity available) nothing of this call stays, even if the caller catches the error
    and commits. Pass every line of one operation in one call: the fixed lock order holds
    within a call. `occurred_at` is when it happened in the business (a reported sale's
    `sold_at`); velocity counts by it. Without it, now."""
    with db.session.begin_nested():
        return _apply_moves(
            actor,
            lines,
            reason=reason,
            reference=reference,
            note=note,
            occurred_at=occurred_at or utcnow(),
        )


def _apply_moves(
    actor: Actor,
    lines: Iterable[MoveLine],
    *,
    reason: str,
    reference: str,
    note: str,
    occurred_at: datetime,
) -> list[StockMove]:
    if reason not in tuple(MoveReason):
        raise ValueError(f"unknown stock move reason {reason!r}")
    merged: dict[tuple[int, int, str], list] = {}
    for line in lines:
        if line.grade not in tuple(Grade):
            raise ValidationFailed(fields={line.where: "The grade is A or B."})
        for delta in (line.on_hand_delta, line.reserved_delta):
            if not isinstance(delta, int) or isinstance(delta, bool) or abs(delta) > MAX_QUANTITY:
                raise ValidationFailed(fields={line.where: "Not a usable quantity."})
        key = (line.location_id, line.variant_id, line.grade)
        entry = merged.setdefault(key, [0, 0, line.where])
        entry[0] += line.on_hand_delta
        entry[1] += line.reserved_delta
    brands = _brands_of({variant_id for _loc, variant_id, _g in merged})
    connection = db.session.connection()  # the session's own; its per-statement work is skipped
    moves = []
    for key in sorted(merged):  # a fixed order: no lock cycles between transactions
        location_id, variant_id, grade = key
        on_hand_delta, reserved_delta, where = merged[key]
        if on_hand_delta == 0 and reserved_delta == 0:
            continue
        if on_hand_delta > 0:
            _ensure_level(brands[variant_id], location_id, variant_id, grade)
        changed = connection.execute(
            _UPDATE_LEVEL,
            {
                "loc": location_id,
                "var": variant_id,
                "gr": grade,
                "dh": on_hand_delta,
                "dr": reserved_delta,
            },
        )
        if changed.rowcount != 1:
            have = available(location_id, variant_id, grade)
            raise InsufficientStock(
                f"Only {have} available.",
                fields={where: f"Only {have} available."},
                available=have,
            )
        moves.append(
            {
                "brand_id": brands[variant_id],
                "location_id": location_id,
                "variant_id": variant_id,
                "grade": grade,
                "on_hand_delta": on_hand_delta,
                "reserved_delta": reserved_delta,
                "reason": reason,
                "reference": reference[:80],
                "note": note[:500],
                "actor_user_id": actor.user_id,
                "actor_org_id": actor.org_id,
                "occurred_at": occurred_at,
            }
        )
    if not moves:
        return []
    # One multi-row INSERT ... RETURNING: the rows come back as session objects, in order.
    return list(
        db.session.scalars(
            insert(StockMove).returning(StockMove, sort_by_parameter_order=True), moves
        )
    )


def _brands_of(variant_ids: set[int]) -> dict[int, int]:
    rows = db.session.execute(
        select(Variant.id, Variant.brand_id).where(Variant.id.in_(variant_ids))
    ).all()
    found = {variant_id: brand_id for variant_id, brand_id in rows}
    missing = variant_ids - set(found)
    if missing:
        raise ValidationFailed(fields={"sku": "Unknown SKU."})
    return found


def _ensure_level(brand_id: int, location_id: int, variant_id: int, grade: str) -> None:
    """Create the level row at zero if it is missing (concurrent callers: one wins, quietly)."""
    db.session.connection().execute(
        _INSERT_LEVEL,
        {
            "brand_id": brand_id,
            "location_id": location_id,
            "variant_id": variant_id,
            "grade": grade,
        },
    )


def available(location_id: int, variant_id: int, grade: str = Grade.A) -> int:
    value = db.session.execute(
        select(StockLevel.on_hand - StockLevel.reserved).where(
            StockLevel.location_id == location_id,
            StockLevel.variant_id == variant_id,
            StockLevel.grade == grade,
        )
    ).scalar_one_or_none()
    return int(value or 0)


# -- locations -----------------------------------------------------------------------------------


def ensure_default_location(org_id: int, *, code: str, name: str, kind: str) -> Location:
    """An org's default location (its warehouse, or a store's shelf), created on first use."""

    def find() -> Location | None:
        return db.session.execute(
            select(Location).where(Location.org_id == org_id, Location.is_default.is_(True))
        ).scalar_one_or_none()

    location = find()
    if location is not None:
        return location
    if kind not in tuple(LocationKind):
        raise ValueError(kind)
    try:
        with db.session.begin_nested():  # two first uses at once: one insert wins
            location = Location(
                org_id=org_id, code=code.strip().upper(), name=name, kind=kind, is_default=True
            )
            db.session.add(location)
    except IntegrityError:
        location = find()
        if location is None:
            raise
    return location


def location_code(org: Organization) -> str:
    """The code of an org's default location: its warehouse, or a store's shelf."""
    suffix = "SHELF" if org.kind == OrgKind.STORE else "WH"
    return f"{org.code}-{suffix}"


def default_location(org: Organization) -> Location:
    """Where an org's orders ship from and land: its default location, made on first use."""
    kind = LocationKind.STORE if org.kind == OrgKind.STORE else LocationKind.WAREHOUSE
    name = f"{org.name} shelf" if kind == LocationKind.STORE else f"{org.name} warehouse"
    return ensure_default_location(org.id, code=location_code(org), name=name, kind=kind)


# -- what people do ------------------------------------------------------------------------------

ADJUST_REASONS = (MoveReason.ADJUSTMENT, MoveReason.FOUND, MoveReason.RECEIPT)


def may_adjust(actor: Actor, location: Location) -> bool:
    """Whether the actor may change stock at this location: only the org holding it, with a role
    that adjusts stock. Pages use it to decide whether to offer the forms at all."""
    if actor.is_system:
        return True
    return location.org_id == actor.org_id and actor.can(Permission.STOCK_ADJUST)


def _ensure_own(actor: Actor, location: Location) -> None:
    """Only the org that holds a location changes its stock; those above it only look (the
    scoped loader has already turned anyone else's location into a 404)."""
    if not actor.is_system and location.org_id != actor.org_id:
        raise PermissionDenied("Only the organization holding this stock can change it.")
    actor.ensure(Permission.STOCK_ADJUST)


def _check_grade(grade: str) -> None:
    if grade not in tuple(Grade):
        raise ValidationFailed(fields={"grade": "The grade is A or B."})


def _ensure_carried(location: Location, variant: Variant) -> None:
    """A location holds only SKUs of brands its org carries (its own brand, or one it buys)."""
    from portal.inventory.queries import carried_brand_ids

    if variant.brand_id not in carried_brand_ids(location):
        raise ValidationFailed(fields={"sku": "This location does not carry that brand."})


def _check_note(note: str) -> str:
    note = (note or "").strip()
    if not note:
        raise ValidationFailed(fields={"note": "Say why (a count, damage, goods found...)."})
    return note


def adjust_stock(
    actor: Actor,
    location: Location,
    variant: Variant,
    *,
    delta: int,
    reason: str = MoveReason.ADJUSTMENT,
    grade: str = Grade.A,
    note: str,
) -> StockMove:
    """Add or remove units at one's own location with a required reason; never below what
    orders hold (InsufficientStock)."""
    _ensure_own(actor, location)
    note = _check_note(note)
    _ensure_carried(location, variant)
    if reason not in ADJUST_REASONS:
        raise ValidationFailed(fields={"reason": "Use adjustment, found or receipt."})
    _check_grade(grade)
    if not isinstance(delta, int) or delta == 0 or abs(delta) > MAX_QUANTITY:
        raise ValidationFailed(fields={"delta": "A whole number of units, not zero."})
    (move,) = apply_moves(
        actor,
        [MoveLine(location.id, variant.id, on_hand_delta=delta, grade=grade, where="delta")],
        reason=reason,
        note=note,
    )
    _audit(actor, "stock.adjusted", location, variant, delta=delta, grade=grade, note=note)
    return move


def count_stock(
    actor: Actor, location: Location, variant: Variant, *, counted: int, grade: str, note: str
) -> StockMove | None:
    """Set the level to what was counted; the ledger gets the difference."""
    _ensure_own(actor, location)
    note = _check_note(note)
    if not isinstance(counted, int) or not 0 <= counted <= MAX_QUANTITY:
        raise ValidationFailed(fields={"counted": "A whole number of units, 0 or more."})
    _check_grade(grade)
    _ensure_carried(location, variant)
    # Read under the row lock (PostgreSQL): a move committing meanwhile is waited for, not
    # overwritten by a difference computed from the level before it. The row is created first,
    # so there is always a row to lock, even for a SKU never stocked here.
    _ensure_level(variant.brand_id, location.id, variant.id, grade)
    current = db.session.execute(
        select(StockLevel.on_hand)
        .where(
            StockLevel.location_id == location.id,
            StockLevel.variant_id == variant.id,
            StockLevel.grade == grade,
        )
        .with_for_update()
    ).scalar_one_or_none()
    current = current or 0
    if counted == current:
        return None
    (move,) = apply_moves(
        actor,
        [MoveLine(location.id, variant.id, counted - current, grade=grade, where="counted")],
        reason=MoveReason.COUNT,
        note=note,
    )
    _audit(actor, "stock.counted", location, variant, counted=counted, grade=grade, note=note)
    return move


def mark_damaged(
    actor: Actor, location: Location, variant: Variant, *, qty: int, note: str
) -> list[StockMove]:
    """Move units from grade A to grade B (sold only in the employee tier)."""
    _ensure_own(actor, location)
    note = _check_note(note)
    _ensure_carried(location, variant)
    if not isinstance(qty, int) or not 0 < qty <= MAX_QUANTITY:
        raise ValidationFailed(fields={"qty": "A whole number of units above zero."})
    moves = apply_moves(
        actor,
        [
            MoveLine(location.id, variant.id, -qty, grade=Grade.A, where="qty"),
            MoveLine(location.id, variant.id, qty, grade=Grade.B, where="qty"),
        ],
        reason=MoveReason.DAMAGE,
        note=note,
    )
    _audit(actor, "stock.damaged", location, variant, qty=qty, note=note)
    return moves


def _audit(actor: Actor, action: str, location: Location, variant: Variant, **details) -> None:
    audit.record(
        actor,
        action,
        org_id=location.org_id,
        brand_id=variant.brand_id,
        location=location.code,
        sku=variant.sku,
        **details,
    )


# -- stock uploads -------------------------------------------------------------------------------


def start_stock_upload(actor: Actor, location: Location, filename: str, data: bytes) -> StockUpload:
    """Store a stock file for one's own location and check it in a job (after commit).

    Only the org holding the location, with a role that adjusts stock (PermissionDenied).
    Raises StockUploadRejected (field "file") for a type other than CSV or XLSX, an empty file
    or one past UPLOAD_MAX_BYTES. Nothing is parsed here: the job does it."""
    from portal.inventory import jobs as inventory_jobs  # it imports upload.py, which imports us
    from portal.inventory.upload import EXTENSIONS

    _ensure_own(actor, location)
    name = os.path.basename((filename or "").replace("\\", "/")).strip()[:255]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in EXTENSIONS:
        raise StockUploadRejected(fields={"file": "Upload a .csv or .xlsx file."})
    if not data:
        raise StockUploadRejected(fields={"file": "The file is empty."})
    try:
        check_size(len(data), upload_limits())
    except FileRefused as refused:
        raise StockUploadRejected(fields={"file": refused.translated()}) from refused
    relative = f"stock-uploads/{location.org_id}/{uuid.uuid4().hex}.{ext}"
    target = Path(current_app.instance_path) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".part")
    temporary.write_bytes(data)
    os.replace(temporary, target)  # the job never reads half a file
    upload = StockUpload(
        org_id=location.org_id,
        location_id=location.id,
        user_id=actor.user_id,
        filename=name,
        stored_path=relative,
        sha256=hashlib.sha256(data).hexdigest(),
        status=UploadStatus.VALIDATING,
        errors=[],
        summary={},
    )
    db.session.add(upload)
    db.session.flush()
    run = jobs.enqueue(
        inventory_jobs.validate_stock_upload,
        upload.id,
        org_id=location.org_id,
        user_id=actor.user_id,
        title=f"Validate stock file {name}",
    )
    upload.job_id = run.id
    audit.record(
        actor,
        "stock.upload_started",
        org_id=location.org_id,
        location=location.code,
        upload_id=upload.id,
        file=name,
        bytes=len(data),
    )
    return upload


def confirm_stock_upload(actor: Actor, upload: StockUpload) -> StockUpload:
    """Apply a checked upload, whole, in a job. Only a `ready` one (StockUploadNotReady), by the
    org holding its location (PermissionDenied)."""
    from portal.inventory import jobs as inventory_jobs

    _ensure_own(actor, upload.location)
    # Conditional: of two confirmations racing (a double click), only one moves it on.
    moved = db.session.execute(
        update(StockUpload)
        .where(StockUpload.id == upload.id, StockUpload.status == UploadStatus.READY)
        .values(status=UploadStatus.APPLYING)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        raise StockUploadNotReady()
    db.session.refresh(upload)
    run = jobs.enqueue(
        inventory_jobs.apply_stock_upload,
        upload.id,
        org_id=upload.org_id,
        user_id=actor.user_id,
        title=f"Apply stock file {upload.filename}",
    )
    upload.job_id = run.id
    audit.record(
        actor,
        "stock.upload_confirmed",
        org_id=upload.org_id,
        location=upload.location.code,
        upload_id=upload.id,
        file=upload.filename,
    )
    return upload


# -- the proof -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Disagreement:
    location_id: int
    variant_id: int
    grade: str
    on_hand: int
    reserved: int
    ledger_on_hand: int
    ledger_reserved: int


def check_ledger() -> list[Disagreement]:
    """Levels that differ from their ledger sums, or hold more than they have, in one pass."""
    sums = (
        select(
            StockMove.location_id,
            StockMove.variant_id,
            StockMove.grade,
            func.sum(StockMove.on_hand_delta).label("on_hand"),
            func.sum(StockMove.reserved_delta).label("reserved"),
        )
        .group_by(StockMove.location_id, StockMove.variant_id, StockMove.grade)
        .subquery()
    )
    ledger_on_hand = func.coalesce(sums.c.on_hand, 0)
    ledger_reserved = func.coalesce(sums.c.reserved, 0)
    # Compared in the database: only disagreeing rows come back, whatever the size.
    joined = (
        select(
            StockLevel.location_id,
            StockLevel.variant_id,
            StockLevel.grade,
            StockLevel.on_hand,
            StockLevel.reserved,
            ledger_on_hand,
            ledger_reserved,
        )
        .outerjoin(
            sums,
            (sums.c.location_id == StockLevel.location_id)
            & (sums.c.variant_id == StockLevel.variant_id)
            & (sums.c.grade == StockLevel.grade),
        )
        .where(
            or_(
                StockLevel.on_hand != ledger_on_hand,
                StockLevel.reserved != ledger_reserved,
                StockLevel.on_hand - StockLevel.reserved < 0,
            )
        )
    )
    bad = [
        Disagreement(loc, var, grade, int(on), int(res), int(l_on), int(l_res))
        for loc, var, grade, on, res, l_on, l_res in db.session.execute(joined)
    ]
    # Ledger rows whose level is missing altogether.
    orphans = select(sums).where(
        ~select(StockLevel.id)
        .where(
            StockLevel.location_id == sums.c.location_id,
            StockLevel.variant_id == sums.c.variant_id,
            StockLevel.grade == sums.c.grade,
        )
        .exists()
    )
    for location_id, variant_id, grade, on_hand, reserved in db.session.execute(orphans):
        if on_hand or reserved:
            bad.append(
                Disagreement(location_id, variant_id, grade, 0, 0, int(on_hand), int(reserved))
            )
    return bad
