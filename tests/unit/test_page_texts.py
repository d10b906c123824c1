"""The fan and operator pages have words, in both their languages, for every refusal
the API can give: a Korean fan never reads the server's English detail. The control
room's own words are apart (text-<lang>-operator.js), and the fan's page, which never
loads them, never asks for one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "src" / "boxoffice" / "web" / "static"


def _keys(name: str) -> set[str]:
    return set(re.findall(r"^  (\w+):", (STATIC / name).read_text(), re.MULTILINE))


def _codes() -> set[str]:
    text = (ROOT / "docs" / "api.md").read_text()
    table = text[text.index("## Error codes") :]
    return set(re.findall(r"^\| \d{3} \| `(\w+)` \|", table, re.MULTILINE))


def test_every_error_code_has_words_in_english_and_korean() -> None:
    codes = _codes()
    assert len(codes) > 25  # the table was read
    for language in ("text-en.js", "text-ko.js"):
        missing = {code for code in codes if f"problem_{code}" not in _keys(language)}
        assert not missing, f"{language} has no words for {sorted(missing)}"


def test_both_languages_have_the_same_texts() -> None:
    assert _keys("text-en.js") == _keys("text-ko.js")
    assert _keys("text-en-operator.js") == _keys("text-ko-operator.js")
    assert not _keys("text-en.js") & _keys("text-en-operator.js")


def _fan_modules() -> dict[str, str]:
    """The fan's page and every module it imports, transitively."""
    found: dict[str, str] = {}
    wanted = {"fan.html", "fan.js"}
    while wanted:
        name = wanted.pop()
        if name in found:
            continue
        found[name] = (STATIC / name).read_text()
        wanted |= set(re.findall(r'from "\./([\w.-]+)"', found[name]))
    return found


def test_the_fan_page_asks_for_no_text_of_the_control_rooms_alone() -> None:
    fan = _fan_modules()
    assert {"fan.js", "dom.js", "i18n.js", "screen-booking.js"} <= set(fan)  # the walk works
    operator_only = _keys("text-en-operator.js")
    assert len(operator_only) > 50  # the file was read
    asked = {
        key
        for key in operator_only
        for name, text in fan.items()
        if not name.startswith("text-") and re.search(rf"\b{key}\b", text)
    }
    assert not asked, f"the fan's page uses control-room texts it never loads: {sorted(asked)}"
