"""Scan throughput: citriage against the naive seed semantics and ripgrep, in one run.

    python bench/scan.py [--mb 256] [--runs 3]

Prints MB/s of raw log (decompress + strip + scan) for the shared corpus and
a generated corpus, with the 72 seed patterns and 1,000 generated patterns,
and the ratios the scanner issue sets as targets. One core throughout.
"""

from __future__ import annotations

import argparse
import gzip
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CORPUS, SEED_PATTERNS, best_of, generated_patterns, mb, rust_regex
from citriage.demo.logs import generate_corpus
from citriage.scanner import patterns as pattern_files
from citriage.scanner.engine import PatternSet
from citriage.scanner.logtext import read_log
from citriage.scanner.patterns import Pattern


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


def ripgrep(path: Path, patterns: list[Pattern], workdir: Path) -> float | None:
    rg = shutil.which("rg")
    if rg is None:
        return None
    pattern_file = workdir / f"rg-{len(patterns)}.txt"
    pattern_file.write_text("\n".join(rust_regex(p) for p in patterns) + "\n")
    command = [rg, "-j1", "--no-filename", "--count", "-f", str(pattern_file), str(path)]
    subprocess.run(command, capture_output=True, check=False)  # warm the page cache
    return best_of(3, lambda: subprocess.run(command, capture_output=True, check=False))


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=256, help="size of the generated corpus")
    parser.add_argument("--runs", type=int, default=3, help="best of this many runs")
    parser.add_argument(
        "--naive-mb", type=float, default=2.0, help="sample size for the naive scan"
    )
    args = parser.parse_args()

    if not SEED_PATTERNS.is_file():
        sys.exit(f"the shared corpus is not at {CORPUS}")
    seed = pattern_files.load(SEED_PATTERNS)
    thousand = generated_patterns(1000)
    sets = {"72 seed": PatternSet(seed), "1000 generated": PatternSet(thousand)}
    pure = PatternSet(seed, "re")
    corpus_logs = sorted(p for p in (CORPUS / "logs").rglob("*") if p.is_file())
    corpus_bytes = sum(read_log(p).raw_bytes for p in corpus_logs)

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        print(f"generating {args.mb} MB of CI logs ...", flush=True)
        inputs = build_inputs(workdir, args.mb, thousand)
        raw_size = read_log(inputs["escaped"]).raw_bytes
        plain_size = inputs["plain"].stat().st_size

        rows: list[tuple[str, str, float]] = []

        def measure(label: str, patterns: str, size: int, fn: object) -> float:
            seconds = best_of(args.runs, fn)  # type: ignore[arg-type]
            rate = mb(size) / seconds
            rows.append((label, patterns, rate))
            print(f"  {label:<44} {patterns:<15} {rate:8.1f} MB/s", flush=True)
            return rate

        print("citriage (decompress + strip + scan), one core:")
        rates: dict[tuple[str, str], float] = {}
        for name, pattern_set in sets.items():
            rates[("gzip", name)] = measure(
                "generated, gzip'd, escapes + timestamps",
                name,
                raw_size,
                lambda s=pattern_set: citriage_scan([inputs["gzip"]], s),
            )
            rates[("plain", name)] = measure(
                "generated, already plain",
                name,
                plain_size,
                lambda s=pattern_set: citriage_scan([inputs["plain"]], s),
            )
            rates[("corpus", name)] = measure(
                f"shared corpus ({len(corpus_logs)} logs)",
                name,
                corpus_bytes,
                lambda s=pattern_set: citriage_scan(corpus_logs, s),
            )
        rates[("pure", "72 seed")] = measure(
            "generated, plain, pure-re engine (no hyperscan)",
            "72 seed",
            plain_size,
            lambda: citriage_scan([inputs["plain"]], pure),
        )

        print("baselines:")
        sample = workdir / "naive-sample.log"
        with open(inputs["plain"], "rb") as source:
            sample.write_bytes(source.read(int(args.naive_mb * 1_000_000)).rsplit(b"\n", 1)[0])
        naive = measure(
            "naive per line x per pattern re.search (sample)",
            "72 seed",
            sample.stat().st_size,
            lambda: naive_scan(sample, seed),
        )
        rg_rates: dict[str, float] = {}
        for name, patterns in (("72 seed", seed), ("1000 generated", thousand)):
            seconds = ripgrep(inputs["plain"], patterns, workdir)
            if seconds is None:
                print("  rg: not installed (apt-get install ripgrep)")
                break
            rg_rates[name] = mb(plain_size) / seconds
            rows.append(("ripgrep -j1 -f, already plain", name, rg_rates[name]))
            print(f"  {'ripgrep -j1 -f, already plain':<44} {name:<15} {rg_rates[name]:8.1f} MB/s")

    print("\nratios (targets from the scanner issue):")

    def ratio(label: str, value: float, target: float) -> None:
        verdict = "ok" if value >= target else "below target"
        print(f"  {label:<58} {value:8.2f}x  (target >= {target}x: {verdict})")

    ratio("citriage / naive (72 seed, plain)", rates[("plain", "72 seed")] / naive, 500)
    if rg_rates:
        ratio(
            "citriage / ripgrep, plain, 72 seed",
            rates[("plain", "72 seed")] / rg_rates["72 seed"],
            1.5,
        )
        ratio(
            "citriage / ripgrep, plain, 1000 generated",
            rates[("plain", "1000 generated")] / rg_rates["1000 generated"],
            5,
        )
    ratio(
        "1000-pattern / 72-pattern throughput (plain)",
        rates[("plain", "1000 generated")] / rates[("plain", "72 seed")],
        0.7,
    )
    gz = rates[("gzip", "72 seed")]
    print(
        f"  {'end to end, gzip + escapes, 72 seed':<58} {gz:8.1f} MB/s (target >= 150 MB/s: "
        f"{'ok' if gz >= 150 else 'below target'})"
    )


if __name__ == "__main__":
    main()
