"""Tenant rows are loaded only through scoped loaders (STYLE.md §4).

A raw `db.session.get(Model, id)` skips the question "may this actor see that row?", so it is
allowed only where that question is answered: `portal/core/` (access and the job machinery) and
each domain's `queries.py`, plus the seed and CLI commands (the operator's own tools). Anywhere
else, a view, service or job asks its domain's queries (with `Actor.system()` in a job)."""

from __future__ import annotations

import ast
from pathlib import Path

from portal.extensions import db

PORTAL = Path(__file__).resolve().parent.parent / "portal"

# A row belongs to a tenant when its table names an org or a brand, or it is an org itself.
TENANT_COLUMNS = {"org_id", "brand_id", "buyer_org_id", "supplier_org_id", "owner_org_id"}


def tenant_models() -> set[str]:

    from portal import _register_models

    _register_models()
    names = set()
    for mapper in db.Model.registry.mappers:
        columns = set(mapper.local_table.columns.keys())
        if columns & TENANT_COLUMNS or mapper.local_table.name == "organizations":
            names.add(mapper.class_.__name__)
    return names


def _allowed(rel: str) -> bool:
    return (
        rel.startswith(("core/", "seed/"))
        or rel.endswith(("queries.py", "cli.py"))
        or "/queries/" in rel
    )


def raw_loads(tenants: set[str]) -> list[str]:
    found = []
    for path in sorted(PORTAL.rglob("*.py")):
        rel = path.relative_to(PORTAL).as_posix()
        if _allowed(rel):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr == "session"
                and node.args
                and isinstance(node.args[0], ast.Name)
            ):
                continue
            if node.args[0].id in tenants:
                found.append(f"{rel}:{node.lineno} {node.args[0].id}")
    return found


def test_the_tenant_model_list_is_not_empty():
    """The check below means something only if it knows the tenant models."""
    assert {"Order", "Organization", "ChannelLink", "StockLevel"} <= tenant_models()


def test_tenant_rows_are_loaded_only_through_scoped_loaders():
    assert raw_loads(tenant_models()) == []
