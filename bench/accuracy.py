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

    python -m bench.accuracy [--details] [--no-cv]   # the accuracy tables
    python -m bench.accuracy --speed 100 [--runs 5]  # the finder's speed on 100 MB of real logs

The shipped weights were trained on these logs (`bench/train_failure_lines.py`), so
the in-sample figures flatter them; the cross-validated ones rank each log with
weights trained without its project (or its source): the honest estimate.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    passing: LogText | None = None  # a passing log of the same job (cidiff's pass.log)

    @property
    def project(self) -> str:
        """The project the log comes from (cross-validation keeps a project in one fold)."""
        if self.source == "LogChunks":
            return self.name.split("/")[-2]  # travis/logchunks/C/vim@vim/1.labels.json
        if self.source == "cidiff":
            return re.sub(r"_\d+$", "", self.name.rsplit("/", 1)[-1])  # jenkins/cidiff/astor_400
        return {"pytorch": "pytorch/pytorch", "treeherder": "mozilla"}[self.source]


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
        passing = truth.with_name("pass.log")
        if expected:
            name = str(truth.parent.relative_to(root))
            baseline = read_log(passing) if passing.is_file() else None
            yield LabeledLog("cidiff", name, log, frozenset(expected), baseline)


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

Ranker = Callable[[LabeledLog], list[int]]


def finder(
    pattern_set: PatternSet | None = None,
    *,
    baseline: bool = False,
    model_of: Callable[[LabeledLog], failure_lines.Model] | None = None,
) -> Ranker:
    """The finder's top lines (the pattern library's best specific match first, if given;
    with the passing log as baseline where there is one, if `baseline`; with the model
    `model_of` gives for the log, else the shipped one)."""
    by_id = {p.id: p for p in pattern_set.patterns} if pattern_set else {}

    def rank(item: LabeledLog) -> list[int]:
        matches = pattern_set.scan(item.log) if pattern_set else []
        found = failure_lines.find_failure_lines(
            item.log,
            matches=matches,
            patterns=by_id,
            baseline=item.passing if baseline else None,
            model=model_of(item) if model_of else None,
        )
        return [c.line for c in found]

    return rank


def last_error_line(item: LabeledLog) -> list[int]:
    """Baseline: the last line containing "error" (any case), then the ones before it."""
    hits = [i for i, line in enumerate(item.log.lines(), start=1) if "error" in line.lower()]
    return hits[::-1][:5]


@dataclass
class Score:
    logs: int = 0
    top1: int = 0
    top5: int = 0
    # per log, in order: right at the top, right in the top 5 (for intervals and pairing)
    hits: list[tuple[bool, bool]] = field(default_factory=list)

    def add(self, ranked: list[int], expected: frozenset[int]) -> None:
        first = bool(ranked[:1] and ranked[0] in expected)
        five = any(line in expected for line in ranked[:5])
        self.logs += 1
        self.top1 += first
        self.top5 += five
        self.hits.append((first, five))

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
        ranked = rank(item)
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


def cross_validated(
    logs: list[LabeledLog],
    by: str,
    baseline: bool = False,
    penalty: float | None = None,
    data: list[Any] | None = None,
) -> Ranker:
    """The finder with, for each log, the model the training procedure gives without the
    log's fold (folds of whole projects or sources): its penalty chosen by inner folds too,
    or `penalty`. `data`: the logs judged once already (`train_failure_lines.examples`)."""
    from bench import train_failure_lines as training

    data = data if data is not None else training.examples(logs)
    if penalty is None:
        models = training.cross_validated_models(data, by, baseline=baseline)
    else:
        models = training.cross_validated_models(
            data, by, choose=False, baseline=baseline, penalty=penalty
        )
    by_log = {id(example.item): models[id(example)] for example in data}
    return finder(None, baseline=baseline, model_of=lambda item: by_log[id(item)])


def interval(values: list[float], rounds: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap interval of the mean of `values` (logs resampled with replacement;
    a fixed seed: the same figures every run)."""
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(rounds))
    return means[int(0.025 * rounds)], means[int(0.975 * rounds) - 1]


def paired(without: Score, with_: Score) -> str:
    """Top-1 with and without the passing log, each with its 95% interval, and the paired
    difference: logs gained and lost at the top, and the interval of the difference."""
    plain = [float(first) for first, _ in without.hits]
    based = [float(first) for first, _ in with_.hits]
    gained = sum(b > a for a, b in zip(plain, based, strict=True))
    lost = sum(b < a for a, b in zip(plain, based, strict=True))
    low, high = interval([b - a for a, b in zip(plain, based, strict=True)])
    parts = []
    for name, values in (("without", plain), ("with", based)):
        lo, hi = interval(values)
        parts.append(
            f"{name} {100 * sum(values) / len(values):.1f}% ({100 * lo:.1f}-{100 * hi:.1f})"
        )
    return (
        f"top-1 {parts[0]}, {parts[1]}; with the passing log {gained} log(s) gained, "
        f"{lost} lost at the top: difference {100 * (sum(based) - sum(plain)) / len(plain):+.1f} "
        f"points ({100 * low:+.1f} to {100 * high:+.1f}; 95% bootstrap intervals)"
    )


def table(results: dict[str, dict[str, Score]], groups: tuple[str, ...] = tuple(GROUPS)) -> str:
    header = f"{'method':44} {'group':17} {'logs':>4} {'top-1':>7} {'top-5':>7}"
    rows = [header, "-" * len(header)]
    for method, scores in results.items():
        for group in groups:
            score = scores[group]
            rows.append(
                f"{method:44} {group:17} {score.logs:>4} "
                f"{score.pct(score.top1):>6.1f}% {score.pct(score.top5):>6.1f}%"
            )
        rows.append("")
    return "\n".join(rows)


def real_mix(size_mb: float) -> LogText:
    """The logs of the shared corpus, stripped, concatenated (again and again) to `size_mb`:
    Travis, Jenkins, Treeherder, GitHub Actions, terminal recordings, as they are."""
    paths = sorted(
        p
        for p in LOGS.rglob("*")
        if p.is_file() and not p.name.endswith((".json", ".md", ".snap", ".rendered"))
    )
    one = b"".join(read_log(p).data for p in paths)
    size = int(size_mb * 1_000_000)
    data = (one * (size // len(one) + 1))[:size]
    return LogText(data=data[: data.rfind(b"\n") + 1])


def speed(size_mb: float, runs: int) -> None:
    """The finder on the real mix, next to a scan of the same text with the default library
    (measured here, in this run, alternating): median and spread of `runs` rounds."""
    log = real_mix(size_mb)
    size = len(log.data) / 1e6
    library = PatternSet(pattern_files.default_library())
    log.line_count  # noqa: B018 - counted once, as a stored log's count is known

    def timed(fn: Callable[[], object]) -> float:
        """CPU seconds of one call (on a shared machine, wall time counts the waiting)."""
        start = time.process_time()
        fn()
        return time.process_time() - start

    finds, scans = [], []
    for _ in range(runs):
        scans.append(timed(lambda: library.scan(log)))
        finds.append(timed(lambda: failure_lines.failure_lines(log)))
    found = failure_lines.failure_lines(log)
    rates = sorted(size / t for t in finds)
    scan_rates = sorted(size / t for t in scans)
    ratios = sorted(s / f for s, f in zip(scans, finds, strict=True))
    print(f"real mix: {size:.0f} MB stripped, {log.line_count} lines; {runs} rounds, CPU time")
    print(
        f"  failure lines   median {statistics.median(rates):6.0f} MB/s "
        f"(min {rates[0]:.0f}, max {rates[-1]:.0f}); looked at {found.looked_at} lines, "
        f"judged {found.judged}, cut before line {found.cut_before}"
    )
    print(
        f"  library scan    median {statistics.median(scan_rates):6.0f} MB/s "
        f"(min {scan_rates[0]:.0f}, max {scan_rates[-1]:.0f})"
    )
    print(
        f"  finder speed / library scan speed: median {statistics.median(ratios):.2f}x "
        f"(min {ratios[0]:.2f}, max {ratios[-1]:.2f})"
    )
    # The worst case: every line looks like an error (the work is bounded all the same).
    dense = LogText(
        data=b"".join(
            b"src/module_%d.c:12:3: error: unknown type name foo_%d\n" % (i, i)
            for i in range(int(size * 1e6) // 48)
        )
    )
    worst = timed(lambda: failure_lines.failure_lines(dense))
    looked = failure_lines.failure_lines(dense)
    print(
        f"  every line an error ({len(dense.data) / 1e6:.0f} MB): {worst:.2f} CPU s, "
        f"looked at the last {looked.looked_at} lines, judged {looked.judged}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--details", action="store_true", help="list the top-1 misses")
    parser.add_argument("--no-cv", action="store_true", help="skip the cross-validation")
    parser.add_argument(
        "--speed", type=float, metavar="MB", help="time the finder on MB of the real mix"
    )
    parser.add_argument("--runs", type=int, default=5, help="rounds of the speed measurement")
    args = parser.parse_args()
    if not LOGS.is_dir():
        sys.exit(f"the shared corpus is not at {CORPUS}")
    if args.speed:
        speed(args.speed, args.runs)
        return
    started = time.perf_counter()
    logs = labeled_logs()
    results: dict[str, dict[str, Score]] = {}
    misses: list[str] = []
    for name, rank in methods().items():
        results[name] = evaluate(
            logs, rank, misses if args.details and name.startswith("finder, no") else None
        )
    print("in-sample (the shipped weights were trained on these logs):")
    print(table(results))
    data = None
    if not args.no_cv:
        from bench import train_failure_lines as training

        data = training.examples(logs)
        cv = {
            "finder, cross-validated by project": evaluate(
                logs, cross_validated(logs, "project", data=data)
            ),
            "finder, cross-validated by source": evaluate(
                logs, cross_validated(logs, "source", data=data)
            ),
        }
        print("cross-validated (each log ranked by weights trained without its fold):")
        print(table(cv))
    pairs = [item for item in logs if item.passing is not None]
    with_baseline = {
        "finder, without the passing log": evaluate(pairs, finder(None)),
        "finder, with the passing log": evaluate(pairs, finder(None, baseline=True)),
    }
    if not args.no_cv:
        with_baseline["cross-validated by project, without"] = evaluate(
            pairs, cross_validated(logs, "project", data=data)
        )
        with_baseline["cross-validated by project, with"] = evaluate(
            pairs, cross_validated(logs, "project", baseline=True, data=data)
        )
    print(f"the {len(pairs)} cidiff pairs (fail.log with its pass.log):")
    print(table(with_baseline, ("cidiff",)))
    runs = list(with_baseline.values())
    print("  in-sample: " + paired(runs[0]["cidiff"], runs[1]["cidiff"]))
    if len(runs) == 4:
        print("  cross-validated by project: " + paired(runs[2]["cidiff"], runs[3]["cidiff"]))
    print(f"{len(logs)} labeled logs, {time.perf_counter() - started:.1f} s")
    if misses:
        print("\ntop-1 misses of the finder without patterns:")
        print("\n".join(misses))


if __name__ == "__main__":
    main()
