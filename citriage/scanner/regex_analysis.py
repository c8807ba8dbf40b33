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

import re
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

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


def required_literals(expression: str) -> frozenset[str] | None:
    """Strings one of which every match contains, or None when there is no useful set."""
    tree = parse(expression)
    ignore_case = bool(tree.state.flags & re.IGNORECASE)
    best = _best_literals(list(tree), ignore_case)
    if best is None or min(len(s) for s in best) < MIN_PREFILTER_LENGTH:
        return None
    return best


def _score(candidate: frozenset[str]) -> tuple[int, int]:
    return (min(len(s) for s in candidate), -len(candidate))


def _best_literals(items: list[Any], ignore_case: bool) -> frozenset[str] | None:
    """Best required-literal set of a sequence of parse items."""
    candidates: list[frozenset[str]] = []
    run: list[str] = []

    def end_run() -> None:
        if run:
            candidates.append(frozenset(["".join(run)]))
            run.clear()

    for op, av in items:
        if op is LITERAL and not ignore_case:
            run.append(chr(av))
            continue
        if op is IN and not ignore_case and len(av) == 1 and av[0][0] is LITERAL:
            run.append(chr(av[0][1]))  # a one-character class such as [.]
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
            sub = _best_literals(list(body), case)
        elif op in REPEATS and av[0] >= 1:
            sub = _best_literals(list(av[2]), ignore_case)
        elif op is BRANCH:
            options = [_best_literals(list(branch), ignore_case) for branch in av[1]]
            if all(option is not None for option in options):
                sub = frozenset().union(*(o for o in options if o is not None))
        elif op is ATOMIC_GROUP and ATOMIC_GROUP is not None:
            sub = _best_literals(list(av), ignore_case)
        elif op is ASSERT and av[0] == 1:  # a positive lookahead's text is on the line too
            sub = _best_literals(list(av[1]), ignore_case)
        if sub:
            candidates.append(sub)
    end_run()
    candidates = [c for c in candidates if c and all(c_ for c_ in c)]
    if not candidates:
        return None
    return max(candidates, key=_score)


def _width(items: Any) -> tuple[int, int]:
    lo, hi = items.getwidth()
    return int(lo), int(hi)


def backtracking_risk(expression: str) -> str | None:
    """Why `re` could backtrack catastrophically on this regex, or None.

    Exponential backtracking needs a repetition whose body can match the same
    text in more than one way: a nested variable repetition with nothing to
    separate the iterations (`(a+)+`, `(\\w+\\s?)*`), or alternatives that can
    match the same text (`(a|a)+`). A body delimited by a character the inner
    repetitions cannot match (`(-[a-z]+)*`, `(\\d+\\.)+`) is safe.
    """
    tree = parse(expression)
    if _count_wildcards(tree) > MAX_WILDCARDS:
        return f"more than {MAX_WILDCARDS} unbounded wildcards such as `.*` (slow on long lines)"
    return _risk(tree)


MAX_WILDCARDS = 4


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
