"""What the engine needs to know about a Python regex before running it.

Two questions, answered from the parse tree of `re` itself (so the answers
hold for exactly the syntax `re` accepts):

* `required_literals`: a set of strings such that every match of the regex
  contains at least one of them. The engine looks for those strings first
  (Hyperscan literal matching, or `bytes.find`) and runs `re` only on the lines
  that contain one: a prefilter that can never drop a match.
* `backtracking_risk`: constructs that make `re` backtrack exponentially
  (a repetition of something that can itself match in several ways); such
  patterns are rejected at validation time.
"""

from __future__ import annotations

import array
import functools
import json
import re
import sys
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

from citriage.scanner import diskcache

LITERAL = sre_constants.LITERAL
IN = sre_constants.IN
SUBPATTERN = sre_constants.SUBPATTERN
BRANCH = sre_constants.BRANCH
AT = sre_constants.AT
ASSERT = sre_constants.ASSERT
ASSERT_NOT = sre_constants.ASSERT_NOT
MAX_REPEAT = sre_constants.MAX_REPEAT
MIN_REPEAT = sre_constants.MIN_REPEAT
POSSESSIVE_REPEAT = getattr(sre_constants, "POSSESSIVE_REPEAT", None)
ATOMIC_GROUP = getattr(sre_constants, "ATOMIC_GROUP", None)
GROUPREF_EXISTS = sre_constants.GROUPREF_EXISTS
MAXREPEAT = sre_constants.MAXREPEAT
REPEATS = tuple(op for op in (MAX_REPEAT, MIN_REPEAT, POSSESSIVE_REPEAT) if op is not None)

MIN_PREFILTER_LENGTH = 3  # shorter required strings would flag too many lines


def parse(expression: str) -> Any:
    return sre_parse.parse(expression, 0)


def required_literals(
    expression: str, *, fold_case: bool = False, min_length: int = MIN_PREFILTER_LENGTH
) -> frozenset[str] | None:
    """Strings one of which every match contains, or None when there is no useful set
    (one of them shorter than `min_length` characters).

    With `fold_case` the strings are in (ASCII) lower case and meant for a
    case-insensitive search, so parts of the regex that ignore case count too.
    """
    tree = parse(expression)
    ignore_case = bool(tree.state.flags & re.IGNORECASE)
    best = _best_literals(list(tree), ignore_case, fold_case)
    if best is None or min(len(s) for s in best) < min_length:
        return None
    return best


def _score(candidate: frozenset[str]) -> tuple[int, int]:
    return (min(len(s) for s in candidate), -len(candidate))


def _best_literals(
    items: list[Any], ignore_case: bool, fold: bool = False
) -> frozenset[str] | None:
    """Best required-literal set of a sequence of parse items (lower case when `fold`)."""
    candidates: list[frozenset[str]] = []
    run: list[str] = []

    def end_run() -> None:
        if run:
            candidates.append(frozenset(["".join(run)]))
            run.clear()

    for op, av in items:
        if op is LITERAL and (fold or not ignore_case):
            run.append(_fold(chr(av)) if fold else chr(av))
            continue
        if op is IN and (fold or not ignore_case) and (char := _one_char(av, fold)) is not None:
            run.append(char)  # a one-character class such as [.] (or [Ee] when folding case)
            continue
        if op is AT:
            continue  # zero-width: the text around it is still contiguous
        end_run()
        sub: frozenset[str] | None = None
        if op is SUBPATTERN:
            _group, add_flags, del_flags, body = av
            case = (ignore_case or bool(add_flags & re.IGNORECASE)) and not (
                del_flags & re.IGNORECASE
            )
            sub = _best_literals(list(body), case, fold)
        elif op in REPEATS and av[0] >= 1:
            sub = _best_literals(list(av[2]), ignore_case, fold)
        elif op is BRANCH:
            options = [_best_literals(list(branch), ignore_case, fold) for branch in av[1]]
            if all(option is not None for option in options):
                sub = frozenset().union(*(o for o in options if o is not None))
        elif op is ATOMIC_GROUP and ATOMIC_GROUP is not None:
            sub = _best_literals(list(av), ignore_case, fold)
        elif op is ASSERT and av[0] == 1:  # a positive lookahead's text is on the line too
            sub = _best_literals(list(av[1]), ignore_case, fold)
        elif op is IN and fold and all(item_op is LITERAL for item_op, _ in av):
            sub = frozenset(_fold(chr(char)) for _, char in av)  # `✗|✖` parses as a class
        if sub:
            candidates.append(sub)
    end_run()
    candidates = [c for c in candidates if c and all(c_ for c_ in c)]
    if not candidates:
        return None
    return max(candidates, key=_score)


def _fold(char: str) -> str:
    return char.lower() if char.isascii() else char


def _one_char(items: Any, fold: bool) -> str | None:
    """The one character a class such as `[.]` stands for (`[Ee]` too when folding case)."""
    if not items or any(op is not LITERAL for op, _av in items):
        return None
    chars = {_fold(chr(av)) if fold else chr(av) for _op, av in items}
    return chars.pop() if len(chars) == 1 else None


def _width(items: Any) -> tuple[int, int]:
    lo, hi = items.getwidth()
    return int(lo), int(hi)


def backtracking_risk(expression: str) -> str | None:
    """Why `re` could backtrack catastrophically on this regex, or None.

    Exponential backtracking needs a repetition whose body can match the same
    text in more than one way: a nested variable repetition with nothing to
    separate the iterations (`(a+)+`, `(\\w+\\s?)*`), or alternatives that can
    match the same text (`(a|a)+`). A body delimited by a character the inner
    repetitions cannot match (`(-[a-z]+)*`, `(\\d+\\.)+`) is safe. A repeated group
    of varying length is safe only when no character can both start and end it
    (`(a|aa)+` and `(=|==)+` can divide a run of `a` or `=` in many ways).

    Polynomial backtracking needs unbounded repetitions in a row that can all
    match one character (`a*a*a*b`, `.*.*.*Z`): on a long line of that
    character, every way of sharing it out among them is tried. More than
    MAX_CHAINED in a row are refused.

    (Scanning runs on RE2, which never backtracks; these rules keep the library
    safe for the time-limited fallback engine and for anyone reusing it.)
    """
    tree = parse(expression)
    if _count_wildcards(tree) > MAX_WILDCARDS:
        return f"more than {MAX_WILDCARDS} unbounded wildcards such as `.*` (slow on long lines)"
    flags = tree.state.flags
    return _risk(tree) or _split_risk(list(tree), flags) or _chain_risk(list(tree), flags)


MAX_WILDCARDS = 4
MAX_CHAINED = 3


_BROAD_CATEGORIES = {
    sre_constants.CATEGORY_NOT_DIGIT,
    sre_constants.CATEGORY_NOT_SPACE,
    sre_constants.CATEGORY_NOT_WORD,
}


def _is_wildcard(item: Any) -> bool:
    """`.`, `[^x]`, `\\S` and the like: a character item that matches almost anything."""
    op, av = item
    if op in (sre_constants.ANY, sre_constants.NOT_LITERAL):
        return True
    if op is IN:
        return any(
            o is sre_constants.NEGATE or (o is sre_constants.CATEGORY and a in _BROAD_CATEGORIES)
            for o, a in av
        )
    return False


def _count_wildcards(items: Any) -> int:
    count = 0
    for op, av in items:
        if op in REPEATS and av[1] == MAXREPEAT and op is not POSSESSIVE_REPEAT:
            body = list(av[2])
            if len(body) == 1 and _is_wildcard(body[0]):
                count += 1
            count += _count_wildcards(av[2])
        else:
            count += sum(_count_wildcards(child) for child in _children(op, av))
    return count


def _risk(items: Any) -> str | None:
    for op, av in items:
        if op in REPEATS:
            _lo, hi, body = av
            if op is POSSESSIVE_REPEAT:
                continue  # never backtracks into its body
            if hi > 1:
                if _has_ambiguous_branch(body):
                    return "repeated alternatives that can match the same text"
                inner = _variable_repeats(body)
                variable_width = _width(body)[0] != _width(body)[1]
                if inner and variable_width and not _delimited(body, inner):
                    return (
                        "a repeated group that can match the same text "
                        "in several ways (such as `(a+)+` or `(\\w+\\s?)*`)"
                    )
                if inner is None:
                    return "a repeated group holding nested repetitions"
            found = _risk(body)
        elif op is SUBPATTERN:
            found = _risk(av[3])
        elif op is BRANCH:
            found = next((r for b in av[1] if (r := _risk(b))), None)
        elif op in (ASSERT, ASSERT_NOT):
            found = _risk(av[1])
        elif op is GROUPREF_EXISTS:
            found = next((r for b in av[1:] if b is not None and (r := _risk(b))), None)
        else:
            found = None
        if found:
            return found
    return None


def _children(op: Any, av: Any) -> list[Any]:
    if op is SUBPATTERN:
        return [av[3]]
    if op is BRANCH:
        return list(av[1])
    if op in (ASSERT, ASSERT_NOT):
        return [av[1]]
    if op is GROUPREF_EXISTS:
        return [b for b in av[1:] if b is not None]
    return []


def _variable_repeats(items: Any) -> list[Any] | None:
    """Single-character items under variable repetitions inside `items`.

    None when some variable repetition repeats more than one character (too
    complex to reason about).
    """
    found: list[Any] = []
    for op, av in items:
        if op in REPEATS and op is not POSSESSIVE_REPEAT and av[0] != av[1]:
            body = list(av[2])
            if len(body) != 1 or body[0][0] in REPEATS or body[0][0] is SUBPATTERN:
                return None
            found.append(body[0])
        for child in _children(op, av):
            sub = _variable_repeats(child)
            if sub is None:
                return None
            found.extend(sub)
    return found


def _delimited(body: Any, inner: list[Any]) -> bool:
    """The body starts or ends with a literal character no inner repetition can match."""
    items = list(body)
    while len(items) == 1 and items[0][0] is SUBPATTERN:
        items = list(items[0][1][3])
    for op, av in (items[0], items[-1]) if items else ():
        if op is LITERAL and not any(_may_match(item, chr(av)) for item in inner):
            return True
    return False


def _may_match(item: Any, char: str) -> bool:
    """Could this single-character parse item match `char`? (True when unsure.)"""
    op, av = item
    if op is LITERAL:
        return bool(av == ord(char))
    if op is sre_constants.NOT_LITERAL:
        return bool(av != ord(char))
    if op is IN:
        try:
            return re.fullmatch(sre_unparse_class(av), char) is not None
        except (re.error, ValueError):
            return True
    return True


_CATEGORY_CLASS = {
    sre_constants.CATEGORY_DIGIT: r"\d",
    sre_constants.CATEGORY_NOT_DIGIT: r"\D",
    sre_constants.CATEGORY_SPACE: r"\s",
    sre_constants.CATEGORY_NOT_SPACE: r"\S",
    sre_constants.CATEGORY_WORD: r"\w",
    sre_constants.CATEGORY_NOT_WORD: r"\W",
}


def sre_unparse_class(items: Any) -> str:
    """Rebuild a character class from its parse items (LITERAL, RANGE, CATEGORY, NEGATE)."""
    parts = []
    negate = ""
    for op, av in items:
        if op is sre_constants.NEGATE:
            negate = "^"
        elif op is LITERAL:
            parts.append(re.escape(chr(av)))
        elif op is sre_constants.RANGE:
            parts.append(f"{re.escape(chr(av[0]))}-{re.escape(chr(av[1]))}")
        elif op is sre_constants.CATEGORY and av in _CATEGORY_CLASS:
            parts.append(_CATEGORY_CLASS[av])
        else:
            raise ValueError(f"unsupported class item {op}")
    return f"[{negate}{''.join(parts)}]"


def _has_ambiguous_branch(items: Any) -> bool:
    """An alternation (anywhere in `items`) whose branches may start alike."""
    for op, av in items:
        if op is BRANCH:
            firsts: set[int] = set()
            for branch in av[1]:
                first = _first_literal(branch)
                if first is None or first in firsts:
                    return True
                firsts.add(first)
        if op is POSSESSIVE_REPEAT or op is ATOMIC_GROUP:
            continue
        children = [av[2]] if op in REPEATS else _children(op, av)
        if any(_has_ambiguous_branch(child) for child in children):
            return True
    return False


def _first_literal(items: Any) -> int | None:
    """The first character a branch must start with; -1 for an empty branch."""
    items = list(items)
    if not items:
        return -1
    op, av = items[0]
    if op is LITERAL:
        return int(av)
    if op is SUBPATTERN:
        return _first_literal(av[3])
    return None


# -- character sets ----------------------------------------------------------
#
# The exact set of characters a one-character item (`a`, `[^\s]`, `\w`, `.`
# under the flags in force) matches, as sorted, merged, inclusive code point
# ranges. Only characters a stripped line can hold count: no newline, no
# surrogate. Sets that depend on Unicode tables or case folding are asked of
# `re` itself, so they are exactly what the running Python matches.

Ranges = tuple[tuple[int, int], ...]

NEWLINE = 0x0A
MAX_CODE_POINT = 0x10FFFF
_SURROGATES = (0xD800, 0xDFFF)
LINE_CHARACTERS: Ranges = ((0, NEWLINE - 1), (NEWLINE + 1, 0xD7FF), (0xE000, MAX_CODE_POINT))
CHARACTER_ITEMS = (LITERAL, sre_constants.NOT_LITERAL, sre_constants.ANY, IN)


def merged(ranges: list[tuple[int, int]]) -> Ranges:
    """Sorted, merged ranges, limited to characters a line can hold."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return intersection(tuple(out), LINE_CHARACTERS)


def intersection(a: Ranges, b: Ranges) -> Ranges:
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def complement(ranges: Ranges) -> Ranges:
    gaps, start = [], 0
    for lo, hi in ranges:
        if lo > start:
            gaps.append((start, lo - 1))
        start = hi + 1
    if start <= MAX_CODE_POINT:
        gaps.append((start, MAX_CODE_POINT))
    return merged(gaps)


@functools.cache
def _every_line_character() -> str:
    """Every character a line can hold, in order (all but newline and the surrogates).

    Built a plane at a time: a plane's UTF-32 is the first plane's with its third byte
    set (0.003 s, where a code point at a time takes 0.04 s)."""
    first_plane = array.array("I", range(0x10000))
    if sys.byteorder != "little":  # pragma: no cover - the machines this runs on
        first_plane.byteswap()
    planes = [first_plane.tobytes()]
    for plane in range(1, MAX_CODE_POINT // 0x10000 + 1):
        code_points = bytearray(planes[0])
        code_points[2::4] = bytes([plane]) * 0x10000
        planes.append(bytes(code_points))
    everything = b"".join(planes)
    below, above = _SURROGATES[0] * 4, (_SURROGATES[1] + 1) * 4
    return (everything[:below] + everything[above:]).decode("utf-32-le").replace("\n", "")


def _line_code_point(index: int) -> int:
    """The code point at `index` of `_every_line_character()`."""
    if index < NEWLINE:
        return index
    if index < _SURROGATES[0] - 1:
        return index + 1
    return index + 1 + _SURROGATES[1] - _SURROGATES[0] + 1


_INLINE_FLAGS = re.compile(r"(?:\(\?[aiLmsux]+\))*")


@functools.cache
def _asked_of_re(regex: str) -> Ranges:
    """The characters a one-character regex matches, found by running it on all of them.

    It runs once per run of matching characters: a run's first and last character span
    it, but for newline and the surrogates between them, which `merged` takes out."""
    flags = _INLINE_FLAGS.match(regex)
    assert flags is not None  # it matches the empty string
    runs = re.compile(f"{flags.group()}(?:{regex[flags.end() :]})+")
    return merged(
        [
            (_line_code_point(run.start()), _line_code_point(run.end() - 1))
            for run in runs.finditer(_every_line_character())
        ]
    )


def _asked_of_re_one_by_one(regex: str) -> Ranges:
    """`_asked_of_re` done plainly, a character at a time (the tests compare the two)."""
    found = sorted(map(ord, re.findall(regex, _every_line_character())))
    ranges: list[tuple[int, int]] = []
    for code in found:
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return merged(ranges)


def _flag_prefix(flags: int) -> str:
    return ("(?i)" if flags & re.IGNORECASE else "") + ("(?a)" if flags & re.ASCII else "")


_NEGATED_CATEGORY = {
    sre_constants.CATEGORY_NOT_DIGIT: sre_constants.CATEGORY_DIGIT,
    sre_constants.CATEGORY_NOT_SPACE: sre_constants.CATEGORY_SPACE,
    sre_constants.CATEGORY_NOT_WORD: sre_constants.CATEGORY_WORD,
}


def _category(category: Any, flags: int) -> Ranges:
    """`\\d`, `\\s`, `\\w` and their negations (the large ones as complements of small ones)."""
    prefix = "(?a)" if flags & re.ASCII else ""
    if category in _NEGATED_CATEGORY:
        return complement(_category_ranges(prefix + _CATEGORY_CLASS[_NEGATED_CATEGORY[category]]))
    return _category_ranges(prefix + _CATEGORY_CLASS[category])


@functools.cache
def _category_ranges(regex: str) -> Ranges:
    """`_asked_of_re` of `\\d`, `\\s` or `\\w`: the same for every pattern of a Python
    version, and slower to work out than loading a library takes, so kept on disk."""
    return diskcache.cached(
        "regex-characters",
        diskcache.key_of(regex),
        lambda: _asked_of_re(regex),
        lambda ranges: json.dumps(ranges).encode(),
        lambda data: tuple((int(a), int(b)) for a, b in json.loads(data)),
    )


def char_set(item: Any, flags: int) -> Ranges:
    """Exactly the characters the one-character parse item matches on a line."""
    op, av = item
    ignore_case = bool(flags & re.IGNORECASE)
    if op is sre_constants.ANY:
        return LINE_CHARACTERS
    if op is LITERAL and not ignore_case:
        return merged([(av, av)])
    if op is sre_constants.NOT_LITERAL and not ignore_case:
        return complement(merged([(av, av)]))
    if op is IN and not ignore_case:
        parts: list[tuple[int, int]] = []
        negate = False
        for kind, value in av:
            if kind is sre_constants.NEGATE:
                negate = True
            elif kind is LITERAL:
                parts.append((value, value))
            elif kind is sre_constants.RANGE:
                parts.append(value)
            elif kind is sre_constants.CATEGORY:
                parts.extend(_category(value, flags))
            else:
                return _asked_of_re(_flag_prefix(flags) + sre_unparse_class(av))
        found = merged(parts)
        return complement(found) if negate else found
    if op is LITERAL:
        return _asked_of_re(_flag_prefix(flags) + re.escape(chr(av)))
    if op is sre_constants.NOT_LITERAL:
        return _asked_of_re(_flag_prefix(flags) + f"[^{re.escape(chr(av))}]")
    if op is IN:
        return _asked_of_re(_flag_prefix(flags) + sre_unparse_class(av))
    raise ValueError(f"not a one-character item: {op}")


# -- ambiguity from character sets -------------------------------------------


def _shown(ranges: Ranges) -> str:
    """One character of the set, as a person reads it."""
    for preferred in "a=- ":
        if intersection(ranges, ((ord(preferred), ord(preferred)),)):
            return repr(preferred)
    some = [chr(c) for lo, hi in ranges for c in range(lo, min(hi, lo + 200) + 1)]
    return repr(next((c for c in some if c.isprintable()), some[0]))


def _edge(items: list[Any], flags: int, last: bool) -> tuple[Ranges, bool]:
    """The characters a match of `items` can start (or end) with, and whether it can be empty."""
    chars: Ranges = ()
    for op, av in reversed(items) if last else items:
        found, may_be_empty = _edge_of_item(op, av, flags, last)
        chars = merged([*chars, *found])
        if not may_be_empty:
            return chars, False
    return chars, True


def _edge_of_item(op: Any, av: Any, flags: int, last: bool) -> tuple[Ranges, bool]:
    if op in CHARACTER_ITEMS:
        return char_set((op, av), flags), False
    if op is SUBPATTERN:
        return _edge(list(av[3]), (flags | av[1]) & ~av[2], last)
    if op is BRANCH:
        edges = [_edge(list(branch), flags, last) for branch in av[1]]
        return merged([r for chars, _ in edges for r in chars]), any(e for _, e in edges)
    if op in REPEATS:
        chars, may_be_empty = _edge(list(av[2]), flags, last)
        return chars, may_be_empty or av[0] == 0
    if op is ATOMIC_GROUP and ATOMIC_GROUP is not None:
        return _edge(list(av), flags, last)
    if op in (AT, ASSERT, ASSERT_NOT):
        return (), True  # zero-width
    return LINE_CHARACTERS, True  # backreferences, conditionals: could be anything


def _nested(op: Any, av: Any, flags: int) -> list[tuple[list[Any], int]]:
    """The item sequences directly inside an item, with the flags in force there."""
    if op is SUBPATTERN:
        return [(list(av[3]), (flags | av[1]) & ~av[2])]
    if op in REPEATS:
        return [(list(av[2]), flags)]
    if op is ATOMIC_GROUP and ATOMIC_GROUP is not None:
        return [(list(av), flags)]
    return [(list(child), flags) for child in _children(op, av)]


def _split_risk(items: list[Any], flags: int) -> str | None:
    """A repeated group of varying width that can end with a character it can start with.

    Then a run of such text can be divided into repetitions in several ways, as
    in `(a|aa)+` or `(=|==)+`, and each way is tried.
    """
    for op, av in items:
        if op in REPEATS and op is not POSSESSIVE_REPEAT and av[1] > 1:
            body = av[2]
            low, high = _width(body)
            atomic = len(body) == 1 and body[0][0] is ATOMIC_GROUP  # never divided again
            if low != high and not atomic:
                first, _ = _edge(list(body), flags, last=False)
                last, _ = _edge(list(body), flags, last=True)
                both = intersection(first, last)
                if both:
                    return (
                        "a repeated group of varying length that can both start and end with "
                        f"{_shown(both)}, so a run of such text can be divided into repetitions "
                        "in many ways (as in `(a|aa)+`)"
                    )
        for inner, inner_flags in _nested(op, av, flags):
            found = _split_risk(inner, inner_flags)
            if found:
                return found
    return None


def _single_character(items: list[Any], flags: int) -> tuple[list[Any], int] | None:
    """The one-character item a body consists of (through groups), with its flags."""
    while len(items) == 1 and items[0][0] is SUBPATTERN:
        _group, add_flags, del_flags, body = items[0][1]
        items, flags = list(body), (flags | add_flags) & ~del_flags
    if len(items) == 1 and items[0][0] in CHARACTER_ITEMS:
        return items[0], flags
    return None


def _chain_risk(items: list[Any], flags: int) -> str | None:
    """More than MAX_CHAINED unbounded one-character repetitions in a row sharing a character."""
    longest, witness = 0, LINE_CHARACTERS
    length, common = 0, LINE_CHARACTERS

    def flatten(sequence: list[Any], flags: int) -> list[tuple[Any, Any, int]]:
        out = []
        for op, av in sequence:
            if op is SUBPATTERN:
                out.extend(flatten(list(av[3]), (flags | av[1]) & ~av[2]))
            else:
                out.append((op, av, flags))
        return out

    for op, av, item_flags in flatten(items, flags):
        if op in REPEATS and op is not POSSESSIVE_REPEAT:
            single = _single_character(list(av[2]), item_flags)
            if single is not None:
                chars = char_set(*single)
                if av[1] == MAXREPEAT:  # a star: joins the run if it shares a character
                    shared = intersection(common, chars) if length else chars
                    length, common = (length + 1, shared) if shared else (1, chars)
                    if length > longest:
                        longest, witness = length, common
                elif av[0] >= 1 and length:  # required characters between the stars
                    common = intersection(common, chars)
                    length = length if common else 0
                continue
        if op in CHARACTER_ITEMS:
            if length:
                common = intersection(common, char_set((op, av), item_flags))
                length = length if common else 0
            continue
        if op is AT:
            continue
        length = 0  # something else: a new run starts after it
        for inner, inner_flags in _nested(op, av, item_flags):
            found = _chain_risk(inner, inner_flags)
            if found:
                return found
    if longest > MAX_CHAINED:
        return (
            f"{longest} unbounded repetitions in a row that can all match {_shown(witness)} "
            f"(as in `a*a*a*a*b` or `.*.*.*.*Z`): on a long line of such text every way of "
            f"sharing it out among them is tried, about (line length)^{longest} ways"
        )
    return None
