"""Shared benchmark helpers: corpus location, generated patterns, timing."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from pathlib import Path

from citriage.scanner.patterns import Pattern

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
SEED_PATTERNS = CORPUS / "patterns" / "drci-original" / "patterns-dump.json"

_COMPONENTS = [
    "Storage",
    "Network",
    "Scheduler",
    "Planner",
    "Codec",
    "Index",
    "Replica",
    "Session",
    "Tensor",
    "Kernel",
    "Graph",
    "Allocator",
    "Stream",
    "Bucket",
    "Shard",
    "Lease",
    "Token",
]
_VERBS = ["failed to", "could not", "unable to", "refused to", "timed out trying to"]
_OBJECTS = [
    "acquire lease",
    "open segment",
    "flush journal",
    "resolve peer",
    "allocate buffer",
    "compile kernel",
    "load checkpoint",
    "verify signature",
    "decode frame",
    "join cluster",
    "rotate key",
    "mount volume",
    "bind port",
    "sync replica",
    "spawn worker",
]


def generated_patterns(count: int, *, seed: int = 11, first_id: int = 10_000) -> list[Pattern]:
    """`count` realistic patterns: error messages of imaginary components.

    About 60% literals and 40% regexes with a literal core and captures,
    as in real pattern libraries.
    """
    rng = random.Random(seed)
    patterns = []
    for i in range(count):
        component = rng.choice(_COMPONENTS)
        verb, obj = rng.choice(_VERBS), rng.choice(_OBJECTS)
        code = rng.randint(100, 9999)
        if rng.random() < 0.6:
            expression = f"{component}Error[E{code}]: {verb} {obj}"
            is_regex = False
        else:
            expression = (
                rf"{component}Error\[E{code}\]: {verb} {obj} (?:for|at) ([\w./-]+) "
                rf"after (\d+) (?:attempts|ms)"
            )
            is_regex = True
        patterns.append(
            Pattern(
                first_id + i,
                expression,
                is_regex=is_regex,
                specificity=rng.randint(1, 6),
                tags=(rng.choice(["flaky", "infra", "runtime"]),),
            )
        )
    return patterns


def rust_regex(pattern: Pattern) -> str:
    """The pattern in ripgrep's syntax (Rust regex): literals escaped for it."""
    if pattern.is_regex:
        return pattern.expression
    return re.sub(r"([\\.+*?()|\[\]{}^$#&~-])", r"\\\1", pattern.expression)


def best_of(runs: int, fn: Callable[[], object]) -> float:
    """Fastest wall time of `runs` calls, in seconds."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def mb(n: float) -> float:
    return n / 1_000_000
