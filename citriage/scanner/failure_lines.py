"""Find the lines of a failed log that most likely explain the failure, without any pattern.

A line is a *candidate* when one of the evidence rules of `failure_rules` fits
it (a compiler error, an exception line, a test verdict, an error marker, a
problem phrase, ...; the first that fits, in order of specificity, is its
evidence) or a log level says it is an error. Its score is a sum of learned
weights (`failure_model.json`, written by `bench/train_failure_lines.py` from
the labeled logs of the shared corpus): its evidence, the modifiers that fit it
(warnings, stack frames, wrappers of an exit status, skipped tests, summaries,
boilerplate, ...), its shape (log level, indentation, length, a file location,
a header, ...) and its place in the log (position, cleanup after the step
exited, distance to the next exit, a stack trace hanging off it, the first of
its repeats or of its kind, how often it repeats, whether a passing log of the
same job has it too).

Repeats of a line (the same text but for its digits) are one candidate, shown
at their best-scoring line, and lines with the same signature
(`signature.signature`) are shown once; for the two best, where they first
occurred (or, when that is the best line, where they last did) is listed too.
A line scoring no more than `MIN_SCORE` is not listed.

Work per log is bounded: only the last `MAX_SCORED` lines holding one of the
rules' prefilter strings are looked at (`FailureLines.cut_before` says when
that left lines out), found in one pass from the end of the log (Hyperscan, or
`bytes.find` on lower-cased blocks where it is missing). Within them, lines are
taken best upper bound first: a bound from the strings a line holds and its
place, then from its evidence, then its exact score; a line whose bound cannot
reach the lines already found is never decoded (the best line costs least: the
next four may have to be told apart from many alike). At most `MAX_JUDGED`
lines are decoded and judged: past that, only lines already judged are ranked
(`FailureLines.unjudged` counts the lines left out that might have ranked), so
that a log of many alike errors costs what any other does.
`reference_failure_lines` does the same plainly, every line and every rule
(the tests hold the two to the same answers when the budget is not reached).
"""

from __future__ import annotations

import bisect
import heapq
import json
import math
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

# The finder does element-wise work with numpy, never linear algebra: OpenBLAS's pool
# of threads only spins (3% of a scan's CPU). Set before numpy is loaded; a value given
# in the environment stands.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # (after the setting above)

from citriage.scanner import diskcache
from citriage.scanner import failure_rules as rules
from citriage.scanner.boilerplate import is_generic
from citriage.scanner.engine import Match
from citriage.scanner.logtext import LogText
from citriage.scanner.ranking import RankedPattern, best_match
from citriage.scanner.signature import signature

try:
    import hyperscan
except ImportError:  # pragma: no cover - depends on the platform
    hyperscan = None  # type: ignore[assignment]
try:  # optional C helpers, built with the package when a compiler is there
    from citriage.scanner import _cstrip
except ImportError:  # pragma: no cover - depends on the build
    _cstrip = None  # type: ignore[assignment]

DEFAULT_LIMIT = 5
MIN_SCORE = 0.0  # a line scoring no more than this says nothing (warnings, boilerplate)
MAX_SCORED = 50_000  # lines looked at per log at most (the last ones holding a prefilter string)
# Lines decoded and judged per log at most: judging a line costs ~0.1 ms of regexes, and a
# log of many alike error lines (a harness repeating one message) can leave tens of
# thousands with bounds the found lines do not beat. Past this, no new line is judged.
MAX_JUDGED = 4_000
STRONG_EVIDENCE = 8  # a prior this high: a test verdict or a specific failure
NEAR_EXIT = 30  # lines before a failed exit that count as "just before" it
NEAR_END = 50  # lines before the end of the log that count as "near" it
SHOW_OCCURRENCES_OF = 2  # the best candidates whose first (or last) occurrence is listed too
BLOCK = 4 * 1024 * 1024  # the prefilter reads the log a block at a time, from the end
MODEL_FILE = "failure_model.json"
MODEL_FORMAT = "citriage-failure-model/1"
_EPSILON = 1e-6  # bounds are sums of floats: a little slack keeps them bounds


@dataclass(frozen=True, slots=True)
class Candidate:
    line: int  # 1-based
    text: str
    score: float
    reason: str


@dataclass(frozen=True)
class FailureLines:
    """The finder's answer for one log."""

    candidates: list[Candidate]
    cut_before: int = 0  # lines before this one were not looked at (0: the whole log was)
    looked_at: int = 0  # lines holding a prefilter string that were looked at
    judged: int = 0  # of those, lines decoded and judged (the rest could not score enough)
    unjudged: int = 0  # lines that might have scored higher, left unjudged by MAX_JUDGED


# -- the model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    """Learned weights, one per feature of `failure_rules.FEATURES`."""

    weights: tuple[float, ...]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Model:
        if data.get("format") != MODEL_FORMAT:
            raise ValueError(f"not a failure-line model (format {data.get('format')!r})")
        named: Mapping[str, float] = data["weights"]
        unknown = set(named) - set(rules.FEATURES)
        if unknown:
            raise ValueError(f"unknown features in the model: {', '.join(sorted(unknown))}")
        return cls(tuple(float(named.get(name, 0.0)) for name in rules.FEATURES))

    def to_mapping(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "weights": dict(zip(rules.FEATURES, self.weights, strict=True)),
        }


@cache
def default_model() -> Model:
    """The weights shipped with the package."""
    text = resources.files("citriage.scanner").joinpath(MODEL_FILE).read_text(encoding="utf-8")
    return Model.from_mapping(json.loads(text))


# -- judging one line --------------------------------------------------------------------

Features = tuple[tuple[int, float], ...]  # (index into FEATURES, value), ascending


@dataclass(frozen=True, slots=True)
class Judged:
    """A candidate line on its own: its content features (evidence, modifiers, shape)."""

    features: Features
    reason: str  # what its evidence says ("compiler error", "exception", ...)
    evidence: int  # the index of its evidence feature (its kind)


_LEVEL_EVIDENCE = rules.INDEX["error level"]


def _evidence(body: rules.Body, candidates: Iterable[rules.Rule]) -> list[rules.Rule]:
    """The rules of `candidates` that fit the body, in order."""
    return [rule for rule in candidates if rule.fits(body.text)]


def _judged(text: str, body: rules.Body, fitting: Sequence[rules.Rule]) -> Judged | None:
    if fitting:  # the first rule that fits is the evidence; the others count
        name, reason = fitting[0].name, fitting[0].reason
    elif body.level in rules.ERROR_LEVELS:
        name, reason = "error level", "error level"
    else:
        return None
    index = rules.INDEX
    features = {index[name]: 1.0}
    if len(fitting) > 1:
        features[index["more evidence"]] = len(fitting) - 1.0
    lowered = body.text.lower()
    for modifier in rules.MODIFIERS:
        if modifier.fits_lowered(body.text, lowered):
            features[index[modifier.name]] = 1.0
    if body.level in rules.ERROR_LEVELS:  # "ERROR: Timeout: 600": an error says it happened
        features.pop(index["setting"], None)
    strong = rules.PRIORS[name] >= STRONG_EVIDENCE
    for shape in rules.shape_features(text, body, strong=strong):
        features[shape] = 1.0
    return Judged(tuple(sorted(features.items())), reason, index[name])


def judge(text: str) -> Judged | None:
    """The content features of a line, or None when it is no candidate."""
    body = rules.body_of(text)
    if body is None:
        return None
    return _judged(text, body, _evidence(body, rules.EVIDENCE))


def score_line(text: str, model: Model | None = None) -> tuple[float, str]:
    """The content score of one line on its own and its reason ((0, "") for no candidate)."""
    judged = judge(text)
    if judged is None:
        return 0.0, ""
    weights = (model or default_model()).weights
    return math.fsum(weights[i] * v for i, v in judged.features), judged.reason


def repeat_key(line: bytes) -> bytes:
    """What repeats of a line share: its text but for the digits (counters, times, ids)."""
    return line.translate(None, b"0123456789")


# -- a passing log -------------------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    """What a passing log of the same job and step says: the signatures of its lines that
    hold a prefilter string. A failed log's line found there says little."""

    signatures: frozenset[str]

    @classmethod
    def of(cls, log: LogText) -> Baseline:
        data = log.data
        return cls(
            frozenset(
                signature(data[start:end].decode("utf-8", "replace"))
                for _line, start, end, _mask in _holding_lines(data, log.line_count)
            )
        )


# -- the place of a line in the log -----------------------------------------------------------


@dataclass(frozen=True)
class _Exits:
    exits: list[int]  # lines where a step ended in failure
    closings: list[int]  # those and the lines reporting a command's failed exit


def place_features(
    line: int, exits: _Exits, total: int, first: bool, repeats: int
) -> list[tuple[int, float]]:
    """(feature index, value) of what a line's place says, before judging it."""
    index = rules.INDEX
    values: list[tuple[int, float]] = [(index["position"], line / total)]
    if total - line < NEAR_END:
        values.append((index["near end"], 1.0))
    if exits.exits and line > exits.exits[0]:
        values.append((index["after exit"], 1.0))
    if exits.exits and line > exits.exits[-1]:
        values.append((index["after last exit"], 1.0))
    after = bisect.bisect_right(exits.closings, line)
    next_closing = exits.closings[after] if after < len(exits.closings) else total + 1
    if after < len(exits.closings) and next_closing - line <= NEAR_EXIT:
        values.append((index["before exit"], 1.0))
    values.append((index["exit distance"], math.log10(next_closing - line) / 5))
    if first:
        values.append((index["first occurrence"], 1.0))
    if repeats > 1:
        values.append((index["repeats"], math.log2(repeats) / 10))
    return values


def _score(weights: Sequence[float], *groups: Iterable[tuple[int, float]]) -> float:
    return math.fsum(weights[i] * v for group in groups for i, v in group)


@dataclass(slots=True)
class ScoredLine:
    """A candidate with everything the model looks at, and its score."""

    line: int
    text: str
    key: bytes  # repeat_key of the line
    judged: Judged
    context: list[tuple[int, float]]
    score: float = 0.0


def _line_context(
    place: list[tuple[int, float]], frame_next: bool, first_of_kind: bool, in_baseline: bool
) -> list[tuple[int, float]]:
    context = list(place)
    if frame_next:
        context.append((rules.INDEX["frame next"], 1.0))
    if first_of_kind:
        context.append((rules.INDEX["first of its kind"], 1.0))
    if in_baseline:
        context.append((rules.INDEX["in passing log"], 1.0))
    return sorted(context)


def rerank(items: list[ScoredLine], model: Model, limit: int = DEFAULT_LIMIT) -> list[Candidate]:
    """Candidates already judged (`candidate_lines`), scored and ranked with `model`."""
    for item in items:
        item.score = _score(model.weights, item.judged.features, item.context)
    return _rank(items, limit)


def _rank(items: list[ScoredLine], limit: int) -> list[Candidate]:
    """The best `limit` candidates (see the module doc), from all of them scored."""
    best: dict[bytes, ScoredLine] = {}
    first: dict[bytes, ScoredLine] = {}
    last: dict[bytes, ScoredLine] = {}
    for item in items:  # in line order: ties keep the later line
        first.setdefault(item.key, item)
        last[item.key] = item
        kept = best.get(item.key)
        if kept is None or item.score >= kept.score:
            best[item.key] = item
    ranked = sorted(best.values(), key=lambda i: (-i.score, -i.line))
    walk = _Walk(limit)
    ranked = [item for item in ranked if item.score > MIN_SCORE]
    for item in ranked:
        if walk.add(item, lambda key: (first[key], last[key])):
            break
    return walk.found


class _Walk:
    """The ranked list, one group (of repeats) at a time, best first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.found: list[Candidate] = []
        self.signatures: set[str] = set()
        self.groups = 0

    def add(self, item: ScoredLine, ends: Any) -> bool:
        """Add the best line of the next group; True when the list is full."""
        key = signature(item.text)
        if key in self.signatures:
            return False  # the same failure in other words (hex ids, paths)
        self.signatures.add(key)
        self.found.append(_candidate(item, item.judged.reason))
        if self.groups < SHOW_OCCURRENCES_OF and len(self.found) < self.limit:
            first, last = ends(item.key)
            if first is not item:
                self.found.append(_candidate(first, "first occurrence"))
            elif last is not item:
                self.found.append(_candidate(last, "last occurrence"))
        self.groups += 1
        del self.found[self.limit :]
        return len(self.found) >= self.limit


def _candidate(item: ScoredLine, reason: str) -> Candidate:
    return Candidate(item.line, item.text, round(item.score, 3), reason)


# -- the plain reference -------------------------------------------------------------------


def _holds(line: bytes) -> bool:
    lowered = line.lower()
    return any(s in lowered for s in _PREFILTER_BYTES)


def reference_lines(
    log: LogText, *, baseline: Baseline | None = None, model: Model | None = None
) -> tuple[list[ScoredLine], int, int]:
    """Every candidate scored, plainly: each line, each rule. Also the first line looked at
    when the bound cut the log (else 0), and the number of lines looked at."""
    model = model or default_model()
    lines = log.data.split(b"\n")[:-1] if log.data else []
    holding = [n for n, line in enumerate(lines, 1) if _holds(line)]
    scope = holding[-MAX_SCORED:]
    exits = _Exits([], [])
    for n in scope:
        ends = rules.closing(lines[n - 1].decode("utf-8", "replace"))
        if ends == "exit":
            exits.exits.append(n)
        if ends:
            exits.closings.append(n)
    exit_lines = set(exits.exits)
    others = [n for n in scope if n not in exit_lines]
    counts: dict[bytes, int] = {}
    for n in others:
        key = repeat_key(lines[n - 1])
        counts[key] = counts.get(key, 0) + 1
    seen: set[bytes] = set()
    fitted: set[int] = set()  # the evidence rules that fit an earlier line (and error levels)
    items = []
    total = max(1, len(lines))
    for n in others:
        raw = lines[n - 1]
        key = repeat_key(raw)
        first = key not in seen
        seen.add(key)
        text = raw.decode("utf-8", "replace")
        body = rules.body_of(text)
        if body is None:
            continue
        fitting = _evidence(body, rules.EVIDENCE)
        judged = _judged(text, body, fitting)
        first_of_kind = judged is not None and judged.evidence not in fitted
        fitted.update(rules.INDEX[rule.name] for rule in fitting)
        if body.level in rules.ERROR_LEVELS:
            fitted.add(_LEVEL_EVIDENCE)
        if judged is None:
            continue
        frame_next = n < len(lines) and rules.FRAME_NEXT.match(lines[n]) is not None
        in_baseline = baseline is not None and signature(text) in baseline.signatures
        place = place_features(n, exits, total, first, counts[key])
        context = _line_context(place, frame_next, first_of_kind, in_baseline)
        item = ScoredLine(n, text, key, judged, context)
        item.score = _score(model.weights, judged.features, context)
        items.append(item)
    cut_before = scope[0] if len(holding) > len(scope) else 0
    return items, cut_before, len(scope)


def reference_failure_lines(
    log: LogText,
    *,
    limit: int = DEFAULT_LIMIT,
    baseline: Baseline | None = None,
    model: Model | None = None,
) -> FailureLines:
    """`failure_lines` done plainly, line by line and rule by rule."""
    items, cut_before, looked_at = reference_lines(log, baseline=baseline, model=model)
    return FailureLines(_rank(items, limit), cut_before, looked_at, looked_at)


# -- the finder ----------------------------------------------------------------------------


def failure_lines(
    log: LogText,
    *,
    limit: int = DEFAULT_LIMIT,
    baseline: Baseline | LogText | None = None,
    model: Model | None = None,
) -> FailureLines:
    """The `limit` lines most likely to explain the failure, best first, and how much of
    the log was looked at. `baseline`: a passing log of the same job and step (or its
    `Baseline`, computed once for many failed logs)."""
    if isinstance(baseline, LogText):
        baseline = Baseline.of(baseline)
    search = _Search(log, baseline, model or default_model())
    return search.top(limit)


def find_failure_lines(
    log: LogText,
    *,
    limit: int = DEFAULT_LIMIT,
    matches: Iterable[Match] = (),
    patterns: Mapping[int, RankedPattern] | None = None,
    baseline: Baseline | LogText | None = None,
    model: Model | None = None,
) -> list[Candidate]:
    """The `limit` lines most likely to explain the failure, in rank order (best first).

    With `matches` (engine matches) and `patterns` (their patterns by id), the
    best specific pattern match leads (DESIGN.md ranking; generic lines are
    never evidence) and the finder's candidates follow.
    """
    found = failure_lines(log, limit=limit + 1, baseline=baseline, model=model).candidates
    if patterns is not None:
        best = best_match([m for m in matches if not is_generic(m.text)], patterns.get)
        if best is not None:
            top = max((c.score for c in found), default=0.0) + 1.0
            lead = Candidate(best.line, best.text, round(top, 3), f"pattern {best.pattern_id}")
            found = [lead] + [c for c in found if c.line != best.line]
    return found[:limit]


def best_failure_line(log: LogText) -> Candidate | None:
    """The single most likely line (None when nothing in the log looks like a failure)."""
    found = find_failure_lines(log, limit=1)
    return found[0] if found else None


def candidate_lines(
    log: LogText, *, baseline: Baseline | None = None, model: Model | None = None
) -> list[ScoredLine]:
    """Every candidate with its features and score, in line order (for training)."""
    search = _Search(log, baseline, model or default_model(), budget=math.inf)
    scored = (search.scored(i) for i in range(search.count))
    return [item for item in scored if item is not None]


# Stages of a line in the search: what its bound is made of (the strings it holds and its
# place; its evidence; everything).
_PLACED, _EVIDENCED, _SCORED = 0, 1, 2


class _Search:
    """The lines of one log looked at, taken best bound first."""

    def __init__(
        self, log: LogText, baseline: Baseline | None, model: Model, budget: float | None = None
    ) -> None:
        """`budget`: lines judged at most (None: MAX_JUDGED; math.inf: every line)."""
        self.budget = MAX_JUDGED if budget is None else budget
        self.data = data = log.data
        self.baseline = baseline
        self.weights = model.weights
        self.total = max(1, log.line_count)
        numbers, starts, stops, masks, self.cut_before = _scope(data, self.total)
        self.looked_at = len(numbers)
        exits = _Exits([], [])
        keep = np.ones(len(numbers), dtype=bool)
        for i in np.flatnonzero(masks & _EXIT_BIT).tolist():
            ends = rules.closing(data[starts[i] : stops[i]].decode("utf-8", "replace"))
            if ends:
                exits.closings.append(int(numbers[i]))
            if ends == "exit":
                exits.exits.append(int(numbers[i]))
                keep[i] = False
        self.exits = exits
        self.numbers = numbers[keep]
        self.masks = masks[keep]
        self.starts: list[int] = starts[keep].tolist()
        self.stops: list[int] = stops[keep].tolist()
        self.count = len(self.starts)
        # Repeats (lines alike but for their digits) are grouped by a hash of their key:
        # a bytes object per line would cost more than the rest of the setup.
        hashes = _key_hashes(data, starts[keep], stops[keep])
        _, firsts, group, counts = np.unique(
            hashes, return_index=True, return_inverse=True, return_counts=True
        )
        group = group.reshape(-1)
        self.group: list[int] = group.tolist()  # the group of repeats of each line
        self.first: list[bool] = (firsts[group] == np.arange(self.count)).tolist()
        self.repeats: list[int] = counts[group].tolist()
        self._groups = group
        self._members: dict[int, list[int]] = {}
        self.frame_next = _frames_next(data, stops[keep])
        self.judged = 0  # lines decoded
        self._body: dict[int, tuple[rules.Body, str] | None] = {}
        self._kind: dict[int, int | None] = {}
        self._scored: dict[int, ScoredLine | None] = {}
        self._first_fit: dict[int, int | None] = {}  # kind -> first line it fits (so far)
        self._scanned: dict[int, int] = {}  # kind -> lines scanned for it
        self._place: dict[int, list[tuple[int, float]]] = {}
        self._group_of_key: dict[bytes, int] = {}  # of the lines scored

    # -- what a line is, computed once and on demand ---------------------------------------

    def line(self, i: int) -> int:
        return int(self.numbers[i])

    def place(self, i: int) -> list[tuple[int, float]]:
        place = self._place.get(i)
        if place is None:
            place = place_features(
                self.line(i), self.exits, self.total, self.first[i], self.repeats[i]
            )
            self._place[i] = place
        return place

    def members(self, group: int) -> list[int]:
        """The lines of a group of repeats, in order."""
        found = self._members.get(group)
        if found is None:
            found = self._members[group] = np.flatnonzero(self._groups == group).tolist()
        return found

    def body(self, i: int) -> tuple[rules.Body, str] | None:
        """The line's body and its lower case (None: no body)."""
        if i not in self._body:
            self.judged += 1
            text = self.data[self.starts[i] : self.stops[i]].decode("utf-8", "replace")
            body = rules.body_of(text)
            self._body[i] = None if body is None else (body, body.text.lower())
        return self._body[i]

    def kind(self, i: int) -> int | None:
        """The index of the line's evidence feature (None: no candidate)."""
        if i not in self._kind:
            found = self.body(i)
            kind = None
            if found is not None:
                body, lowered = found
                mask = int(self.masks[i])
                kind = next(
                    (
                        rules.INDEX[r.name]
                        for r in _rules(mask)
                        if r.fits_lowered(body.text, lowered)
                    ),
                    _LEVEL_EVIDENCE if body.level in rules.ERROR_LEVELS else None,
                )
            self._kind[i] = kind
        return self._kind[i]

    def fits(self, i: int, kind: int) -> bool:
        """Does the rule of evidence `kind` fit the line (the error level: is it one)?"""
        if not int(self.masks[i]) & _KIND_BIT[kind]:
            return False
        lowered = self.data[self.starts[i] : self.stops[i]].lower()
        if kind == _LEVEL_EVIDENCE:
            if not any(s in lowered for s in _KIND_LITERALS[kind]):
                return False
        elif not any(any(s in lowered for s in literals) for literals in _PARTS_OF[kind]):
            return False
        found = self.body(i)
        if found is None:
            return False
        body, body_lowered = found
        if kind == _LEVEL_EVIDENCE:
            return body.level in rules.ERROR_LEVELS
        return _RULE_OF[kind].fits_lowered(body.text, body_lowered)

    def first_of_kind(self, i: int, kind: int) -> bool:
        """Is no line before this one fitting the rule of its evidence? (Lines are scanned
        from the first, once per kind, as far as needed.)"""
        first = self._first_fit.get(kind)
        if first is None:
            scanned = self._scanned.get(kind, 0)
            while scanned < i and first is None and self.judged < self.budget:
                if self.fits(scanned, kind):
                    first = scanned
                scanned += 1
            self._scanned[kind] = scanned
            self._first_fit[kind] = first
            if first is None and scanned < i:
                return False  # out of budget before a fit or the line: not known to be first
        return first is None or first >= i

    def scored(self, i: int) -> ScoredLine | None:
        """The line with its exact score (None: no candidate)."""
        if i not in self._scored:
            self._scored[i] = self._score_line(i)
        return self._scored[i]

    def _score_line(self, i: int) -> ScoredLine | None:
        kind = self.kind(i)
        if kind is None:
            return None
        found = self.body(i)
        assert found is not None
        body, lowered = found
        text = self.data[self.starts[i] : self.stops[i]].decode("utf-8", "replace")
        fitting = [r for r in _rules(int(self.masks[i])) if r.fits_lowered(body.text, lowered)]
        judged = _judged(text, body, fitting)
        assert judged is not None
        frame_next = bool(self.frame_next[i])
        first_of_kind = self.first_of_kind(i, kind)
        in_baseline = self.baseline is not None and signature(text) in self.baseline.signatures
        context = _line_context(self.place(i), frame_next, first_of_kind, in_baseline)
        key = repeat_key(self.data[self.starts[i] : self.stops[i]])
        self._group_of_key[key] = self.group[i]
        item = ScoredLine(self.line(i), text, key, judged, context)
        item.score = _score(self.weights, judged.features, context)
        return item

    # -- bounds ---------------------------------------------------------------------------

    def placed_bounds(self) -> np.ndarray:
        """For every line, an upper bound of its score from the strings it holds and its
        place (the same sums as `place_features`, vectorised)."""
        w, index = self.weights, rules.INDEX
        line = self.numbers.astype(np.float64)
        unique, inverse = np.unique(self.masks, return_inverse=True)
        content = np.array([_content_bound(int(m), w) for m in unique])[inverse.reshape(-1)]
        total = float(self.total)
        place = w[index["position"]] * line / total
        place += w[index["near end"]] * (total - line < NEAR_END)
        exits = self.exits.exits
        if exits:
            place += w[index["after exit"]] * (line > exits[0])
            place += w[index["after last exit"]] * (line > exits[-1])
        closings = np.array([*self.exits.closings, total + 1], dtype=np.float64)
        after = np.searchsorted(closings, line, side="right")
        next_closing = closings[after]
        has_next = after < len(closings) - 1
        place += w[index["before exit"]] * (has_next & (next_closing - line <= NEAR_EXIT))
        place += w[index["exit distance"]] * np.log10(next_closing - line) / 5
        first = np.array(self.first, dtype=bool)
        repeats = np.array(self.repeats, dtype=np.float64)
        place += w[index["first occurrence"]] * first
        place += w[index["repeats"]] * np.where(repeats > 1, np.log2(repeats) / 10, 0.0)
        place += w[index["frame next"]] * self.frame_next
        context = max(0.0, w[index["first of its kind"]]) + max(0.0, w[index["in passing log"]])
        bounds: np.ndarray = content + place + context + _EPSILON
        return bounds

    def evidenced_bound(self, i: int) -> float:
        """An upper bound of the line's score once its evidence is known."""
        kind = self.kind(i)
        if kind is None:
            return -math.inf
        w, index = self.weights, rules.INDEX
        content = _evidence_bound(kind, len(_rules(int(self.masks[i]))), w)
        context = max(0.0, w[index["in passing log"]])
        if self.frame_next[i]:
            context += w[index["frame next"]]
        first = self._first_fit.get(kind)
        if first is None or first >= i:  # no earlier line of its kind known yet
            context += max(0.0, w[index["first of its kind"]])
        return _score(w, self.place(i)) + content + context + _EPSILON

    # -- the search -----------------------------------------------------------------------

    def top(self, limit: int) -> FailureLines:
        """The best `limit` candidates, as `_rank` would give them from all candidates."""
        bounds = self.placed_bounds()
        # Best first; among equal bounds the later line (as ties are broken in the ranking).
        order = np.lexsort((-self.numbers, -bounds)).tolist()
        pending: list[tuple[float, int, int, int]] = []  # (-bound, -line, index, stage)
        walk = _Walk(limit)
        taken: set[int] = set()  # groups of repeats whose best line is out
        unjudged = 0
        position = 0
        while len(walk.found) < limit:
            if position < len(order) and bounds[order[position]] > -math.inf:
                i = order[position]
                head = (-float(bounds[i]), -self.line(i), i, _PLACED)
                if not pending or head < pending[0]:
                    position += 1
                    entry = head
                else:
                    entry = heapq.heappop(pending)
            elif pending:
                entry = heapq.heappop(pending)
            else:
                break
            bound, _line, i, stage = entry
            if -bound <= MIN_SCORE:
                break  # nothing left says anything
            if self.group[i] in taken:
                continue  # its group's best line is already out
            if stage == _PLACED:
                if self.judged >= self.budget and i not in self._kind:
                    unjudged += 1  # out of budget: only lines judged already go on
                    continue
                self._push(pending, i, _EVIDENCED, self.evidenced_bound(i))
                continue
            if stage == _EVIDENCED:
                item = self.scored(i)
                if item is not None:
                    self._push(pending, i, _SCORED, item.score)
                continue
            # Exact, and no line left can score higher: the best of its group.
            taken.add(self.group[i])
            item = self.scored(i)
            assert item is not None
            if walk.add(item, self.ends):
                break
        return FailureLines(walk.found, self.cut_before, self.looked_at, self.judged, unjudged)

    def _push(
        self, pending: list[tuple[float, int, int, int]], i: int, stage: int, bound: float
    ) -> None:
        if bound > -math.inf:
            heapq.heappush(pending, (-bound, -self.line(i), i, stage))

    def ends(self, key: bytes) -> tuple[ScoredLine, ScoredLine]:
        """The first and the last candidate of a group of repeats."""
        members = self.members(self._group_of_key[key])
        first = next(item for i in members if (item := self.scored(i)) is not None)
        last = next(item for i in reversed(members) if (item := self.scored(i)) is not None)
        return first, last


# -- the prefilter -------------------------------------------------------------------------

_LEVEL_LITERALS = frozenset(level.lower() for level in rules.ERROR_LEVELS)
_EVIDENCE_LITERALS = frozenset(
    s for rule in rules.EVIDENCE for part in rule.parts for s in part.literals
)
# Every string whose presence lets a line be a candidate or an exit, in lower case.
PREFILTER: tuple[str, ...] = tuple(
    sorted(_EVIDENCE_LITERALS | _LEVEL_LITERALS | rules.EXIT_LITERALS)
)
_PREFILTER_BYTES = tuple(s.encode() for s in PREFILTER)
# The one-pass search looks for the fewest strings: one holding another is found with it.
# The strings of exits are looked for as they are (few lines are exits; many hold "exit").
_CANDIDATE_STRINGS = _EVIDENCE_LITERALS | _LEVEL_LITERALS
_SEARCHED: tuple[str, ...] = tuple(
    sorted(
        {s for s in _CANDIDATE_STRINGS if not any(o != s and o in s for o in _CANDIDATE_STRINGS)}
        | rules.EXIT_LITERALS
    )
)

# What a line holding a searched string may be: a bit per evidence rule, the error level,
# an exit.
_RULE_BIT = {rule.name: 1 << n for n, rule in enumerate(rules.EVIDENCE)}
_LEVEL_BIT = 1 << len(rules.EVIDENCE)
_EXIT_BIT = 1 << (len(rules.EVIDENCE) + 1)
_KIND_BIT = {rules.INDEX[name]: bit for name, bit in _RULE_BIT.items()} | {
    _LEVEL_EVIDENCE: _LEVEL_BIT
}
_RULE_OF = {rules.INDEX[rule.name]: rule for rule in rules.EVIDENCE}
_PARTS_OF = {  # the strings of each part of each rule, one of which its matches hold
    rules.INDEX[rule.name]: [tuple(s.encode() for s in p.literals) for p in rule.parts]
    for rule in rules.EVIDENCE
}
# The strings one of which a line holds (in lower case) when a rule may fit it.
_KIND_LITERALS: dict[int, tuple[bytes, ...]] = {
    rules.INDEX[rule.name]: tuple({s.encode() for part in rule.parts for s in part.literals})
    for rule in rules.EVIDENCE
} | {_LEVEL_EVIDENCE: tuple(s.encode() for s in _LEVEL_LITERALS)}


def _mask_of(searched: str) -> int:
    """The rules a line may fit when it holds `searched` (any string holding it counts)."""
    mask = 0
    for rule in rules.EVIDENCE:
        if any(searched in s for part in rule.parts for s in part.literals):
            mask |= _RULE_BIT[rule.name]
    if any(searched in s for s in _LEVEL_LITERALS):
        mask |= _LEVEL_BIT
    if searched in rules.EXIT_LITERALS:
        mask |= _EXIT_BIT
    return mask


_MASKS = np.array([_mask_of(s) for s in _SEARCHED], dtype=np.int64)


@cache
def _rules(mask: int) -> tuple[rules.Rule, ...]:
    """The evidence rules a mask allows, in order."""
    return tuple(rule for rule in rules.EVIDENCE if mask & _RULE_BIT[rule.name])


@cache
def _content_bound(mask: int, weights: tuple[float, ...]) -> float:
    """The most a line's content can add when it holds strings giving `mask`."""
    kinds = [rules.INDEX[rule.name] for rule in _rules(mask)]
    if mask & _LEVEL_BIT:
        kinds.append(_LEVEL_EVIDENCE)
    if not kinds:
        return -math.inf
    return max(weights[kind] for kind in kinds) + _content_rest(mask, weights)


@cache
def _content_rest(mask: int, weights: tuple[float, ...]) -> float:
    """The most the rest of a line's content (besides its evidence) can add."""
    return _evidence_bound(_LEVEL_EVIDENCE, len(_rules(mask)), weights) - weights[_LEVEL_EVIDENCE]


@cache
def _evidence_bound(kind: int, fitting: int, weights: tuple[float, ...]) -> float:
    """The most a line's content can add with evidence `kind` and `fitting` rules fitting."""
    more = max(0.0, weights[rules.INDEX["more evidence"]]) * max(0, fitting - 1)
    return weights[kind] + more + _rest_bound(weights)


@cache
def _rest_bound(weights: tuple[float, ...]) -> float:
    """The most modifiers and shape can add."""
    names = [m.name for m in rules.MODIFIERS] + list(rules.SHAPE_FEATURES)
    return sum(max(0.0, weights[rules.INDEX[name]]) for name in names)


def _key_hashes(data: bytes, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each line's `repeat_key` (in C; else Python's hash of the key)."""
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    stops = np.ascontiguousarray(stops, dtype=np.int64)
    if _cstrip is not None:
        return np.frombuffer(_cstrip.key_hashes(data, starts.tobytes(), stops.tobytes()), np.uint64)
    keys = (repeat_key(data[a:b]) for a, b in zip(starts.tolist(), stops.tolist(), strict=True))
    return np.array([hash(key) for key in keys], dtype=np.int64)


def _frames_next(data: bytes, stops: np.ndarray) -> np.ndarray:
    """For lines ending at `stops`: does a stack frame line follow? (Only lines followed by
    an indented line are matched against the frame regex.)"""
    found = np.zeros(len(stops), dtype=bool)
    after = stops + 1
    inside = after < len(data)
    following = np.zeros(len(stops), dtype=np.uint8)
    following[inside] = np.frombuffer(data, dtype=np.uint8)[after[inside]]
    for i in np.flatnonzero((following == 32) | (following == 9)).tolist():
        found[i] = rules.FRAME_NEXT.match(data, int(after[i])) is not None
    return found


Scope = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]


def _scope(data: bytes, total: int) -> Scope:
    """The last MAX_SCORED lines holding a prefilter string, in order, as arrays of line
    numbers, starts, ends and masks; and the first of them when more lines held one."""
    parts = []
    found = 0
    for part in _holding_blocks(data, total):
        parts.append(part)
        found += len(part[0])
        if found > MAX_SCORED:
            break
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty, 0
    numbers, starts, stops, masks = (
        np.concatenate([part[k] for part in reversed(parts)])[-MAX_SCORED:] for k in range(4)
    )
    return numbers, starts, stops, masks, (int(numbers[0]) if found > MAX_SCORED else 0)


def _holding_blocks(
    data: bytes, total: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Line numbers, starts, ends and masks of the lines holding a prefilter string, a
    block at a time from the end of the log (each block's lines in order)."""
    end = len(data)
    last_line = total  # the number of the block's last line
    while end > 0:
        base = data.rfind(b"\n", 0, end - BLOCK) + 1 if end > BLOCK else 0
        block = data[base:end]
        newlines = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
        first_line = last_line - len(newlines) + 1
        index, starts, stops, masks = _block_lines(block, newlines)
        yield first_line + index, base + starts, base + stops, masks
        end = base
        last_line = first_line - 1


def _holding_lines(data: bytes, total: int) -> Iterator[tuple[int, int, int, int]]:
    """(line, start, end, mask) of every line holding a prefilter string, from the end."""
    for numbers, starts, stops, masks in _holding_blocks(data, total):
        yield from reversed(
            list(
                zip(numbers.tolist(), starts.tolist(), stops.tolist(), masks.tolist(), strict=True)
            )
        )


def _block_lines(
    block: bytes, newlines: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Indexes, starts, ends and masks of the lines of `block` (which ends with a newline,
    at `newlines`) that hold a prefilter string, in order."""
    if _DATABASE is not None:
        ends, ids = _hyperscan_hits(block)
        table = _GROUP_MASKS
    else:
        ends, ids = _find_hits(block)
        table = _MASKS
    lines = np.searchsorted(newlines, np.array(ends, dtype=np.int64) - 1)
    masks = np.zeros(len(newlines), dtype=np.int64)
    np.bitwise_or.at(masks, lines, table[np.array(ids, dtype=np.int64)])
    holding = np.flatnonzero(masks)
    starts = np.concatenate(([0], newlines[:-1] + 1))[holding]
    return holding, starts, newlines[holding], masks[holding]


def _mask_of_line(line: bytes) -> int:
    """What the one-pass search makes of a single line: the rules it may fit."""
    block = line + b"\n"
    _index, _starts, _stops, masks = _block_lines(block, np.array([len(line)]))
    return int(masks[0]) if len(masks) else 0


def _hyperscan_hits(block: bytes) -> tuple[list[int], list[int]]:
    """(end, group) of the lines holding a string of each group: one report per line and
    group, at the line's newline."""
    ends: list[int] = []
    ids: list[int] = []

    def on_match(string_id: int, _start: int, end: int, _flags: int, _ctx: Any) -> None:
        ends.append(end)
        ids.append(string_id)

    with _SCAN_LOCK:
        _DATABASE.scan(block, match_event_handler=on_match)
    return ends, ids


def _find_hits(block: bytes) -> tuple[list[int], list[int]]:
    """The same with `bytes.find` over the lower-cased block (without Hyperscan)."""
    lowered = block.lower()
    find = lowered.find
    ends: list[int] = []
    ids: list[int] = []
    for string_id, string in enumerate(_SEARCHED_BYTES):
        pos = find(string)
        while pos >= 0:
            ends.append(pos + len(string))
            ids.append(string_id)
            next_line = find(b"\n", pos)
            if next_line < 0:
                break
            pos = find(string, next_line + 1)
    return ends, ids


_SEARCHED_BYTES = tuple(s.encode() for s in _SEARCHED)
_SCAN_LOCK = threading.Lock()  # a Hyperscan database shares one scratch space


# Strings that give the same mask are one Hyperscan expression, matched to the end of the
# line: Hyperscan reports a match once per end, so a line holding several strings of a
# group ("error ... error") costs one report, not one per string.
_GROUPED: dict[int, list[bytes]] = {}
for _string, _mask in zip(_SEARCHED_BYTES, _MASKS.tolist(), strict=True):
    _GROUPED.setdefault(_mask, []).append(_string)
_GROUP_MASKS = np.array(list(_GROUPED), dtype=np.int64)


def _database() -> Any:
    if hyperscan is None:  # pragma: no cover - depends on the platform
        return None
    expressions = [
        b"(?:" + b"|".join(re.escape(s) for s in strings) + b")[^\n]*\n"
        for strings in _GROUPED.values()
    ]

    def compiled() -> Any:
        database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        database.compile(
            expressions=expressions,
            ids=list(range(len(expressions))),
            elements=len(expressions),
            flags=[hyperscan.HS_FLAG_CASELESS] * len(expressions),
        )
        return database

    # Compiling takes longer than finding the lines of a log of a few MB: kept on disk.
    return diskcache.cached(
        "finder-hyperscan",
        diskcache.key_of(expressions, getattr(hyperscan, "__version__", "")),
        compiled,
        hyperscan.dumpb,
        diskcache.load_hyperscan,
    )


_DATABASE = _database()

__all__ = [
    "Baseline",
    "Candidate",
    "FailureLines",
    "Model",
    "best_failure_line",
    "candidate_lines",
    "default_model",
    "failure_lines",
    "find_failure_lines",
    "reference_failure_lines",
    "score_line",
]
