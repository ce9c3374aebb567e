"""What people do to stock (adjust, count, move, damage), locations, stock uploads and the proof
that levels match their ledger. Every change to a level goes through `apply_moves`
(portal.inventory.ledger), re-exported here."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from portal.catalog.models import Variant
from portal.core import audit, jobs, staged
from portal.core.access import Actor, OrgKind, Permission
from portal.core.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.inventory import jobs as inventory_jobs
from portal.inventory.errors import StockUploadNotReady, StockUploadRejected
from portal.inventory.ledger import (
    MAX_QUANTITY,
    MoveLine,
    apply_moves,
    available,  # noqa: F401 - re-exported: callers ask services what is available
    ensure_level,
)
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
    ensure_level(variant.brand_id, location.id, variant.id, grade)
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
    _ensure_own(actor, location)
    name = os.path.basename((filename or "").replace("\\", "/")).strip()[:255]
    relative, sha256, size = staged.store(
        f"stock-uploads/{location.org_id}", name, data, rejected=StockUploadRejected
    )
    upload = StockUpload(
        org_id=location.org_id,
        location_id=location.id,
        user_id=actor.user_id,
        filename=name,
        stored_path=relative,
        sha256=sha256,
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
        bytes=size,
    )
    return upload


def confirm_stock_upload(actor: Actor, upload: StockUpload) -> StockUpload:
    """Apply a checked upload, whole, in a job. Only a `ready` one (StockUploadNotReady), by the
    org holding its location (PermissionDenied)."""
    _ensure_own(actor, upload.location)
    if not staged.claim(StockUpload, upload):  # of two confirmations racing, one moves it on
        raise StockUploadNotReady()
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
