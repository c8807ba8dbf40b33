"""Scan throughput: citriage against the naive seed semantics and ripgrep, in one run.

    python bench/scan.py [--mb 256] [--mix-mb 200] [--big-gb 2] [--runs 5]
                         [--only generated,mix,terminal,big]

Prints MB/s of raw log, one core throughout, each figure as the median of
--runs runs with their range (this machine is shared: single runs vary a lot):

- generated: a generated corpus (gzip'd with escapes and timestamps, and
  already plain) with the 72 seed patterns and 1,000 generated patterns; the
  shared corpus; the naive per-line, per-pattern loop; ripgrep on the plain
  text, alternating with citriage round by round;
- mix: the "real mix", logs of the shared corpus concatenated to --mix-mb as
  they are (escapes, CRs, progress bars, CRLF), `citriage scan --json` end to
  end with and without failure lines against `rg -j1 -c -f` with the same
  patterns, alternating round by round (ratios are per round);
- terminal: read_log (the stripper) on generated output that rewrites every
  line (progress bars, cursor moves, backspaces), and on the Python fallback;
- big: `citriage scan --json` on a --big-gb log (the real mix repeated): its
  throughput and peak memory.

Inputs are generated into a temporary directory and removed afterwards.
"""

from __future__ import annotations

import argparse
import compileall
import gzip
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    CORPUS,
    SEED_PATTERNS,
    Measured,
    corpus_logs,
    generated_patterns,
    mb,
    run_measured,
    rust_regex,
    spread,
    terminal_heavy,
    timings,
    write_real_mix,
)
from citriage.demo.logs import generate_corpus
from citriage.scanner import patterns as pattern_files
from citriage.scanner import terminal
from citriage.scanner.engine import PatternSet
from citriage.scanner.logtext import read_log
from citriage.scanner.patterns import Pattern

SECTIONS = ("generated", "mix", "terminal", "big")


def citriage_scan(paths: list[Path], pattern_set: PatternSet) -> int:
    found = 0
    for path in paths:
        found += len(pattern_set.scan(read_log(path)))
    return found


def naive_scan(path: Path, patterns: list[Pattern]) -> int:
    """The seed's semantics done plainly: every line, every pattern, `re.search`."""
    log = read_log(path)
    found = 0
    compiled = [p.regex for p in patterns if not p.is_retired]
    for line in log.lines():
        for regex in compiled:
            if regex.search(line):
                found += 1
    return found


def ripgrep_command(path: Path, patterns: list[Pattern], workdir: Path) -> list[str] | None:
    rg = shutil.which("rg")
    if rg is None:
        return None
    pattern_file = workdir / f"rg-{len(patterns)}.txt"
    pattern_file.write_text("\n".join(rust_regex(p) for p in patterns) + "\n")
    return [rg, "-j1", "--no-filename", "--count", "-f", str(pattern_file), str(path)]


def citriage_command(*arguments: str) -> list[str]:
    """The `citriage` command of this tree: the PYTHONPATH main() sets (-P: not the
    current directory, which `-m` would put first)."""
    return [sys.executable, "-P", "-m", "citriage.cli", *arguments]


def build_inputs(workdir: Path, size_mb: int, extra: list[Pattern]) -> dict[str, Path]:
    """The generated corpus as escaped text, gzip'd, and already plain."""
    raw = generate_corpus(size_mb * 1_000_000)
    # Sprinkle lines that the generated patterns match, as real failures would.
    rng = random.Random(5)
    lines = raw.split(b"\n")
    for _ in range(len(lines) // 5000):
        pattern = rng.choice(extra)
        text = (
            pattern.expression
            if not pattern.is_regex
            else (
                pattern.expression.replace("\\[", "[")
                .replace("\\]", "]")
                .replace("(?:for|at) ([\\w./-]+)", "for src/io/reader.py")
                .replace("(\\d+)", "3")
                .replace("(?:attempts|ms)", "attempts")
            )
        )
        lines.insert(rng.randrange(len(lines)), text.encode())
    raw = b"\n".join(lines)
    paths = {
        "escaped": workdir / "generated.log",
        "gzip": workdir / "generated.log.gz",
        "plain": workdir / "generated.plain.log",
    }
    paths["escaped"].write_bytes(raw)
    paths["gzip"].write_bytes(gzip.compress(raw, compresslevel=6))
    paths["plain"].write_bytes(read_log(raw).data + b"\n")
    return paths


class Report:
    """Rows of rates (MB/s over several runs) and ratios, printed as they come."""

    def __init__(self) -> None:
        self.verdicts: list[str] = []

    def header(self) -> None:
        print(f"  {'':<48} {'patterns':<15} {'MB/CPU-s, median (range)':>20} {'MB/s wall':>20}")

    def rate(self, label: str, patterns: str, size: int, runs: list[Measured]) -> list[float]:
        """Print MB/s over wall time and per CPU second; the latter are returned (one core's
        throughput, which the load of other work on the machine affects least)."""
        wall = [mb(size) / m.seconds for m in runs]
        cpu = [mb(size) / m.cpu_seconds for m in runs]
        print(f"  {label:<48} {patterns:<15} {spread(cpu):>20} {spread(wall):>20}", flush=True)
        return cpu

    def target(
        self,
        label: str,
        values: list[float],
        target: float,
        unit: str = "x",
        *,
        at_most: bool = False,
    ) -> None:
        """A figure against its target (met when the median is)."""
        digits = 2 if unit == "x" else 0
        median = statistics.median(values)
        met = median <= target if at_most else median >= target
        line = f"  {label:<60} {spread(values, digits):>22}{unit}  "
        line += f"(target {'<' if at_most else '>='} {target}{unit}: "
        line += "ok)" if met else "missed)"
        print(line, flush=True)
        self.verdicts.append(line)


def alternate(
    runs: int, contenders: dict[str, Callable[[], Measured]]
) -> dict[str, list[Measured]]:
    """Each contender once per round, `runs` rounds: what the load does to one it does
    to the others of its round, so ratios are taken round by round. A first round is not
    counted: it warms the page cache and citriage's disk cache, and on this VM the first
    touch of memory the machine has not used yet costs several times a later one."""
    results: dict[str, list[Measured]] = {name: [] for name in contenders}
    for run in contenders.values():
        run()
    for _ in range(runs):
        for name, run in contenders.items():
            results[name].append(run())
    return results


def per_round(ours: list[Measured], theirs: list[Measured]) -> tuple[list[float], list[float]]:
    """Throughput ratios ours / theirs of each round: by CPU time, and by wall time."""
    pairs = list(zip(ours, theirs, strict=True))
    return (
        [t.cpu_seconds / o.cpu_seconds for o, t in pairs],
        [t.seconds / o.seconds for o, t in pairs],
    )


def generated_section(args: argparse.Namespace, workdir: Path, report: Report) -> None:
    seed = pattern_files.load(SEED_PATTERNS)
    thousand = generated_patterns(1000)
    sets = {"72 seed": PatternSet(seed), "1000 generated": PatternSet(thousand)}
    pure = PatternSet(seed, "re")
    logs = sorted(p for p in (CORPUS / "logs").rglob("*") if p.is_file())
    corpus_bytes = sum(read_log(p).raw_bytes for p in logs)

    print(f"generating {args.mb} MB of CI logs ...", flush=True)
    inputs = build_inputs(workdir, args.mb, thousand)
    raw_size = read_log(inputs["escaped"]).raw_bytes
    plain_size = inputs["plain"].stat().st_size

    print("citriage (decompress + strip + scan), one core:")
    report.header()
    rates: dict[tuple[str, str], list[float]] = {}
    for name, pattern_set in sets.items():
        rates[("gzip", name)] = report.rate(
            "generated, gzip'd, escapes + timestamps",
            name,
            raw_size,
            timings(args.runs, partial(citriage_scan, [inputs["gzip"]], pattern_set)),
        )
        report.rate(
            f"shared corpus ({len(logs)} files)",
            name,
            corpus_bytes,
            timings(args.runs, partial(citriage_scan, logs, pattern_set)),
        )
    report.rate(
        "generated, plain, pure-re engine (no hyperscan)",
        "72 seed",
        plain_size,
        timings(args.runs, lambda: citriage_scan([inputs["plain"]], pure)),
    )
    sample = workdir / "naive-sample.log"
    with open(inputs["plain"], "rb") as source:
        sample.write_bytes(source.read(int(args.naive_mb * 1_000_000)).rsplit(b"\n", 1)[0])
    naive = report.rate(
        "naive per line x per pattern re.search (sample)",
        "72 seed",
        sample.stat().st_size,
        timings(max(1, args.runs // 2), lambda: naive_scan(sample, seed)),
    )

    print("already plain text: citriage (in this process) and ripgrep -j1 -f, alternating:")
    ratios: dict[str, list[float]] = {}
    for name, patterns in (("72 seed", seed), ("1000 generated", thousand)):
        scan_plain = partial(citriage_scan, [inputs["plain"]], sets[name])
        contenders: dict[str, Callable[[], Measured]] = {
            "citriage": lambda scan=scan_plain: timings(1, scan)[0]  # type: ignore[misc]
        }
        command = ripgrep_command(inputs["plain"], patterns, workdir)
        if command is not None:
            subprocess.run(command, capture_output=True, check=False)  # warm the page cache
            contenders["rg"] = partial(run_measured, command)
        results = alternate(args.runs, contenders)
        rates[("plain", name)] = report.rate(
            "generated, already plain", name, plain_size, results["citriage"]
        )
        if "rg" in results:
            report.rate("ripgrep -j1 -f, already plain", name, plain_size, results["rg"])
            ratios[name], _ = per_round(results["citriage"], results["rg"])
        else:
            print("  rg: not installed (apt-get install ripgrep)")

    print("\nratios, generated logs (targets from the scanner issue; CPU time):")
    plain_72 = statistics.median(rates[("plain", "72 seed")])
    report.target("citriage / naive (72 seed, plain)", [plain_72 / statistics.median(naive)], 500)
    if ratios:
        report.target("citriage / ripgrep, plain, 72 seed (per round)", ratios["72 seed"], 1.5)
        report.target(
            "citriage / ripgrep, plain, 1000 generated (per round)", ratios["1000 generated"], 5
        )
    report.target(
        "1000-pattern / 72-pattern throughput (plain, medians)",
        [statistics.median(rates[("plain", "1000 generated")]) / plain_72],
        0.7,
    )
    report.target("end to end, gzip + escapes, 72 seed", rates[("gzip", "72 seed")], 150, " MB/s")


def mix_section(args: argparse.Namespace, workdir: Path, report: Report) -> None:
    path = workdir / "real-mix.log"
    count = write_real_mix(path, args.mix_mb * 1_000_000)
    size = path.stat().st_size
    seed = pattern_files.load(SEED_PATTERNS)
    print(
        f"\nreal mix: {count} logs of the shared corpus concatenated to {mb(size):.0f} MB; "
        "`citriage scan --json --patterns <the Dr. CI dump>` and `rg -j1 -c -f`, alternating:"
    )
    report.header()
    scan = citriage_command("scan", "--json", "--patterns", str(SEED_PATTERNS), str(path))
    contenders: dict[str, Callable[[], Measured]] = {
        "with failure lines": lambda: run_measured(scan),
        "without failure lines": lambda: run_measured([*scan, "--no-failure-lines"]),
    }
    command = ripgrep_command(path, seed, workdir)
    if command is not None:
        subprocess.run(command, capture_output=True, check=False)  # warm the page cache
        contenders["rg"] = lambda: run_measured(command)
    else:
        print("  rg: not installed (apt-get install ripgrep)")
    results = alternate(args.runs, contenders)
    rates = {
        name: report.rate(f"citriage scan --json, {name}", "72 seed", size, results[name])
        for name in ("with failure lines", "without failure lines")
    }
    if "rg" in results:
        report.rate("rg -j1 -c -f", "72 seed", size, results["rg"])
    kept = read_log(path)
    print(
        f"  (citriage keeps the last {mb(len(kept.data)):.0f} MB of text, the size cap: it read "
        f"{mb(kept.input_bytes):.0f} MB of the {mb(size):.0f}; rg searches all of it)"
    )
    print("\nratios, real mix (CPU time; by wall time in brackets):")
    report.target("end to end with failure lines", rates["with failure lines"], 150, " MB/s")
    if "rg" in results:
        for name, target in (("with failure lines", 0.5), ("without failure lines", 1.5)):
            cpu, wall = per_round(results[name], results["rg"])
            report.target(f"{name} / ripgrep (per round)", cpu, target)
            print(f"  {'  (wall time)':<60} {spread(wall, 2):>22}x")


def terminal_section(args: argparse.Namespace, workdir: Path, report: Report) -> None:
    path = workdir / "terminal-heavy.log"
    path.write_bytes(terminal_heavy(96_000_000))  # under the size cap: every byte is stripped
    print("\nterminal-heavy logs (every line rewritten), read_log, one core:")
    report.header()
    rates = report.rate(
        "generated progress bars, cursor moves, backspaces",
        "",
        path.stat().st_size,
        timings(args.runs, lambda: read_log(path)),
    )
    sample = workdir / "terminal-heavy-sample.log"
    with open(path, "rb") as source:
        sample.write_bytes(source.read(10_000_000).rsplit(b"\n", 1)[0] + b"\n")
    c_helper = getattr(terminal, "_cstrip")  # noqa: B009 - private, switched off for a row
    setattr(terminal, "_cstrip", None)  # noqa: B010
    try:
        report.rate(
            "the same, Python fallback (10 MB sample)",
            "",
            sample.stat().st_size,
            timings(max(1, args.runs // 2), lambda: read_log(sample)),
        )
    finally:
        setattr(terminal, "_cstrip", c_helper)  # noqa: B010
    escaped = [p for p in corpus_logs() if p.suffix != ".gz" and b"\x1b[" in p.read_bytes()]
    report.rate(
        f"corpus logs with escapes ({len(escaped)} files)",
        "",
        sum(p.stat().st_size for p in escaped),
        timings(args.runs, lambda: [read_log(p) for p in escaped]),
    )
    print("\nratios, terminal-heavy (CPU time):")
    report.target("stripper throughput, every line rewritten", rates, 200, " MB/s")


def big_section(args: argparse.Namespace, workdir: Path, report: Report) -> None:
    mix = workdir / "real-mix.log"
    if not mix.is_file():
        write_real_mix(mix, args.mix_mb * 1_000_000)
    path = workdir / "big.log"
    target = int(args.big_gb * 1_000_000_000)
    block = mix.read_bytes()
    with open(path, "wb") as out:
        while out.tell() < target:
            out.write(block[: target - out.tell()])
    del block
    size = path.stat().st_size
    print(f"\na {mb(size) / 1000:.1f} GB log (the real mix repeated), `citriage scan --json`:")
    report.header()
    scan = citriage_command("scan", "--json", "--patterns", str(SEED_PATTERNS), str(path))
    runs = max(1, args.runs // 2)
    peaks = {}
    for name, command in (
        ("with failure lines", scan),
        ("without failure lines", [*scan, "--no-failure-lines"]),
    ):
        measured = [run_measured(command) for _ in range(runs)]
        report.rate(f"{name}", "72 seed", size, measured)
        peaks[name] = [m.peak_rss_mb for m in measured]
    print("\npeak memory, 2 GB log:")
    for name, values in peaks.items():
        report.target(f"{name}", values, 300, " MB", at_most=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=256, help="size of the generated corpus")
    parser.add_argument("--mix-mb", type=int, default=200, help="size of the real mix")
    parser.add_argument("--big-gb", type=float, default=2.0, help="size of the big log")
    parser.add_argument("--runs", type=int, default=5, help="runs (rounds) of each measure")
    parser.add_argument("--naive-mb", type=float, default=2.0, help="sample for the naive scan")
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"sections to run, of {','.join(SECTIONS)}"
    )
    args = parser.parse_args()
    chosen = [s for s in args.only.split(",") if s]
    if unknown := set(chosen) - set(SECTIONS):
        sys.exit(f"unknown section(s): {', '.join(sorted(unknown))}")
    if not SEED_PATTERNS.is_file():
        sys.exit(f"the shared corpus is not at {CORPUS}")

    # Commands run in child processes use this tree's code too, compiled to bytecode first
    # as an installed package is (PYTHONDONTWRITEBYTECODE would otherwise have every
    # `citriage scan` compile its modules again: 40 ms a run).
    root = Path(__file__).resolve().parents[1]
    compileall.compile_dir(root / "citriage", quiet=1)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(root), os.environ.get("PYTHONPATH")])
    )
    report = Report()
    with tempfile.TemporaryDirectory() as tmp:  # (TMPDIR picks where: the big log is 2 GB)
        workdir = Path(tmp)
        sections = {
            "generated": generated_section,
            "mix": mix_section,
            "terminal": terminal_section,
            "big": big_section,
        }
        for name in SECTIONS:
            if name in chosen:
                sections[name](args, workdir, report)
    print("\nsummary:")
    for line in report.verdicts:
        print(line)


if __name__ == "__main__":
    main()
