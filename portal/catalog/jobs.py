"""Catalog jobs: check an uploaded catalog file, then apply it. Each is one transaction (the job
runner commits it) and safe to run twice (it acts only on an import in the state it expects).
The mechanics are portal.core.staged's; the rules, portal.catalog.importer's."""

from __future__ import annotations

from typing import Any

from portal.catalog import importer, queries
from portal.catalog.models import CatalogImport
from portal.core import jobs, staged
from portal.core.access import Actor


def _find(import_id: int) -> CatalogImport | None:
    return queries.find_import(Actor.system(), import_id)


def _import_gave_up(import_id: int, *, reason: str) -> None:
    """The job was failed for good: an import still being checked or applied is failed."""
    staged.give_up(_find(import_id), reason)


@jobs.job(queue=jobs.QUEUE_REPORTS, title="Validate catalog file", on_give_up=_import_gave_up)
def validate_catalog_import(import_id: int) -> dict[str, Any]:
    return staged.validate_job(
        lambda: _find(import_id),
        importer.validate_import,
        what="catalog import",
        record_id=import_id,
    )


@jobs.job(
    queue=jobs.QUEUE_REPORTS, retries=0, title="Apply catalog file", on_give_up=_import_gave_up
)
def apply_catalog_import(import_id: int) -> dict[str, Any]:
    return staged.apply_job(
        lambda: _find(import_id),
        lambda imp, progress: importer.apply_import(Actor.system(), imp, progress=progress),
        shown=lambda summary: {k: v for k, v in summary.items() if k != "new_categories"},
    )
