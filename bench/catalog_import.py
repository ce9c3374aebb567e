"""6. Catalog import: 600,000 SKUs (40,000 products x 15) for one brand, from CSV and from XLSX,
through the pages HQ uses: upload (a web form, signed in with CSRF like a browser), validation
(a job), confirmation, apply (a job). Validate and apply are timed separately.

The file adds new products (codes BIMP00001...) to the last brand of the network, so every run
measures the same work: inserting the whole file. Afterwards the harness deletes those products
and their SKUs with SQL (nothing else refers to them: it checks first), and the uploaded files,
leaving the catalog as seeded for the next run.
"""

from __future__ import annotations

import csv
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.client import WebSession
from bench.common import Context, headline, print_figures, write_result
from bench.stack import ROOT, connect
from portal.catalog.importer import COLUMNS  # the file layout HQ uploads
from portal.seed.scale import COLORS, SIZES

PREFIX = "BIMP"
GOAL_SECONDS = 60.0


def shape(per_product: int) -> tuple[int, int]:
    """Colors x sizes of each product: 15 SKUs are 3 colors x 5 sizes."""
    colors = max(1, per_product // 5)
    return colors, max(1, per_product // colors)


def _rows(products: int, per_product: int, categories: list[str]):
    colors, sizes = shape(per_product)
    n = 0
    for p in range(1, products + 1):
        code = f"{PREFIX}{p:05d}"
        category = categories[p % len(categories)]
        msrp = f"{99 + (p % 400)}.00"
        for c in COLORS[:colors]:
            for s in SIZES[:sizes]:
                n += 1
                yield (
                    code, f"Bench import item {p}", category, "2026SS", "2026-03-01", msrp,
                    f"{code}-{c}-{s}", c, s, f"29{n:011d}", "12",
                )  # fmt: skip


def write_files(
    folder: Path, products: int, per_product: int, categories: list[str]
) -> dict[str, Path]:
    from openpyxl import Workbook

    csv_path = folder / "bench-catalog.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        writer.writerows(_rows(products, per_product, categories))
    xlsx_path = folder / "bench-catalog.xlsx"
    book = Workbook(write_only=True)
    sheet = book.create_sheet("catalog")
    sheet.append(COLUMNS)
    for row in _rows(products, per_product, categories):
        sheet.append(row)
    book.save(xlsx_path)
    return {"csv": csv_path, "xlsx": xlsx_path}


def remove_bench_products(ctx: Context, brand_id: int) -> dict[str, Any]:
    """Delete the products this benchmark imported, unless something refers to them."""
    with connect(ctx.url) as conn:
        conn.execute(
            "CREATE TEMP TABLE bench_imp_products AS SELECT id FROM products"
            " WHERE brand_id = %s AND code LIKE %s",
            (brand_id, f"{PREFIX}%"),
        )
        count = conn.execute("SELECT count(*) FROM bench_imp_products").fetchone()[0]
        if not count:
            return {"products": 0}
        conn.execute(
            "CREATE TEMP TABLE bench_imp_variants AS SELECT id FROM variants"
            " WHERE product_id IN (SELECT id FROM bench_imp_products)"
        )
        # Statistics, and a count rather than EXISTS: EXISTS makes the planner hope for an early
        # hit and probe the ledger's index once per id; when nothing refers to them (the normal
        # case) that never ends. A count is one hash join per table.
        conn.execute("ANALYZE bench_imp_products")
        conn.execute("ANALYZE bench_imp_variants")
        referring = conn.execute(
            "SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text"
            " FROM pg_constraint c JOIN pg_attribute a"
            " ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
            " WHERE c.contype = 'f' AND c.confrelid IN ('variants'::regclass,"
            " 'products'::regclass) AND c.conrelid <> 'variants'::regclass"
        ).fetchall()
        for table, column, target in referring:
            ids = "bench_imp_variants" if target == "variants" else "bench_imp_products"
            used = conn.execute(
                f'SELECT count(*) > 0 FROM "{table}" t JOIN {ids} x ON x.id = t."{column}"'
            ).fetchone()[0]
            if used:
                conn.rollback()
                return {"products": count, "kept_because": f"{table}.{column} refers to them"}
        # Foreign-key triggers would check each of 600,000 rows against tables without an
        # index on the column; the check above has already proved nothing refers to them.
        conn.execute("SET LOCAL session_replication_role = replica")
        variants = conn.execute(
            "DELETE FROM variants WHERE id IN (SELECT id FROM bench_imp_variants)"
        ).rowcount
        conn.execute("DELETE FROM products WHERE id IN (SELECT id FROM bench_imp_products)")
        conn.commit()
    return {"products": count, "variants": variants}


def _status(ctx: Context, import_id: int) -> str:
    return ctx.value("SELECT status FROM catalog_imports WHERE id = %s", (import_id,))


def _wait_status(ctx: Context, import_id: int, waiting: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while (status := _status(ctx, import_id)) == waiting:
        if time.monotonic() > deadline:
            raise TimeoutError(f"import {import_id} still {waiting} after {timeout:.0f} s")
        time.sleep(0.1)
    return status


def _job_seconds(ctx: Context, import_id: int, title_like: str) -> float | None:
    value = ctx.value(
        "SELECT extract(epoch FROM finished_at - started_at) FROM job_runs"
        " WHERE name LIKE %s AND args::text = %s ORDER BY created_at DESC LIMIT 1",
        (title_like, f"[{import_id}]"),
    )
    return round(float(value), 3) if value is not None else None


def _one(ctx: Context, web: WebSession, path: Path, rows: int, timeout: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    status, location = web.upload("/catalog/imports", "file", path, csrf_from="/catalog/imports")
    upload_s = time.perf_counter() - t0
    found = re.search(r"/catalog/imports/(\d+)", location)
    if status != 302 or not found:
        raise RuntimeError(f"upload of {path.name}: {status} {location}")
    import_id = int(found.group(1))
    checked = _wait_status(ctx, import_id, "validating", timeout)
    validate_wall = time.perf_counter() - t0 - upload_s
    if checked != "ready":
        errors = ctx.value("SELECT errors::text FROM catalog_imports WHERE id = %s", (import_id,))
        raise RuntimeError(f"import {import_id} is {checked}: {errors[:500]}")
    t1 = time.perf_counter()
    status, _ = web.post_form(
        f"/catalog/imports/{import_id}/confirm", {}, csrf_from=f"/catalog/imports/{import_id}"
    )
    final = _wait_status(ctx, import_id, "applying", timeout)
    apply_wall = time.perf_counter() - t1
    if final != "applied":
        raise RuntimeError(f"import {import_id} ended {final}")
    validate_job = _job_seconds(ctx, import_id, "%validate_catalog_import")
    apply_job = _job_seconds(ctx, import_id, "%apply_catalog_import")
    stored = ctx.value("SELECT stored_path FROM catalog_imports WHERE id = %s", (import_id,))
    return {
        "import_id": import_id,
        "rows": rows,
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "upload_s": round(upload_s, 3),
        "validate_s": round(validate_wall, 3),
        "validate_job_s": validate_job,
        "apply_s": round(apply_wall, 3),
        "apply_job_s": apply_job,
        "validate_rows_per_s": round(rows / validate_wall) if validate_wall else None,
        "apply_rows_per_s": round(rows / apply_wall) if apply_wall else None,
        "total_s": round(upload_s + validate_wall + apply_wall, 3),
        "_stored": stored,
    }


def run(ctx: Context) -> dict[str, Any]:
    s = ctx.settings
    brand, brand_id, email = ctx.rows(
        "SELECT o.code, o.id, u.email FROM organizations o"
        " JOIN memberships m ON m.org_id = o.id JOIN users u ON u.id = m.user_id"
        " WHERE o.kind = 'brand' AND m.role = 'hq_admin' ORDER BY o.code DESC, m.id LIMIT 1"
    )[0]
    categories = [
        c for (c,) in ctx.rows("SELECT code FROM categories WHERE brand_id = %s", (brand_id,))
    ] or ["BENCH"]
    products, per_product = s["import_products"], s["import_sizes"]
    colors, sizes = shape(per_product)
    rows = products * colors * sizes
    leftover = remove_bench_products(ctx, brand_id)
    folder = Path(tempfile.mkdtemp(prefix="bench-import-"))
    runs: dict[str, Any] = {}
    cleanup: dict[str, Any] = {"before": leftover}
    try:
        t = time.perf_counter()
        files = write_files(folder, products, per_product, categories)
        generate_s = time.perf_counter() - t
        web = WebSession(ctx.api)
        web.login(email, ctx.password)
        for kind, path in files.items():
            try:
                runs[kind] = _one(ctx, web, path, rows, s["job_timeout"])
            finally:
                cleanup[kind] = remove_bench_products(ctx, brand_id)
                stored = runs.get(kind, {}).pop("_stored", None)
                if stored:
                    (ROOT / "instance" / stored).unlink(missing_ok=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    lines = [f"{rows} rows ({products} products x {rows // products} SKUs) for {brand}; "
             f"files written in {generate_s:.1f} s (untimed)"]  # fmt: skip
    figures: dict[str, Any] = {}
    for kind, r in runs.items():
        lines.append(
            f"{kind:4}: {r['file_mb']} MB, upload {r['upload_s']:.2f} s, validate "
            f"{r['validate_s']:.2f} s ({r['validate_rows_per_s']} rows/s), apply "
            f"{r['apply_s']:.2f} s ({r['apply_rows_per_s']} rows/s), total {r['total_s']:.2f} s"
        )
        total = r["total_s"]
        figures[f"{kind}_total_s"] = headline(
            total, "s", f"<= {GOAL_SECONDS}", total <= GOAL_SECONDS
        )
        figures[f"{kind}_validate_s"] = headline(r["validate_s"], "s")
        figures[f"{kind}_apply_s"] = headline(r["apply_s"], "s")
    lines.append(f"cleanup: {cleanup}")
    result = {
        "figures": figures,
        "runs": runs,
        "cleanup": cleanup,
        "setup": {"brand": brand, "rows": rows, "products": products, "files": "CSV, XLSX"},
        "notes": [
            "validate = from the upload's response until the import is ready (the validation "
            "job, polled every 0.1 s); apply = from the confirmation until applied. The jobs' "
            "own durations (job_runs started_at..finished_at) are beside them.",
            "The goal is read on the total: upload + validate + apply.",
            "The imported products are deleted afterwards with SQL (after proving nothing "
            "refers to them), so every run inserts the whole file.",
        ],
    }
    print_figures("import", lines)
    write_result(ctx, "import", result)
    return result
