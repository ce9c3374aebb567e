"""One page of a scoped query, with the numbers a list page and the API both need."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select

from portal.core.errors import ValidationFailed
from portal.extensions import db

MAX_PER_PAGE = 200
MAX_PAGE = 1_000_000  # keeps the offset a small number (page 10^30 was a 500)


@dataclass
class Page:
    items: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def as_json(self, items: list[Any], **extra: Any) -> dict[str, Any]:
        """The API's page envelope around already serialized items."""
        return {
            **extra,
            "items": items,
            "page": self.page,
            "per_page": self.per_page,
            "total": self.total,
        }


def parse_page_args(args: Any, *, default_per_page: int = 50) -> tuple[int, int]:
    try:
        page = int(args.get("page", 1) or 1)
        per_page = int(args.get("per_page", default_per_page) or default_per_page)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(fields={"page": "page and per_page must be whole numbers"}) from exc
    if not 1 <= page <= MAX_PAGE:
        raise ValidationFailed(fields={"page": f"must be between 1 and {MAX_PAGE}"})
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValidationFailed(fields={"per_page": f"must be between 1 and {MAX_PER_PAGE}"})
    return page, per_page


def paginate(stmt: Select[Any], page: int, per_page: int) -> Page:
    total = db.session.execute(select(func.count()).select_from(stmt.order_by(None).subquery()))
    items = db.session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).scalars()
    return Page(items=list(items), page=page, per_page=per_page, total=total.scalar_one())
