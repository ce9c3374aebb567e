"""The import contract (STYLE.md §1): packages import only the packages below them, and no module
imports itself back through others, at module level or inside a function.

A deferred import (inside a function) hides a circle from Python but not from a reader, so both
kinds count. Imports under `if TYPE_CHECKING:` must keep the order too, but make no circle (they
never run). Known breaks are listed in the allow-lists below with their reason; an entry that no
longer occurs fails the test, so the lists only shrink.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORTAL = ROOT / "portal"

# Each layer and the layers directly below it; a layer may import everything below it,
# transitively. A module belongs to the longest layer name that is a prefix of its name.
# `portal` itself (create_app) and `portal.seed` may import everything; `portal.schedule` the
# core and every package's `jobs`.
EVERYTHING = "*"
BELOW: dict[str, tuple[str, ...]] = {
    "portal.core.base": (),
    "portal.extensions": ("portal.core.base",),
    "portal.core": ("portal.extensions",),
    "portal.network": ("portal.core",),
    # Sign-in and tokens: above network, and used by no domain (only create_app and the seed).
    "portal.auth": ("portal.network",),
    "portal.catalog": ("portal.network",),
    "portal.policy": ("portal.catalog",),
    "portal.inventory": ("portal.policy",),
    "portal.finance": ("portal.inventory",),
    "portal.ordering": ("portal.finance",),
    "portal.replenishment": ("portal.ordering",),
    # Checkout offers hooks that members and guides fill: the storefront never imports them.
    "portal.storefront": ("portal.ordering",),
    "portal.members": ("portal.storefront",),
    "portal.guides": ("portal.members",),
    "portal.campaigns": ("portal.guides",),
    "portal.insights": ("portal.guides",),
    "portal.schedule": ("portal.core",),
    "portal.seed": (EVERYTHING,),
    "portal": (EVERYTHING,),
}

# A domain uses another through its services, queries and models, never its pages or commands
# (STYLE.md §1): these modules are for the app factory alone.
ENTRY_POINTS = ("views", "api", "forms", "schemas", "cli")
SHARED = ("portal.core.base", "portal.extensions", "portal.core")
ASSEMBLERS = ("portal", "portal.seed")

# (importer, imported) -> why it is allowed for now. Must only shrink.
ALLOWED_AGAINST_ORDER: dict[tuple[str, str], str] = {}

# Modules of a circle -> why it is allowed for now. Must only shrink.
# The inventory jobs -> upload -> services -> jobs circle (issue 14) goes with the staged-file
# rewrite of portal/inventory; were it still there after that lands, it would be listed here:
#   frozenset({"portal.inventory.jobs", "portal.inventory.upload", "portal.inventory.services"}):
#       "goes with the staged-file rewrite of inventory (issue 14)",
ALLOWED_CIRCLES: dict[frozenset[str], str] = {}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    deferred: bool  # inside a function or class body
    typing_only: bool = False  # under `if TYPE_CHECKING:`

    def __str__(self) -> str:
        where = "in a function" if self.deferred else "at module level"
        where += ", for type checking" if self.typing_only else ""
        return f"{self.importer} -> {self.imported} (line {self.line}, {where})"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(
    node: ast.AST, deferred: bool = False, typing_only: bool = False
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
    """Every import statement in `node`: (statement, deferred, typing_only)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, deferred, typing_only
        elif isinstance(child, ast.If) and _is_type_checking(child):
            for inner in child.body:
                yield from _import_nodes(ast.Module(body=[inner]), deferred, True)
            for inner in child.orelse:
                yield from _import_nodes(ast.Module(body=[inner]), deferred, typing_only)
        else:
            inner_deferred = deferred or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef
            )
            yield from _import_nodes(child, inner_deferred, typing_only)


def collect_imports(root: Path) -> tuple[set[str], list[Import]]:
    """Every module under `root` and every import of one of them (by module name)."""
    paths = {
        module_name(p, root): p for p in sorted(root.rglob("*.py")) if "__pycache__" not in p.parts
    }
    top = root.name
    found: list[Import] = []
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, deferred, typing_only in _import_nodes(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    prefix = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    prefix = node.module or ""
                for alias in node.names:
                    full = f"{prefix}.{alias.name}"
                    targets.append(full if full in paths else prefix)
            for target in targets:
                while target and target not in paths:  # `import a.b.c` of an attribute
                    target = target.rpartition(".")[0]
                if target.split(".")[0] == top and target != name:
                    found.append(Import(name, target, node.lineno, deferred, typing_only))
    return set(paths), found


def layer_of(module: str) -> str | None:
    matches = [layer for layer in BELOW if module == layer or module.startswith(layer + ".")]
    return max(matches, key=len) if matches else None


def may_import(layer: str) -> set[str] | None:
    """The layers `layer` may import (None: every layer)."""
    allowed: set[str] = set()
    todo = list(BELOW[layer])
    while todo:
        below = todo.pop()
        if below == EVERYTHING:
            return None
        if below not in allowed:
            allowed.add(below)
            todo.extend(BELOW[below])
    return allowed


def _is_entry_point(module: str) -> bool:
    last = module.rpartition(".")[2]
    return last in ENTRY_POINTS or last.endswith("_views")


def against_order(imports: list[Import]) -> list[Import]:
    wrong = []
    for imp in imports:
        mine, theirs = layer_of(imp.importer), layer_of(imp.imported)
        if mine == theirs:
            continue
        if mine not in ASSEMBLERS and theirs not in SHARED and _is_entry_point(imp.imported):
            wrong.append(imp)
            continue
        allowed = may_import(mine) if mine else set()
        if mine == "portal.schedule" and imp.imported.endswith(".jobs"):
            continue
        if allowed is not None and theirs not in allowed:
            wrong.append(imp)
    return wrong


def circles(imports: list[Import]) -> list[list[str]]:
    """One circle (a path back to its start) for each strongly connected group of modules."""
    graph: dict[str, set[str]] = defaultdict(set)
    for imp in imports:
        if not imp.typing_only:
            graph[imp.importer].add(imp.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan; the graph is a few hundred modules deep at most
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_path_around(graph, group) for group in groups]


def _path_around(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    start = min(group)
    paths = {start: [start]}
    todo = [start]
    while todo:
        node = todo.pop(0)
        for nxt in sorted(graph[node] & group):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                todo.append(nxt)
    raise AssertionError(f"no circle through {start}")  # pragma: no cover


def _explain(imports: list[Import], circle: list[str]) -> str:
    steps = []
    for a, b in zip(circle, circle[1:], strict=False):
        imp = next(i for i in imports if (i.importer, i.imported, i.typing_only) == (a, b, False))
        steps.append(f"  {imp}")
    return " -> ".join(circle) + "\n" + "\n".join(steps)


# -- the contract on portal/ ----------------------------------------------------------------------


def test_every_module_belongs_to_a_layer():
    modules, _ = collect_imports(PORTAL)
    assert not sorted(m for m in modules if layer_of(m) is None), "add them to BELOW"


def test_packages_import_only_the_packages_below_them_and_not_their_pages():
    _, imports = collect_imports(PORTAL)
    wrong = against_order(imports)
    new = [str(imp) for imp in wrong if (imp.importer, imp.imported) not in ALLOWED_AGAINST_ORDER]
    assert not new, (
        "Imports against the order of STYLE.md §1, or of another package's pages (move the "
        "function down, or pass the value in):\n" + "\n".join(new)
    )
    gone = set(ALLOWED_AGAINST_ORDER) - {(imp.importer, imp.imported) for imp in wrong}
    assert not gone, f"No longer imported: delete these from ALLOWED_AGAINST_ORDER: {gone}"


def test_no_import_circles():
    _, imports = collect_imports(PORTAL)
    found = circles(imports)
    new = [_explain(imports, c) for c in found if frozenset(c) not in ALLOWED_CIRCLES]
    assert not new, "Import circles:\n" + "\n".join(new)
    gone = set(ALLOWED_CIRCLES) - {frozenset(c) for c in found}
    assert not gone, f"These circles are gone: delete them from ALLOWED_CIRCLES: {gone}"


# -- the checker itself finds what it should -----------------------------------------------------


def test_the_checker_finds_wrong_way_and_deferred_circular_imports(tmp_path: Path):
    portal = tmp_path / "portal"
    files = {
        "__init__.py": "from portal.ordering import views\n",
        "core/__init__.py": "",
        "core/db.py": "def f():\n    from portal.extensions import db\n",
        "extensions.py": "from portal.core.db import f\n",
        "catalog/__init__.py": "",
        "catalog/models.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from portal.ordering.models import Order\n"
        ),
        "catalog/services.py": "from . import models\nfrom portal.policy import queries\n",
        "policy/__init__.py": "",
        "policy/queries.py": "import portal.catalog.models\n",
        "ordering/__init__.py": "",
        "ordering/models.py": "",
        "ordering/views.py": "from portal.catalog import services\n",
        "ordering/services.py": "def f():\n    from portal.catalog.views import bp\n",
        "catalog/views.py": "",
    }
    for name, text in files.items():
        (portal / name).parent.mkdir(parents=True, exist_ok=True)
        (portal / name).write_text(text)

    modules, imports = collect_imports(portal)
    assert "portal.core.db" in modules and "portal" in modules
    assert {str(imp) for imp in against_order(imports)} == {
        "portal.catalog.models -> portal.ordering.models (line 3, at module level, for type "
        "checking)",
        "portal.catalog.services -> portal.policy.queries (line 2, at module level)",
        "portal.extensions -> portal.core.db (line 1, at module level)",
        "portal.ordering.services -> portal.catalog.views (line 2, in a function)",
    }
    assert sorted(circles(imports)) == [
        ["portal.core.db", "portal.extensions", "portal.core.db"]
    ], "the TYPE_CHECKING import makes no circle; the deferred one does"
