"""The regex engines compared: `re` (backtracking), RE2 (what runs), the time-limited `regex` module.

    python bench/regex_engines.py [--re-seconds 10] [--runs 3]

1. The issue's hostile expressions on one line each: `re` in a child process
   stopped after --re-seconds, the engine on RE2, and the engine with every
   regex on the `regex` module (limit 2 s of CPU).
2. The shared corpus scanned with the default library and the Dr. CI dump:
   RE2 against the `regex` module for every regex (same prefilter), MB/s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CORPUS, SEED_PATTERNS, mb
from citriage.scanner import patterns as pattern_files
from citriage.scanner.engine import PatternSet
from citriage.scanner.logtext import LogText, read_log
from citriage.scanner.patterns import Pattern

LINE = 16 * 1024
HOSTILE = [
    (r"(a|aa)+$", "a" * (LINE - 1) + "!"),
    (r"(=|==)+$", "=" * 40 + " FAILURES"),
    (r"a*a*a*a*a*a*b", "a" * LINE),
    (r".*.*.*.*Z", "x" * LINE),
    (r"[\w./:-]*" * 5 + "=", "src/a.c:1-" * (LINE // 10)),
    (r"(a+)+$", "a" * (LINE - 1) + "!"),
    (r"(.*a){20}", "a" * 19 + "b" * (LINE - 19)),
]


def re_seconds(expression: str, line: str, limit: float) -> str:
    code = "import re, sys; re.search(sys.argv[1], sys.argv[2])"
    began = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-c", code, expression, line], timeout=limit, check=True)
    except subprocess.TimeoutExpired:
        return f"> {limit:g} s"
    return f"{time.perf_counter() - began:.3f} s"


def engine_seconds(expression: str, line: str, linear: bool) -> str:
    pattern_set = PatternSet([Pattern(1, expression, is_regex=True)], linear=linear)
    began = time.thread_time()
    report = pattern_set.run(LogText.from_text(line))
    cpu = time.thread_time() - began
    return f"{cpu:.3f} s" + (" (stopped, reported)" if report.timed_out else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--re-seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    print("hostile expressions, one line each (CPU time of the scan; re: wall time of a child)")
    print(f"  {'expression':<48} {'re':>10} {'RE2':>10} {'regex module, 2 s limit':>32}")
    for expression, line in HOSTILE:
        print(
            f"  {expression:<48} {re_seconds(expression, line, args.re_seconds):>10} "
            f"{engine_seconds(expression, line, True):>10} "
            f"{engine_seconds(expression, line, False):>32}",
            flush=True,
        )

    logs = [read_log(p) for p in sorted((CORPUS / "logs").rglob("*")) if p.is_file()]
    size = sum(len(log.data) for log in logs)
    libraries = {
        "default library": pattern_files.default_library(),
        "Dr. CI dump": pattern_files.load(SEED_PATTERNS),
    }
    print(
        f"\nshared corpus, {len(logs)} logs, {mb(size):.0f} MB stripped (median of {args.runs} runs)"
    )
    for name, library in libraries.items():
        rates = {}
        for linear in (True, False):
            pattern_set = PatternSet(library, linear=linear, time_limit=600)
            times = []
            for _ in range(args.runs):
                began = time.perf_counter()
                for log in logs:
                    pattern_set.run(log)
                times.append(time.perf_counter() - began)
            rates[linear] = [mb(size) / t for t in times]
            label = "RE2" if linear else "regex module"
            low, mid, high = (
                min(rates[linear]),
                statistics.median(rates[linear]),
                max(rates[linear]),
            )
            print(f"  {name:<16} {label:<13} {mid:7.1f} MB/s ({low:.1f}-{high:.1f})", flush=True)
        ratio = statistics.median(rates[True]) / statistics.median(rates[False])
        print(f"  {name:<16} RE2 / regex module: {ratio:.2f}x")


if __name__ == "__main__":
    main()
