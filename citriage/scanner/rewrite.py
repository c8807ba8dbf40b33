"""Python `re` expressions rewritten for RE2 and for the `regex` module, with `re`'s answers.

RE2 runs in time linear in the text whatever the expression, so no pattern can
hold a scan for long; but some of its syntax means other things than `re`'s:
`\\w`, `\\d`, `\\s` and `\\b` are ASCII-only, case folding differs, `$` differs
before a final newline, an empty-matching repetition iterates differently. The
`regex` module (the fallback, run with a time limit) has Unicode classes of its
own too (`\\w` misses `²`, `\\s` misses `\\x1c`). So both rewrites start from
`re`'s own parse tree and spell every character item out as the exact set of
code points `re` matches (asked of `re` itself: `regex_analysis.char_set`), and
run case-sensitively: the Unicode tables and the case folding are the running
Python's.

RE2 dialect: the program runs over a whole stripped log (lines separated by
newlines, none inside a line). Nothing in it can match a newline, `^`/`\\A`
become "start of a line" and `$`/`\\Z` "end of a line", so its leftmost match
from the start of a line is `re.search`'s first match on that line, span and
groups alike. What RE2 cannot express, `to_re2` refuses with the reason:
lookaround, backreferences, conditionals, atomic groups and possessive
repetition, counted repetition over 1,000, a repeated part that can match the
empty string. `\\b`/`\\B` with Unicode meaning become RE2's ASCII ones and are
flagged: that answer is exact on a line of ASCII text only.

`regex` dialect: run on one line at a time; everything `re` has is expressed
(`\\b` as lookarounds over `re`'s word characters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from re import _constants as sre_constants  # type: ignore[attr-defined]
from typing import Any

from citriage.scanner import regex_analysis as ra

RE2_MAX_REPEAT = 1000

_RE2_ANCHORS = {
    sre_constants.AT_BEGINNING: "(?m:^)",
    sre_constants.AT_BEGINNING_LINE: "(?m:^)",
    sre_constants.AT_BEGINNING_STRING: "(?m:^)",
    sre_constants.AT_END: "(?m:$)",
    sre_constants.AT_END_LINE: "(?m:$)",
    sre_constants.AT_END_STRING: "(?m:$)",
}
_LINE_ANCHORS = {  # on a line, which holds no newline
    sre_constants.AT_BEGINNING: r"\A",
    sre_constants.AT_BEGINNING_LINE: r"\A",
    sre_constants.AT_BEGINNING_STRING: r"\A",
    sre_constants.AT_END: r"\Z",
    sre_constants.AT_END_LINE: r"\Z",
    sre_constants.AT_END_STRING: r"\Z",
}
_BOUNDARIES = {sre_constants.AT_BOUNDARY: r"\b", sre_constants.AT_NON_BOUNDARY: r"\B"}
_RE2_UNSUPPORTED = {
    sre_constants.ASSERT: "lookahead or lookbehind",
    sre_constants.ASSERT_NOT: "negative lookahead or lookbehind",
    sre_constants.GROUPREF: "a backreference",
    sre_constants.GROUPREF_EXISTS: "a conditional group",
    ra.ATOMIC_GROUP: "an atomic group",
    ra.POSSESSIVE_REPEAT: "a possessive repetition",
}


class Untranslatable(ValueError):
    """RE2 cannot run this expression with `re`'s meaning; the message says why."""


@dataclass(frozen=True)
class Translation:
    expression: str  # ASCII text
    ascii_lines_only: bool = False  # RE2: exact only on lines of ASCII text (Unicode `\b`)


def to_re2(expression: str) -> Translation:
    """The RE2 expression with `re`'s meaning on every line of a log, or Untranslatable."""
    tree = ra.parse(expression)
    writer = _Re2Writer()
    text = writer.items(list(tree), tree.state.flags)
    return Translation(text, writer.unicode_boundary)


def to_regex_module(expression: str) -> Translation:
    """The `regex` module expression (VERSION0) with `re`'s meaning on one line."""
    tree = ra.parse(expression)
    return Translation(_RegexWriter().items(list(tree), tree.state.flags))


class _Writer:
    """The parts both dialects write alike."""

    def items(self, items: list[Any], flags: int) -> str:
        return "".join(self.item(op, av, flags) for op, av in items)

    def item(self, op: Any, av: Any, flags: int) -> str:
        if op in ra.CHARACTER_ITEMS:
            return self.character_class(ra.char_set((op, av), flags))
        if op is ra.SUBPATTERN:
            group, add_flags, del_flags, body = av
            inner = self.items(list(body), (flags | add_flags) & ~del_flags)
            return f"({inner})" if group is not None else f"(?:{inner})"
        if op is ra.BRANCH:
            return "(?:" + "|".join(self.items(list(b), flags) for b in av[1]) + ")"
        if op in ra.REPEATS:
            low, high, body = av
            count = f"{{{low},}}" if high == ra.MAXREPEAT else f"{{{low},{high}}}"
            suffix = {ra.MIN_REPEAT: "?", ra.POSSESSIVE_REPEAT: "+"}.get(op, "")
            return f"(?:{self.items(list(body), flags)}){count}{suffix}"
        return self.special(op, av, flags)

    def special(self, op: Any, av: Any, flags: int) -> str:
        raise NotImplementedError

    @staticmethod
    def character_class(ranges: ra.Ranges) -> str:
        raise NotImplementedError


class _Re2Writer(_Writer):
    def __init__(self) -> None:
        self.unicode_boundary = False

    def item(self, op: Any, av: Any, flags: int) -> str:
        if op in _RE2_UNSUPPORTED:
            raise Untranslatable(f"it uses {_RE2_UNSUPPORTED[op]}, which RE2 does not have")
        if op in ra.REPEATS:
            low, high, body = av
            if low > RE2_MAX_REPEAT or (high != ra.MAXREPEAT and high > RE2_MAX_REPEAT):
                raise Untranslatable(f"it repeats more than {RE2_MAX_REPEAT} times (RE2's limit)")
            if high > 1 and body.getwidth()[0] == 0:
                # re stops iterating at an empty match, RE2 does not: groups would differ.
                raise Untranslatable("a repeated part of it can match the empty string")
        return super().item(op, av, flags)

    def special(self, op: Any, av: Any, flags: int) -> str:
        if op is ra.AT and av in _RE2_ANCHORS:
            return _RE2_ANCHORS[av]
        if op is ra.AT and av in _BOUNDARIES:
            self.unicode_boundary |= not flags & re.ASCII
            return _BOUNDARIES[av]
        raise Untranslatable(f"RE2 does not have {str(op).lower()} {av}")

    @staticmethod
    def character_class(ranges: ra.Ranges) -> str:
        if not ranges:
            return r"[^\x00-\x{10FFFF}]"  # matches no character
        spelled = [f"\\x{{{lo:X}}}" + (f"-\\x{{{hi:X}}}" if hi > lo else "") for lo, hi in ranges]
        return "[" + "".join(spelled) + "]"


class _RegexWriter(_Writer):
    def special(self, op: Any, av: Any, flags: int) -> str:
        if op is ra.AT and av in _LINE_ANCHORS:
            return _LINE_ANCHORS[av]
        if op is ra.AT and av in _BOUNDARIES:
            word = self.character_class(
                ra.char_set((ra.IN, [(sre_constants.CATEGORY, sre_constants.CATEGORY_WORD)]), flags)
            )
            if av is sre_constants.AT_BOUNDARY:
                return f"(?:(?<={word})(?!{word})|(?<!{word})(?={word}))"
            return f"(?:(?<={word})(?={word})|(?<!{word})(?!{word}))"
        if op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            direction, body = av
            kind = "=" if op is sre_constants.ASSERT else "!"
            behind = "<" if direction < 0 else ""
            return f"(?{behind}{kind}{self.items(list(body), flags)})"
        if op is sre_constants.GROUPREF:
            reference = f"\\g<{av}>"
            return f"(?i:{reference})" if flags & re.IGNORECASE else reference
        if op is sre_constants.GROUPREF_EXISTS:
            group, yes, no = av
            no_text = "|" + self.items(list(no), flags) if no is not None else ""
            return f"(?({group}){self.items(list(yes), flags)}{no_text})"
        if op is ra.ATOMIC_GROUP:
            return f"(?>{self.items(list(av), flags)})"
        raise Untranslatable(f"cannot rewrite {str(op).lower()} {av}")

    @staticmethod
    def character_class(ranges: ra.Ranges) -> str:
        if not ranges:
            return r"[^\x00-\U0010FFFF]"
        spelled = [f"\\U{lo:08X}" + (f"-\\U{hi:08X}" if hi > lo else "") for lo, hi in ranges]
        return "[" + "".join(spelled) + "]"
