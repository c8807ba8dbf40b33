"""Peak memory and time of reading and scanning hostile logs, each in a child process.

    python bench/memory.py [--runs 3] [--cases NAME,...] [--workdir DIR]

Each case is generated in a temporary directory, then read (`read_log`, the
100 MB cap) and scanned with the default library (`PatternSet.run`) in a
fresh child process that reports its peak RSS. The baseline, measured in the
same run, is a child that imports everything and compiles the library but
reads nothing. Target: every peak under 300 MB.

The CircleCI cases are step output whose one message is 32, 64 or 128 MB:
their time is compared with reading the same text as a plain file, and
seconds per MB across the sizes show the reading is linear.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_MB = 300
MB = 1_000_000


def _write_repeated(path: Path, block: bytes, total: int) -> Path:
    with path.open("wb") as out:
        written = 0
        while written < total:
            out.write(block)
            written += len(block)
    return path


def all_hits(workdir: Path) -> Path:
    """The cap's worth (100 MB) of short lines, every one holding a library literal."""
    block = b"".join(b"step %07d: OOMKilled ok\n" % i for i in range(100_000))
    return _write_repeated(workdir / "all-hits.log", block, 100 * MB - len(block))


def escaped(workdir: Path) -> Path:
    """100 MB with colours and CRLF on every line: the stripper's block path."""
    line = b"\x1b[32m2024-01-01 step %07d of the build\x1b[0m: OOMKilled ok\r\n"
    block = b"".join(line % i for i in range(20_000))
    return _write_repeated(workdir / "escaped.log", block, 100 * MB - len(block))


def wide_lines(workdir: Path) -> Path:
    """100 MB of 16 KiB lines, each matched by about 60 patterns of the library."""
    from citriage.scanner.patterns import default_library

    literals = [p.expression for p in default_library() if not p.is_regex]
    unit = (" | ".join(literals) + " | x.c:1:2: error: bad | FAILED t.py::t - E").encode()
    line = (unit * (16_384 // len(unit) + 1))[:16_300] + b"\n"
    return _write_repeated(workdir / "wide-lines.log", line * 64, 100 * MB - len(line) * 64)


def two_gigabytes(workdir: Path) -> Path:
    """A 2 GB plain log: its last 100 MB are kept."""
    block = b"".join(
        b"2024-01-01 step %07d of the build: OOMKilled ok\n" % i for i in range(20_000)
    )
    return _write_repeated(workdir / "two-gb.log", block, 2 * 1024**3)


def zstd_bomb(workdir: Path) -> Path:
    """8 GiB of short lines that compress to about 1 MB."""
    block = b"".join(b"test_%06d PASSED\n" % i for i in range(50_000))
    path = workdir / "bomb.log.zst"
    with path.open("wb") as out, zstandard.ZstdCompressor(level=3).stream_writer(out) as writer:
        written = 0
        while written < 8 * 1024**3:
            writer.write(block)
            written += len(block)
    return path


def _message_text(size_mb: int) -> str:
    line = '\x1b[32m2024-01-01 12:00:00\x1b[0m running test_%07d ... "ok" café\r\n'
    return "".join(line % i for i in range(size_mb * MB // 60))


def step_output(size_mb: int) -> Callable[[Path], Path]:
    def make(workdir: Path) -> Path:
        path = workdir / f"step-output-{size_mb}mb.json"
        entries = [
            {"type": "out", "time": "2024-01-01T00:00:00Z", "message": _message_text(size_mb)}
        ]
        path.write_text(json.dumps(entries))
        return path

    make.__doc__ = f"CircleCI step output whose one message is {size_mb} MB"
    return make


def same_text_plain(size_mb: int) -> Callable[[Path], Path]:
    def make(workdir: Path) -> Path:
        path = workdir / f"plain-{size_mb}mb.log"
        path.write_text(_message_text(size_mb))
        return path

    make.__doc__ = f"the {size_mb} MB message's text as a plain file (the JSON cases' baseline)"
    return make


CASES: dict[str, Callable[[Path], Path]] = {
    "all-hits-100mb": all_hits,
    "escaped-100mb": escaped,
    "wide-lines-100mb": wide_lines,
    "plain-2gb": two_gigabytes,
    "zstd-bomb-8gib": zstd_bomb,
    "step-output-32mb": step_output(32),
    "step-output-64mb": step_output(64),
    "step-output-128mb": step_output(128),
    "plain-text-32mb": same_text_plain(32),
    "plain-text-128mb": same_text_plain(128),
}

# Peak RSS is the child's VmHWM: ru_maxrss would carry the parent's peak across fork and exec.
CHILD = """
import json, re, sys, time
from citriage.scanner.engine import PatternSet
from citriage.scanner.logtext import read_log
from citriage.scanner.patterns import default_library
pattern_set = PatternSet(default_library())
began = time.perf_counter()
log = read_log(sys.argv[1]) if sys.argv[1] else None
read = time.perf_counter() - began
report = pattern_set.run(log) if log else None
with open("/proc/self/status") as status:
    peak_kb = int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
print(json.dumps({
    "peak_mb": peak_kb / 1024,
    "read_s": read,
    "total_s": time.perf_counter() - began,
    "lines": log.line_count if log else 0,
    "matches": len(report.matches) if report else 0,
    "timed_out": sorted(report.timed_out) if report else [],
    "warnings": log.warnings if log else [],
}))
"""


def measure(path: Path | None) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(path or "")],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    measured: dict[str, object] = json.loads(result.stdout)
    return measured


def spread(values: list[float], digits: int = 0) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    parser.add_argument("--workdir", type=Path, help="where to generate the inputs (a temp dir)")
    args = parser.parse_args()
    names = [n for n in args.cases.split(",") if n]
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        workdir = Path(tmp)
        baseline = [float(measure(None)["peak_mb"]) for _ in range(args.runs)]  # type: ignore[arg-type]
        print(f"baseline (imports, the default library compiled): {spread(baseline)} MB peak\n")
        print(
            f"{'case':<20} {'input':>10} {'peak MB':>18} {'- baseline':>11} {'seconds':>18}  target"
        )
        seconds: dict[str, float] = {}
        for name in names:
            started = time.perf_counter()
            path = CASES[name](workdir)
            made = time.perf_counter() - started
            runs = [measure(path) for _ in range(args.runs)]
            peaks = [float(r["peak_mb"]) for r in runs]  # type: ignore[arg-type]
            times = [float(r["total_s"]) for r in runs]  # type: ignore[arg-type]
            seconds[name] = statistics.median(times)
            size = path.stat().st_size
            verdict = "met" if max(peaks) < TARGET_MB else "NOT MET"
            print(
                f"{name:<20} {size / MB:>8.0f}MB {spread(peaks):>18} "
                f"{statistics.median(peaks) - statistics.median(baseline):>+10.0f} "
                f"{spread(times, 1):>18}  < {TARGET_MB} MB: {verdict}"
                f"   [{runs[0]['lines']} lines kept, {runs[0]['matches']} matches, "
                f"timed out {runs[0]['timed_out']}, warnings {runs[0]['warnings']}; input made in {made:.0f} s]"
            )
            path.unlink()
        json_cases = [n for n in names if n.startswith("step-output-")]
        if json_cases:
            print("\nCircleCI step output, one message (seconds per MB of message; linear = flat):")
            for name in json_cases:
                size_mb = int(name.removeprefix("step-output-").removesuffix("mb"))
                plain = seconds.get(f"plain-text-{size_mb}mb")
                against = (
                    f", {seconds[name] / plain:.2f}x the same text as a plain file" if plain else ""
                )
                print(f"  {size_mb:>4} MB: {seconds[name] / size_mb:.3f} s/MB{against}")


if __name__ == "__main__":
    main()
