"""The character sets of one-character regexes, found a run of characters at a time, are
those found a character at a time."""

from __future__ import annotations

import array
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from citriage.scanner import regex_analysis


def test_every_line_character_is_every_code_point_but_newline_and_surrogates() -> None:
    plain = array.array("I", range(0xD800))
    plain.extend(range(0xE000, 0x110000))
    expected = plain.tobytes().decode("utf-32-le").replace("\n", "")
    text = regex_analysis._every_line_character()
    assert text == expected
    for index in (0, 9, 10, 0xD7FE, 0xD7FF, 0x10000, len(text) - 1):
        assert regex_analysis._line_code_point(index) == ord(text[index])


CLASSES = [r"\d", r"\D", r"\w", r"\W", r"\s", r"\S", "(?a)\\w", "(?a)\\S", ".", "[^x]"]
CLASSES += ["(?i)k", "(?i)[a-z_]", "(?i)ß", "(?i)[^\\W\\d]", "(?i)\\.", "[\\t-\\r ]"]


def test_the_categories_and_classes_the_analysis_asks_for() -> None:
    for regex in CLASSES:
        assert regex_analysis._asked_of_re(regex) == regex_analysis._asked_of_re_one_by_one(
            regex
        ), regex


@settings(max_examples=8, deadline=None)
@given(
    st.lists(st.characters(exclude_characters="\n"), min_size=1, max_size=4),
    st.booleans(),
    st.booleans(),
)
def test_any_class_of_characters(chars: list[str], negated: bool, ignore_case: bool) -> None:
    regex = ("(?i)" if ignore_case else "") + "[" + ("^" if negated else "")
    regex += "".join(re.escape(c) for c in chars) + "]"
    assert regex_analysis._asked_of_re(regex) == regex_analysis._asked_of_re_one_by_one(regex)
