"""How often the failure-line finder points at the labeled failure line.

Over the labeled real logs of the shared corpus (`../shared/corpus/logs`):

- LogChunks (Travis): `*.labels.json` failure chunks; a hit is a line inside a chunk.
- PyTorch log-classifier fixtures: the line marked `#=MATCH=#` (the marker and
  the `‹ ›` capture brackets are removed before scanning).
- Treeherder: the expected error lines of `*.logview.json`.
- cidiff: the `E` line ranges of `groundtruth`.

For each log we take the top-1 and top-5 candidate lines and count a hit when
one lies in the labeled lines. Three configurations: the finder alone, the
finder with the default pattern library's best match first, and the same with
the original Dr. CI pattern set; one baseline: the last line containing "error".

    python -m bench.accuracy [--details]     # the accuracy table
    python -m bench.accuracy --speed 100     # the finder's speed on a generated 100 MB log
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from citriage.scanner import failure_lines
from citriage.scanner import patterns as pattern_files
from citriage.scanner.engine import PatternSet
from citriage.scanner.logtext import LogText, read_log

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
LOGS = CORPUS / "logs"
DRCI_PATTERNS = CORPUS / "patterns" / "drci-original" / "patterns-dump.json"

SOURCES = ("LogChunks", "pytorch", "treeherder", "cidiff")


@dataclass
class LabeledLog:
    source: str
    name: str
    log: LogText
    expected: frozenset[int]  # 1-based line numbers of the stripped log that explain the failure


# -- loading the labels -----------------------------------------------------------


def _logchunks(root: Path) -> Iterator[LabeledLog]:
    for labels_path in sorted(root.glob("travis/logchunks/**/*.labels.json")):
        log_path = labels_path.with_name(labels_path.name.replace(".labels.json", ".log"))
        if not log_path.is_file():
            continue
        log = read_log(log_path)
        lines = log.lines()
        expected: set[int] = set()
        for chunk in json.loads(labels_path.read_text())["failure_chunks"]:
            expected |= _locate_chunk(lines, chunk["chunk"])
        if expected:
            yield LabeledLog(
                "LogChunks", str(labels_path.relative_to(root)), log, frozenset(expected)
            )


def _locate_chunk(lines: list[str], chunk: str) -> set[int]:
    """Line numbers of the log covered by a chunk of its text (stripped the same way).

    A chunk may start or end in the middle of a line, so its first and last
    lines are looked for as substrings; its first occurrence whose last line
    follows within the chunk's length wins.
    """
    wanted = [line.strip() for line in read_log(chunk.encode()).lines() if line.strip()]
    if not wanted:
        return set()
    first, last = wanted[0], wanted[-1]
    span = len(chunk.splitlines()) + 5
    for start, text in enumerate(lines):
        if first not in text:
            continue
        for end in range(start, min(len(lines), start + span)):
            if last in lines[end]:
                return set(range(start + 1, end + 2))
    return set()


_MARK = "#=MATCH=# "


def _pytorch(root: Path) -> Iterator[LabeledLog]:
    for path in sorted(root.glob("pytorch-gha/log-classifier-fixtures/*.txt")):
        raw = path.read_text(encoding="utf-8", errors="replace").split("\n")
        if raw and raw[0].startswith("#=SOURCE=#"):
            raw = raw[1:]
        expected = {i + 1 for i, line in enumerate(raw) if line.startswith(_MARK)}
        if not expected:
            continue  # a fixture recording that nothing classifies
        clean = [line.removeprefix(_MARK).replace("‹", "").replace("›", "") for line in raw]
        log = read_log("\n".join(clean).encode())
        yield LabeledLog("pytorch", path.name, log, frozenset(expected))


def _treeherder(root: Path) -> Iterator[LabeledLog]:
    for view in sorted(root.glob("treeherder/*.logview.json")):
        log_path = view.with_name(view.name.replace(".logview.json", ".log.gz"))
        if not log_path.is_file():
            continue
        log = read_log(gzip.decompress(log_path.read_bytes()))
        lines = log.lines()
        expected: set[int] = set()
        for error in json.loads(view.read_text())["errors"]:
            number, text = error["linenumber"], error["line"].strip()
            # Treeherder counts from 0 and quotes the line without the `[task ...]`
            # prefix; when its number is off, the first line quoting the text is it.
            at = [n for n in (number + 1, number) if 1 <= n <= len(lines)]
            found = next((n for n in at if lines[n - 1].strip().endswith(text)), None)
            if found is None:
                found = next(
                    (n for n, line in enumerate(lines, 1) if line.strip().endswith(text)), None
                )
            if found is not None:
                expected.add(found)
        if expected:
            yield LabeledLog("treeherder", view.name, log, frozenset(expected))


def _cidiff(root: Path) -> Iterator[LabeledLog]:
    for truth in sorted(root.glob("*/cidiff/*/groundtruth")):
        log_path = truth.with_name("fail.log")
        if not log_path.is_file():
            continue
        expected: set[int] = set()
        for row in truth.read_text().splitlines()[1:]:
            m = re.match(r"E\s+(\d+)(?:-(\d+))?", row.strip())
            if m:
                low = int(m.group(1))
                expected |= set(range(low, int(m.group(2) or low) + 1))
        log = read_log(log_path)
        expected = _map_raw_lines(log_path.read_bytes(), log.lines(), expected)
        if expected:
            name = str(truth.parent.relative_to(root))
            yield LabeledLog("cidiff", name, log, frozenset(expected))


def _map_raw_lines(raw: bytes, lines: list[str], numbers: set[int]) -> set[int]:
    """cidiff counts lines split at any of \\n, \\r\\n or a lone \\r; the stripped log
    treats a lone carriage return as a terminal does (the line is rewritten). Map
    each labeled raw line to the stripped line that shows its text."""
    raw_lines = raw.decode("utf-8", "replace").splitlines()
    if len(raw_lines) == len(lines):
        return numbers
    mapped = set()
    for number in numbers:
        if not 1 <= number <= len(raw_lines):
            continue
        text = read_log(raw_lines[number - 1].encode()).text.strip()
        if not text:
            continue
        guess = number * len(lines) / len(raw_lines)
        holders = [n for n, line in enumerate(lines, 1) if text in line]
        if holders:
            mapped.add(min(holders, key=lambda n: abs(n - guess)))
    return mapped


def labeled_logs(root: Path = LOGS) -> list[LabeledLog]:
    """Every labeled log of the corpus, in a stable order."""
    return [*_logchunks(root), *_pytorch(root), *_treeherder(root), *_cidiff(root)]


# -- ranking methods ---------------------------------------------------------------

Ranker = Callable[[LogText], list[int]]


def finder(pattern_set: PatternSet | None = None) -> Ranker:
    """The finder's top lines (the pattern library's best specific match first, if given)."""
    by_id = {p.id: p for p in pattern_set.patterns} if pattern_set else {}

    def rank(log: LogText) -> list[int]:
        matches = pattern_set.scan(log) if pattern_set else []
        found = failure_lines.find_failure_lines(log, matches=matches, patterns=by_id)
        return [c.line for c in found]

    return rank


def last_error_line(log: LogText) -> list[int]:
    """Baseline: the last line containing "error" (any case), then the ones before it."""
    hits = [i for i, line in enumerate(log.lines(), start=1) if "error" in line.lower()]
    return hits[::-1][:5]


@dataclass
class Score:
    logs: int = 0
    top1: int = 0
    top5: int = 0

    def add(self, ranked: list[int], expected: frozenset[int]) -> None:
        self.logs += 1
        self.top1 += bool(ranked[:1] and ranked[0] in expected)
        self.top5 += any(line in expected for line in ranked[:5])

    def pct(self, hits: int) -> float:
        return 100.0 * hits / self.logs if self.logs else 0.0


GROUPS: dict[str, tuple[str, ...]] = {
    **{source: (source,) for source in SOURCES},
    "overall": SOURCES,
    "LogChunks+cidiff": ("LogChunks", "cidiff"),
}


def evaluate(
    logs: list[LabeledLog], rank: Ranker, details: list[str] | None = None
) -> dict[str, Score]:
    scores = {group: Score() for group in GROUPS}
    for item in logs:
        ranked = rank(item.log)
        for group, members in GROUPS.items():
            if item.source in members:
                scores[group].add(ranked, item.expected)
        if details is not None and not (ranked and ranked[0] in item.expected):
            got = ranked[0] if ranked else None
            text = item.log.line(got)[:150] if got else ""
            details.append(
                f"{item.source:10} {item.name}: got {got} {text!r}; "
                f"want {sorted(item.expected)[:3]}... {item.log.line(min(item.expected))[:150]!r}"
            )
    return scores


def methods() -> dict[str, Ranker]:
    default = PatternSet(pattern_files.default_library())
    drci = PatternSet(pattern_files.load(DRCI_PATTERNS))
    return {
        "finder, no patterns": finder(None),
        "finder + default library": finder(default),
        "finder + Dr. CI set": finder(drci),
        'baseline: last line with "error"': last_error_line,
    }


def table(results: dict[str, dict[str, Score]]) -> str:
    header = f"{'method':34} {'group':17} {'logs':>4} {'top-1':>7} {'top-5':>7}"
    rows = [header, "-" * len(header)]
    for method, scores in results.items():
        for group, score in scores.items():
            rows.append(
                f"{method:34} {group:17} {score.logs:>4} "
                f"{score.pct(score.top1):>6.1f}% {score.pct(score.top5):>6.1f}%"
            )
        rows.append("")
    return "\n".join(rows)


def speed(size_mb: int) -> None:
    """The finder on one large generated log, next to a scan with the default library and
    a plain read of the same bytes (all measured here, in this run)."""
    from citriage.demo.logs import generate_corpus

    log = read_log(generate_corpus(size_mb * 1_000_000))
    size = len(log.data) / 1e6
    library = PatternSet(pattern_files.default_library())

    def timed(fn: Callable[[], object]) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    baseline = timed(lambda: log.data.count(b"\n"))
    scan = timed(lambda: library.scan(log))
    find = timed(lambda: failure_lines.find_failure_lines(log))
    print(f"{size:.0f} MB stripped log, {log.line_count} lines")
    print(f"  count lines (baseline)       {baseline:7.2f} s")
    print(f"  scan, default library        {scan:7.2f} s  {size / scan:6.1f} MB/s")
    print(
        f"  failure lines                {find:7.2f} s  {size / find:6.1f} MB/s  "
        f"({find / scan:.2f}x the library scan)"
    )
    # The worst case: every line looks like an error.
    dense = LogText(
        data=b"".join(
            b"src/module_%d.c:12:3: error: unknown type name foo_%d\n" % (i, i)
            for i in range(int(size * 1e6) // 48)
        )
    )
    worst = timed(lambda: failure_lines.find_failure_lines(dense))
    print(f"  failure lines, every line an error ({len(dense.data) / 1e6:.0f} MB)  {worst:7.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--details", action="store_true", help="list the top-1 misses")
    parser.add_argument(
        "--speed", type=int, metavar="MB", help="time the finder on a generated log of MB"
    )
    args = parser.parse_args()
    if args.speed:
        speed(args.speed)
        return
    if not LOGS.is_dir():
        sys.exit(f"the shared corpus is not at {CORPUS}")
    started = time.perf_counter()
    logs = labeled_logs()
    results: dict[str, dict[str, Score]] = {}
    misses: list[str] = []
    for name, rank in methods().items():
        results[name] = evaluate(
            logs, rank, misses if args.details and name.startswith("finder, no") else None
        )
    print(table(results))
    print(f"{len(logs)} labeled logs, {time.perf_counter() - started:.1f} s")
    if misses:
        print("\ntop-1 misses of the finder without patterns:")
        print("\n".join(misses))


if __name__ == "__main__":
    main()
