"""The Simplified Chinese catalog: complete, placeholder-safe, compiled, and in step with the code.

`make translations` re-extracts, updates and compiles; these tests say when that (or a translator)
is needed. They read files only: no app, no database.
"""

from __future__ import annotations

import io
import os
import re
from functools import cache
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
BABEL_CFG = ROOT / "babel.cfg"
CATALOG_DIR = ROOT / "portal" / "translations" / "zh_Hans_CN" / "LC_MESSAGES"
PO_FILE = CATALOG_DIR / "messages.po"
MO_FILE = CATALOG_DIR / "messages.mo"

# Python %-format conversions, named or not; "%%" is a literal percent sign, not a placeholder.
PLACEHOLDER = re.compile(r"%(?:\((?P<name>[^)]*)\))?[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")


@cache
def po_catalog() -> Catalog:
    with open(PO_FILE, "rb") as f:
        return read_po(f)


def _entries(catalog: Catalog) -> set[tuple[object, object, object]]:
    # The header (empty msgid) is left out: Babel regenerates it (e.g. "Generated-By").
    def frozen(value: object) -> object:
        return tuple(value) if isinstance(value, (list, tuple)) else value

    return {(frozen(m.id), m.context, frozen(m.string)) for m in catalog if m.id}


def _placeholders(text: str) -> list[str]:
    return sorted(m.group(0) for m in PLACEHOLDER.finditer(text.replace("%%", "")))


def _label(message: Message) -> str:
    return repr(message.id[0] if isinstance(message.id, tuple) else message.id)


def test_catalog_is_simplified_chinese_with_one_plural_form() -> None:
    catalog = po_catalog()
    assert str(catalog.locale) == "zh_Hans_CN"
    assert catalog.num_plurals == 1
    assert not catalog.fuzzy, "the catalog header is marked fuzzy: pybabel compile would skip it"


def test_every_message_is_translated_and_none_is_fuzzy() -> None:
    catalog = po_catalog()
    problems = []
    for message in catalog:
        if not message.id:
            continue
        if message.fuzzy:
            problems.append(f"{_label(message)} is fuzzy")
        strings = message.string if message.pluralizable else (message.string,)
        if message.pluralizable and len(strings) != catalog.num_plurals:
            problems.append(f"{_label(message)} has {len(strings)} plural forms")
        if not all(s and s.strip() for s in strings):
            problems.append(f"{_label(message)} is not translated")
    assert len(catalog) > 0
    assert not problems, "\n".join(problems)


def test_placeholders_are_kept() -> None:
    problems = []
    for message in po_catalog():
        if not message.id:
            continue
        ids = message.id if message.pluralizable else (message.id,)
        strings = message.string if message.pluralizable else (message.string,)
        expected = sorted(set().union(*(_placeholders(i) for i in ids)))
        for string in strings:
            if not string:
                continue  # reported as untranslated
            found = sorted(set(_placeholders(string)))
            if found != expected:
                problems.append(
                    f"{_label(message)}: {expected} in the source, {found} in {string!r}"
                )
    assert not problems, "\n".join(problems)


def test_compiled_catalog_is_up_to_date() -> None:
    compiled = io.BytesIO()
    write_mo(compiled, po_catalog())
    compiled.seek(0)
    with open(MO_FILE, "rb") as f:
        committed = read_mo(f)
    expected = _entries(read_mo(compiled))
    actual = _entries(committed)
    assert actual == expected, (
        f"the zh_Hans_CN messages.mo is stale ({len(expected ^ actual)} entries differ): "
        "run `make translations` (or `pybabel compile -d portal/translations`) and commit the .mo"
    )


def _extract_dir_filter(path: str) -> bool:
    # Unlike Babel's default walk, enter underscore directories (templates/_macros) but not
    # hidden ones (.venv, .git) or bytecode caches.
    name = os.path.basename(path)
    return not (name.startswith(".") or name == "__pycache__")


def test_every_marked_string_is_in_the_catalog() -> None:
    with open(BABEL_CFG, encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f, str(BABEL_CFG))
    catalog = po_catalog()
    missing = set()
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, directory_filter=_extract_dir_filter
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if not msgid:
            continue
        entry = catalog.get(msgid, context)
        if entry is None or (isinstance(message, tuple) and not entry.pluralizable):
            missing.add(f"{filename}:{lineno}: {msgid!r}")
    assert not missing, (
        "marked for translation but not in the zh_Hans_CN catalog; run `make translations` "
        "and translate the new entries:\n" + "\n".join(sorted(missing))
    )
