"""Running the service: scheduler slots, stale-task recovery, the CLI on an empty data dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from citriage.ops import scheduler
from citriage.ops.models import PeriodicRun, WorkerHeartbeat
from citriage.ops.worker import recover_stale_tasks
from citriage.patterns.tasks import scan_backlog_task
from citriage.scanner.patterns import default_library
from tests import factories


@pytest.mark.django_db
def test_two_schedulers_in_the_same_slot_run_a_sweep_once(log_store: Path) -> None:
    factories.failed_log(factories.job(factories.repository()), "Segmentation fault\n")
    first = scheduler.run_once("recover-and-scan", 60, now=960_000.0)
    second = scheduler.run_once("recover-and-scan", 60, now=960_030.0)  # same minute
    assert first is not None and "backlog 1" in first
    assert second is None
    assert PeriodicRun.objects.filter(name="recover-and-scan").count() == 1
    assert scheduler.run_once("recover-and-scan", 60, now=960_061.0) is not None  # next slot


@pytest.mark.django_db
def test_tasks_of_a_silent_worker_are_requeued() -> None:
    stale = timezone.now() - timedelta(minutes=10)
    WorkerHeartbeat.objects.create(worker_id="dead", hostname="h", pid=1, last_seen=stale)
    WorkerHeartbeat.objects.create(worker_id="alive", hostname="h", pid=2)
    orphan = scan_backlog_task.enqueue()
    busy = scan_backlog_task.enqueue()
    for result, owner in ((orphan, "dead"), (busy, "alive")):
        DBTaskResult.objects.filter(id=result.id).update(
            status=TaskResultStatus.RUNNING, worker_ids=[owner], started_at=stale
        )
    assert recover_stale_tasks() == 1
    assert DBTaskResult.objects.get(id=orphan.id).status == TaskResultStatus.READY
    assert DBTaskResult.objects.get(id=busy.id).status == TaskResultStatus.RUNNING


def cli(*args: str, env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "citriage.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def empty_install(tmp_path: Path) -> dict[str, str]:
    """Environment of a fresh install: its own data dir, the default SQLite database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITRIAGE_")}
    env["CITRIAGE_DATA_DIR"] = str(tmp_path / "data")
    return env


def test_cli_on_an_empty_data_dir_demo_scan_and_pattern_round_trip(
    empty_install: dict[str, str], tmp_path: Path
) -> None:
    status = cli("rescan", "--status", env=empty_install)
    assert status.returncode == 0, status.stderr
    assert "0 of 0 logs" in status.stdout
    # the first command that migrated the database installed the default library
    assert "highest pattern id 0)" not in status.stdout

    demo = cli(
        "demo", "--commits", "40", "--pulls", "5", "--jobs", "12", "--scan", env=empty_install
    )
    assert demo.returncode == 0, demo.stderr
    assert "scanned" in demo.stdout
    status = cli("rescan", "--status", env=empty_install)
    assert "backlog 0" in status.stdout

    exported = tmp_path / "library.yaml"
    assert cli("patterns", "export", "-o", str(exported), env=empty_install).returncode == 0
    again = cli("patterns", "import", str(exported), env=empty_install)
    assert again.returncode == 0, again.stderr
    assert "0 created, 0 updated" in again.stdout
    second = tmp_path / "again.yaml"
    cli("patterns", "export", "-o", str(second), env=empty_install)
    assert second.read_text() == exported.read_text()

    # a new pattern file with a clashing id is refused, then added with --renumber
    clash = tmp_path / "clash.json"
    clash.write_text(
        json.dumps(
            {
                "format": "citriage-patterns/1",
                "patterns": [{"id": 1, "literal": "Collecting numpy"}],
            }
        )
    )
    refused = cli("patterns", "import", str(clash), env=empty_install)
    assert refused.returncode == 2 and "--renumber" in refused.stderr
    added = cli("patterns", "import", "--renumber", str(clash), env=empty_install)
    assert "1 created" in added.stdout
    assert "backlog" in cli("rescan", "--status", env=empty_install).stdout

    rescan = cli("rescan", "--all", "--now", env=empty_install)
    assert rescan.returncode == 0, rescan.stderr
    assert "backlog 0" in rescan.stdout
    assert cli("rescan", env=empty_install).returncode == 2  # nothing chosen


def test_up_serves_the_home_page_and_stops_on_ctrl_c(empty_install: dict[str, str]) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cli("demo", "--commits", "20", "--pulls", "2", "--jobs", "8", env=empty_install)
    process = subprocess.Popen(
        [sys.executable, "-m", "citriage.cli", "up", "--port", str(port)],
        env=empty_install,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        page = ""
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    page = response.read().decode()
            except OSError:
                page = ""
            if 'data-backlog="0"' in page:
                break
            time.sleep(0.5)
        assert "Newest failed jobs" in page
        assert 'data-backlog="0"' in page  # the worker started by `up` scanned the demo's logs
        assert 'class="pattern"' in page  # failed jobs show their best match
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output


def test_the_default_library_is_there_however_citriage_is_started(
    empty_install: dict[str, str],
) -> None:
    """Started as the Deployment section says (a worker alone here), not through `up`
    or `demo`: the library is installed when the database is migrated, once per
    pattern, so what people changed stays."""
    assert cli("worker", "--batch", env=empty_install).returncode == 0

    def exported() -> dict[int, dict[str, object]]:
        listed = cli("patterns", "export", "--json", env=empty_install)
        assert listed.returncode == 0, listed.stderr
        return {p["id"]: p for p in json.loads(listed.stdout)["patterns"]}

    shipped = {p.id for p in default_library()}
    assert set(exported()) == shipped
    edit = (
        "from citriage.patterns.models import Pattern; "
        "Pattern.objects.filter(pk=1).update(specificity=99); "
        "Pattern.objects.filter(pk=2).delete()"
    )
    assert cli("manage", "shell", "-c", edit, env=empty_install).returncode == 0
    assert cli("worker", "--batch", env=empty_install).returncode == 0  # migrates again
    again = exported()
    assert again[1]["specificity"] == 99 and 2 not in again
    assert set(again) == shipped - {2}
