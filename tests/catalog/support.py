"""Builders for catalog tests: products through the services, catalog files in every format."""

from __future__ import annotations

import io
from typing import Any

from portal.catalog import services
from portal.catalog.models import CatalogImport
from portal.core import jobs
from portal.extensions import db
from tests.support.services import actor_for, org

HEADER = (
    "product_code,product_name,category,season,launch_date,msrp,sku,color,size,barcode,case_pack"
)


def make_product(code: str = "ZT-1", **overrides: Any):
    options: dict[str, Any] = {
        "name": "Classic tee",
        "category_code": "TOPS",
        "season": "2025SS",
        "launch_date": None,
        "msrp_cents": 19900,
        "colors": ["Black", "White"],
        "sizes": ["S", "M", "L"],
    }
    options.update(overrides)
    return services.create_product(actor_for("hq@demo.test"), org("ACME").id, code=code, **options)


def csv_bytes(
    rows: list[str], *, encoding: str = "utf-8", bom: bool = False, sep: str = ","
) -> bytes:
    text = "\r\n".join([HEADER.replace(",", sep), *(r.replace(",", sep) for r in rows)]) + "\r\n"
    data = text.encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def upload(
    data: bytes, filename: str = "catalog.csv", email: str = "hq@demo.test"
) -> CatalogImport:
    """Upload as HQ and run the validation job inline; returns the checked import."""
    imp = services.start_import(
        actor_for(email), org("ACME").id, filename=filename, stream=io.BytesIO(data)
    )
    import_id = imp.id
    jobs.commit()
    return db.session.get(CatalogImport, import_id)


def confirm(imp: CatalogImport, email: str = "hq@demo.test") -> CatalogImport:
    import_id = imp.id
    services.confirm_import(actor_for(email), imp)
    jobs.commit()
    db.session.expire_all()
    return db.session.get(CatalogImport, import_id)
