"""Realistic CI step logs, generated: the demo's history and the benchmarks' input.

Every log is built from a seeded random generator, so the same arguments give
the same bytes. Logs carry what real ones do: colour codes, progress bars
rewritten with carriage returns, GitHub Actions timestamps when asked for,
and, for failures, the lines a person would look for.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

GREEN, RED, YELLOW, BOLD, RESET = "\x1b[32m", "\x1b[31m", "\x1b[33m", "\x1b[1m", "\x1b[0m"

MODULES = [
    "core",
    "io",
    "net",
    "storage",
    "scheduler",
    "auth",
    "billing",
    "search",
    "render",
    "cache",
    "parser",
    "planner",
    "metrics",
    "export",
    "importer",
    "queue",
    "sync",
    "notify",
    "graph",
    "api",
]
PACKAGES = [
    ("numpy", "2.1.3"),
    ("requests", "2.32.3"),
    ("pyyaml", "6.0.2"),
    ("protobuf", "5.28.3"),
    ("grpcio", "1.67.1"),
    ("pillow", "11.0.0"),
    ("sqlalchemy", "2.0.36"),
    ("attrs", "24.2.0"),
    ("typing-extensions", "4.12.2"),
    ("urllib3", "2.2.3"),
    ("certifi", "2024.8.30"),
]
HOSTS = ["pypi.org", "files.pythonhosted.org", "registry.npmjs.org", "deb.debian.org", "ghcr.io"]

# What goes wrong, and the lines that show it. `{x}` fields are filled per log.
FAILURES: dict[str, list[str]] = {
    "compile_error": [
        "src/{module}/{name}.cc:{n}:{col}: error: use of undeclared identifier '{ident}'",
        "    {ident}(buffer, size);",
        "    ^",
        "1 error generated.",
        "ninja: build stopped: subcommand failed.",
    ],
    "link_error": [
        "/usr/bin/ld: CMakeFiles/{module}.dir/{name}.cc.o: in function `{module}::{ident}()':",
        "{name}.cc:(.text+0x{hex}): undefined reference to `{module}::detail::{ident}_impl()'",
        "collect2: error: ld returned 1 exit status",
    ],
    "test_failure": [
        "    def test_{name}():",
        ">       assert result == expected",
        "E       AssertionError: assert {n} == {m}",
        "tests/{module}/test_{module}.py:{n}: AssertionError",
        "FAILED tests/{module}/test_{module}.py::test_{name} - AssertionError: assert {n} == {m}",
    ],
    "python_exception": [
        "Traceback (most recent call last):",
        '  File "/work/src/{module}/{name}.py", line {n}, in {ident}',
        "    return self._{ident}[key]",
        "KeyError: '{ident}'",
    ],
    "network": [
        "WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) "
        "after connection broken by 'NewConnectionError': /simple/{package}/",
        "ERROR: Could not install packages due to an OSError: HTTPSConnectionPool(host='{host}', "
        "port=443): Max retries exceeded with url: /simple/{package}/ "
        "(Caused by NewConnectionError('Failed to establish a new connection: "
        "[Errno -3] Temporary failure in name resolution'))",
    ],
    "connection_reset": [
        "Downloading https://{host}/packages/{package}-{version}.tar.gz",
        "error: RPC failed; curl 56 Recv failure: Connection reset by peer",
        "fatal: early EOF",
    ],
    "oom": [
        "RuntimeError: CUDA out of memory. Tried to allocate {n}.00 MiB (GPU 0; 15.78 GiB total "
        "capacity; 14.{m} GiB already allocated)",
    ],
    "host_oom": [
        "c++: fatal error: Killed signal terminated program cc1plus",
        "compilation terminated.",
    ],
    "segfault": [
        "Fatal Python error: Segmentation fault",
        "Current thread 0x00007f{hex} (most recent call first):",
        '  File "/work/src/{module}/{name}.py", line {n} in {ident}',
        "Segmentation fault (core dumped)",
    ],
    "timeout": [
        "Too long with no output (exceeded 10m0s): context deadline exceeded",
    ],
    "infra": [
        'Error response from daemon: Get "https://{host}/v2/": net/http: request canceled '
        "while waiting for connection (Client.Timeout exceeded while awaiting headers)",
    ],
    "disk_full": [
        "OSError: [Errno 28] No space left on device: '/tmp/build-{hex}'",
    ],
    # Project-specific checks no pattern of the default library knows: the demo's
    # unattributed failures (the failure-line finder still finds their line).
    "dead_link": [
        "Checking 412 links in docs/",
        "ERROR: docs/guide/install.md:{n}: broken link https://downloads.rocket.example/v1/ "
        "(HTTP 404)",
        "1 broken link found",
    ],
    "api_break": [
        "check-api: comparing the public API with api/rocket.json",
        "ERROR: breaking API change: rocket.Client.connect() lost parameter 'timeout'",
    ],
    "lint": [
        "src/{module}/{name}.py:{n}:{col}: F401 '{module}.{ident}' imported but unused",
        "Found 1 error.",
    ],
}


def _fill(template: str, rng: random.Random) -> str:
    package, version = rng.choice(PACKAGES)
    module = rng.choice(MODULES)
    return template.format(
        module=module,
        name=rng.choice(["reader", "writer", "pool", "index", "codec", "client", "table"]),
        ident=rng.choice(["flush", "resolve", "compact", "load_state", "merge", "encode"]),
        n=rng.randint(2, 900),
        m=rng.randint(2, 900),
        col=rng.randint(1, 80),
        hex=f"{rng.getrandbits(32):08x}",
        package=package,
        version=version,
        host=rng.choice(HOSTS),
    )


def _setup_lines(rng: random.Random) -> list[str]:
    lines = [f"{BOLD}$ pip install -r requirements.txt{RESET}"]
    for package, version in rng.sample(PACKAGES, k=6):
        lines.append(f"Collecting {package}=={version}")
        bar = "".join(
            f"\r  Downloading {package}-{version}.whl ({p} %)" for p in (0, 25, 50, 75, 100)
        )
        lines.append(bar)
    lines.append(f"{GREEN}Successfully installed {' '.join(p for p, _ in PACKAGES[:6])}{RESET}")
    return lines


def _test_lines(rng: random.Random, count: int) -> list[str]:
    lines = []
    for i in range(count):
        module = rng.choice(MODULES)
        result = f"{GREEN}PASSED{RESET}" if rng.random() > 0.02 else f"{YELLOW}SKIPPED{RESET}"
        lines.append(
            f"tests/{module}/test_{module}.py::test_case_{i} {result} "
            f"[{min(99, i * 100 // max(count, 1)):>3}%]"
        )
    return lines


def _build_lines(rng: random.Random, count: int) -> list[str]:
    return [
        f"[{i}/{count}] Building CXX object CMakeFiles/{rng.choice(MODULES)}.dir/"
        f"src/{rng.choice(MODULES)}/{rng.choice(['a', 'b', 'c'])}{i}.cc.o"
        for i in range(1, count + 1)
    ]


def generate_log(
    failure: str | None,
    *,
    seed: int,
    lines: int = 400,
    github_timestamps: bool = False,
    start: datetime | None = None,
) -> bytes:
    """One step's log: setup, build or test output, then the failure (if any)."""
    rng = random.Random(seed)
    body = _setup_lines(rng)
    if failure in ("compile_error", "link_error", "host_oom", "lint"):
        body += _build_lines(rng, lines)
    else:
        body += _test_lines(rng, lines)
    if failure is not None:
        body += [
            f"{RED}{_fill(line, rng)}{RESET}" if i == 0 else _fill(line, rng)
            for i, line in enumerate(FAILURES[failure])
        ]
        body.append(f"{RED}Exited with code exit status 1{RESET}")
    else:
        body.append(f"{GREEN}==== {lines} passed in {rng.uniform(20, 400):.2f}s ===={RESET}")
    if not github_timestamps:
        return ("\n".join(body) + "\n").encode()
    clock = start or datetime(2026, 11, 1, tzinfo=UTC)
    stamped = []
    for line in body:
        clock += timedelta(milliseconds=rng.randint(1, 400))
        stamped.append(f"{clock.strftime('%Y-%m-%dT%H:%M:%S.%f')}0Z {line}")
    return ("\n".join(stamped) + "\n").encode()


def generate_corpus(target_bytes: int, *, seed: int = 7, github_timestamps: bool = True) -> bytes:
    """Many logs back to back, about `target_bytes` long (for throughput benchmarks)."""
    rng = random.Random(seed)
    failures: list[str | None] = [None, None, *FAILURES]
    parts, size, n = [], 0, 0
    while size < target_bytes:
        log = generate_log(
            rng.choice(failures),
            seed=seed * 100_003 + n,
            lines=rng.randint(200, 3000),
            github_timestamps=github_timestamps,
        )
        parts.append(log)
        size += len(log)
        n += 1
    return b"".join(parts)
