"""The fan and operator pages have words, in both their languages, for every refusal
the API can give: a Korean fan never reads the server's English detail."""

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
