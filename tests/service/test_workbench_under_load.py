"""People trying costly patterns on the workbench do not keep GitHub's deliveries waiting:
with `citriage web` (as configured by default) busy on tries and backtests of expensive
expressions, every signed delivery is still answered within a second and stored once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.utils.crypto import get_random_string

from citriage.github.models import Delivery
from scripts.with_postgres import free_port
from tests import factories
from tests.fakes import sign

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.slow]

SECRET = "workbench-load-secret"
# Not linear-time (a backreference): run by the fallback engine under its time bound.
COSTLY = r"(\w+) \1 \w+ FAILED"
TRIERS = 4
BUSY_SECONDS = 8.0
DELIVERY_EVERY = 0.2


def test_deliveries_are_answered_within_a_second_while_the_workbench_is_busy(
    corpus: Path, log_store: Path, tmp_path: Path
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "the web server shares the test database on PostgreSQL (make test's second pass)"
        )
    # A 6 MB log of lines the expression nearly matches: each try runs out of its time.
    line = " ".join(f"word{i}" for i in range(40)) + " FAILED\n"
    attempt = factories.job(factories.repository())
    stored = factories.failed_log(attempt, line * 80_000)
    user = get_user_model().objects.create_user("wanda", is_staff=True)
    client = Client()
    client.force_login(user)
    token = get_random_string(32)
    cookies = {"sessionid": client.cookies["sessionid"].value, "csrftoken": token}

    s = connection.settings_dict
    port = free_port()
    env = {
        **os.environ,
        "CITRIAGE_DATABASE_URL": f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}",
        "CITRIAGE_LOG_STORE": log_store.as_uri(),
        "CITRIAGE_GITHUB_WEBHOOK_SECRET": SECRET,
        "CITRIAGE_PATTERN_SECONDS": "1",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "citriage.cli", "web", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base)
        payload = (corpus / "webhooks/ping/octokit.payload.json").read_bytes()
        tries: list[tuple[int, dict[str, object]]] = []
        backtests: list[int] = []
        stop = threading.Event()

        def keep_trying() -> None:
            with httpx.Client(base_url=base, cookies=cookies, timeout=60) as http:
                headers = {"X-CSRFToken": token, "Referer": base + "/"}
                body = {"expression": COSTLY, "is_regex": True}
                while not stop.is_set():
                    answer = http.post(
                        "/api/workbench/try", json={**body, "log_id": stored.pk}, headers=headers
                    )
                    tries.append((answer.status_code, answer.json()))
                    answer = http.post("/api/workbench/backtest", json=body, headers=headers)
                    backtests.append(answer.status_code)

        triers = [threading.Thread(target=keep_trying) for _ in range(TRIERS)]
        for trier in triers:
            trier.start()
        time.sleep(1.0)  # the tries are under way
        sent: list[str] = []
        slowest = 0.0
        statuses = []
        with httpx.Client(base_url=base, timeout=10) as github:
            deadline = time.monotonic() + BUSY_SECONDS
            while time.monotonic() < deadline:
                guid = str(uuid.uuid4())
                began = time.monotonic()
                answer = github.post(
                    "/webhooks/github",
                    content=payload,
                    headers={
                        "X-GitHub-Event": "ping",
                        "X-GitHub-Delivery": guid,
                        "X-Hub-Signature-256": sign(SECRET, payload),
                        "Content-Type": "application/json",
                    },
                )
                slowest = max(slowest, time.monotonic() - began)
                statuses.append(answer.status_code)
                sent.append(guid)
                time.sleep(DELIVERY_EVERY)
        stop.set()
        for trier in triers:
            trier.join(timeout=120)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        _, errors = server.communicate(timeout=60)

    assert statuses == [202] * len(sent), statuses
    assert slowest < 1.0, f"a delivery waited {slowest:.2f} s"
    assert set(Delivery.objects.values_list("guid", flat=True)) == set(sent)
    # The workbench was really busy: tries ran out of their time; beyond one at a time per
    # web process, a try was told to come back (429) rather than taking a thread's turn.
    ran = [answer for status, answer in tries if status == 200]
    assert {status for status, _ in tries} <= {200, 429}, tries[:3]
    assert len(ran) >= 2 and all(answer["timed_out"] for answer in ran), ran[:3]
    assert backtests and set(backtests) == {202}
    assert b"Traceback" not in errors, errors.decode()[-2000:]


def _wait_for(base: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("citriage web did not start")
