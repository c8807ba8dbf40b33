"""Pattern files: the original Dr. CI dump, citriage's own format, validation, best match."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from citriage.scanner import patterns as pattern_files
from citriage.scanner.engine import Match
from citriage.scanner.patterns import Pattern, PatternError
from citriage.scanner.ranking import best_match


@pytest.fixture(scope="module")
def dump(corpus: Path) -> Path:
    return corpus / "patterns" / "drci-original" / "patterns-dump.json"


def test_the_drci_dump_loads_unchanged_with_db_ids(dump: Path) -> None:
    entries = json.loads(dump.read_text())
    loaded = pattern_files.load(dump)
    assert len(loaded) == len(entries) == 72
    for entry, pattern in zip(entries, loaded, strict=True):
        record = entry["payload"]["record"]
        assert pattern.id == entry["payload"]["db_id"]
        assert pattern.author == entry["author"]
        assert pattern.created == datetime.fromisoformat(entry["created"].replace("Z", "+00:00"))
        assert pattern.tags == tuple(record["tags"])
        assert pattern.applicable_steps == tuple(record["applicable_steps"])
        assert pattern.specificity == record["specificity"]
        assert pattern.lines_from_end == record["lines_from_end"]
        assert pattern.is_retired == record["is_retired"]
        contents = record["expression"]["contents"]
        if pattern.is_regex:
            assert [pattern.expression, pattern.has_nondeterministic_values] == contents
        else:
            assert pattern.expression == contents
    regex = next(p for p in loaded if p.id == 3)
    assert regex.is_regex and regex.applicable_steps == ("Test",)


@pytest.mark.parametrize("as_json", [False, True])
def test_export_then_import_gives_the_same_patterns(dump: Path, as_json: bool) -> None:
    original = pattern_files.load(dump) + pattern_files.default_library()[:5]
    original = [pattern_files.with_id(p, i) for i, p in enumerate(original, start=1)]
    text = pattern_files.dumps(original, as_json=as_json)
    again = pattern_files.loads(text)
    assert again == original
    assert pattern_files.dumps(again, as_json=as_json) == text  # and the document is stable


def test_own_format_keeps_unicode_quotes_and_odd_characters() -> None:
    tricky = Pattern(
        7,
        "can't open 'C:\\tmp\\x' — “quoted” # not a comment: {yaml}",
        description="line1\nline2",
        tags=("odd",),
        created=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    )
    assert pattern_files.loads(pattern_files.dumps([tricky])) == [tricky]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            "format: citriage-patterns/1\npatterns:\n- id: 1\n  regex: '(a+)+$'\n",
            "pattern 1 .*backtrack",
        ),
        (
            "format: citriage-patterns/1\npatterns:\n- id: 2\n  regex: '(unclosed'\n",
            "pattern 2 .*compile",
        ),
        ("format: citriage-patterns/1\npatterns:\n- id: 3\n", "pattern 3: .*exactly one"),
        (
            "format: citriage-patterns/1\npatterns:\n- id: 4\n  literal: x\n  color: red\n",
            "pattern 4: .*color",
        ),
        (
            "format: citriage-patterns/1\npatterns:\n- {id: 5, literal: a}\n- {id: 5, literal: b}\n",
            "id 5 appears twice",
        ),
        ("{}", "expected a Dr. CI pattern dump"),
        ('[{"payload": {"db_id": 9, "record": {"expression": {"tag": "Nope"}}}}]', "pattern 9"),
        ("format: citriage-patterns/1\npatterns: [\n", "not valid YAML"),
    ],
)
def test_invalid_pattern_files_name_the_problem(document: str, message: str) -> None:
    with pytest.raises(PatternError, match=message):
        pattern_files.loads(document)


def test_best_match_ranking_follows_the_seed() -> None:
    patterns = {
        1: Pattern(1, "generic", specificity=1),
        2: Pattern(2, "specific", specificity=5),
        3: Pattern(3, r"spec\w+", is_regex=True, specificity=5),
        4: Pattern(4, "retired", specificity=5, is_retired=True),
        5: Pattern(5, "newer", specificity=5),
    }

    def m(pattern_id: int, line: int) -> Match:
        return Match(pattern_id, line, 0, 1, "x")

    # higher specificity beats a later line
    assert best_match([m(1, 90), m(2, 10)], patterns.get) == m(2, 10)
    # same specificity: the later line wins
    assert best_match([m(2, 10), m(3, 20)], patterns.get) == m(3, 20)
    # same line: non-retired beats retired, literal beats regex, newer beats older
    assert best_match([m(4, 10), m(2, 10)], patterns.get) == m(2, 10)
    assert best_match([m(3, 10), m(2, 10)], patterns.get) == m(2, 10)
    assert best_match([m(2, 10), m(5, 10)], patterns.get) == m(5, 10)
    # a promoted match beats everything
    promoted = m(1, 1)
    assert best_match([m(2, 10), promoted], patterns.get, promoted=id(promoted)) is promoted
    assert best_match([], patterns.get) is None


def test_nul_characters_are_refused_with_the_pattern_named() -> None:
    for pattern in (
        Pattern(id=7, expression="bad\x00text"),
        Pattern(id=7, expression="boom", description="bad\x00text"),
        Pattern(id=7, expression="boom", tags=("fla\x00ky",)),
    ):
        with pytest.raises(PatternError, match=r"pattern 7.*NUL characters"):
            pattern_files.validate(pattern)
