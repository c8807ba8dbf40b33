"""Shared benchmark helpers: corpus location, generated patterns, timing."""

from __future__ import annotations

import gc
import gzip
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
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


def spread(values: list[float], digits: int = 0) -> str:
    """'median (min-max)' of several runs: on a shared machine single runs vary a lot."""
    return f"{statistics.median(values):,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


@dataclass(frozen=True)
class Measured:
    seconds: float  # wall time
    cpu_seconds: float  # user + system time
    peak_rss_mb: float = 0.0  # peak resident memory (of a command run on its own)


def timings(runs: int, fn: Callable[[], object]) -> list[Measured]:
    """Wall and CPU times of `runs` calls in this process, with the garbage collector held
    off while each runs (as `timeit` does): a pass over this process's own objects, the
    benchmark's, would otherwise land in some calls and not others."""
    measured = []
    for _ in range(runs):
        gc.collect()
        gc.disable()
        try:
            start, cpu_start = time.perf_counter(), time.process_time()
            fn()
            cpu, wall = time.process_time() - cpu_start, time.perf_counter() - start
        finally:
            gc.enable()
        measured.append(Measured(wall, cpu))
    return measured


# Runs a command from a small Python process and reports its wait4() usage. (A child
# forked by the benchmark itself would report the benchmark's memory as its peak: Linux
# counts the memory of the process that forked into the child's ru_maxrss.)
_MEASURE = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - start, usage.ru_utime + usage.ru_stime, usage.ru_maxrss,
      os.waitstatus_to_exitcode(status))
"""


def run_measured(command: list[str]) -> Measured:
    """Run `command` (its output discarded); its wall time, CPU time and peak memory."""
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True, check=True
    ).stdout.split()
    if int(out[3]) != 0:
        raise RuntimeError(f"{command[0]} exited with status {out[3]}")
    return Measured(float(out[0]), float(out[1]), int(out[2]) / 1024)


def corpus_logs() -> list[Path]:
    """Every log of the shared corpus (compressed ones too), not the labels beside them."""
    suffixes = (".log", ".txt", ".raw", ".log.gz", ".txt.gz")
    return sorted(
        p for p in (CORPUS / "logs").rglob("*") if p.is_file() and p.name.endswith(suffixes)
    )


def write_real_mix(path: Path, size: int, *, seed: int = 7) -> int:
    """Logs of the shared corpus, as they are (escapes, CRs, progress bars, CRLF), in a
    shuffled order, again and again until `size` bytes; the number of logs used."""
    logs = []
    for log in corpus_logs():
        data = log.read_bytes()
        logs.append(gzip.decompress(data) if log.suffix == ".gz" else data)
    rng = random.Random(seed)
    written = 0
    with open(path, "wb") as out:
        while written < size:
            for data in rng.sample(logs, len(logs)):
                out.write(data if data.endswith(b"\n") else data + b"\n")
                written += len(data) + (not data.endswith(b"\n"))
                if written >= size:
                    break
    return len(logs)


def terminal_heavy(size: int, *, seed: int = 3) -> bytes:
    """About `size` bytes of terminal output that rewrites every line: progress bars
    redrawn with carriage returns and erase-in-line, docker-style updates that move the
    cursor up and back down, spinners drawn with backspaces."""
    rng = random.Random(seed)
    lines: list[bytes] = []
    total = 0
    while total < size:
        n = len(lines)
        kind = rng.random()
        if kind < 0.7:
            name = f"layer-{n:06d}.tar.gz"
            bar = "".join(
                f"\r\x1b[36m{name}\x1b[0m [{'#' * i}{'.' * (20 - i)}] {i * 5:3d}%\x1b[K"
                for i in range(0, 21, 5)
            )
            line = f"{bar}\r\x1b[32m{name}\x1b[0m done\x1b[K\n"
        elif kind < 0.9:
            up = rng.randint(1, 4)
            line = f"\x1b[{up}A\x1b[2K\rlayer {n:x}: Pull complete\x1b[{up}B\n"
        else:
            line = "Waiting for the runner " + "".join(c + "\b" for c in "|/-\\" * 3) + " ok\n"
        data = line.encode()
        lines.append(data)
        total += len(data)
    return b"".join(lines)


def mb(n: float) -> float:
    return n / 1_000_000
