"""`citriage repos add … --provider github-actions` and `citriage backfill` on a fresh
install, against a fake GitHub serving recorded workflow runs and job lists."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_github import app_private_key
from tests.fakes import FakeServer, json_reply
from tests.gha_corpus import load

REPO = "PyGithub/PyGithub"
API = f"/repos/{REPO}"


@pytest.fixture
def github(corpus: Path) -> Iterator[FakeServer]:
    server = FakeServer()
    server.on("GET", f"{API}/installation", json_reply({"id": 77, "app_id": 1}))
    server.on(
        "POST",
        "/app/installations/77/access_tokens",
        json_reply({"token": "ghs_cli", "expires_at": "2099-01-01T00:00:00Z"}, 201),
    )
    runs = load(corpus / "github-api/workflow-runs/pygithub.Repository.testGetWorkflowRuns.1.json")
    server.on("GET", f"{API}/actions/runs", json_reply(runs))
    template = load(corpus / "github-api/workflow-jobs/pygithub.WorkflowRun.test_jobs.1.json")
    for run in runs["workflow_runs"]:
        jobs = copy.deepcopy(template["jobs"])
        for k, job in enumerate(jobs):
            job.update(id=run["id"] * 10 + k, run_id=run["id"], head_sha=run["head_sha"])
        server.on("GET", f"{API}/actions/runs/{run['id']}/jobs", json_reply({"jobs": jobs}))
    yield server
    server.close()


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "citriage.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_add_a_github_actions_repository_and_backfill_it(
    github: FakeServer, tmp_path: Path
) -> None:
    key = tmp_path / "app.pem"
    key.write_text(app_private_key())
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITRIAGE_")}
    env.update(
        CITRIAGE_DATA_DIR=str(tmp_path / "data"),
        CITRIAGE_GITHUB_APP_ID="1",
        CITRIAGE_GITHUB_PRIVATE_KEY=str(key),
        CITRIAGE_GITHUB_API_URL=github.url,
        CITRIAGE_HTTP_BACKOFF="0.01",
    )
    added = cli("repos", "add", REPO, "--provider", "github-actions", env=env)
    assert added.returncode == 0, added.stderr
    assert "watching PyGithub/PyGithub (github-actions; default branch main)" in added.stdout
    refused = cli("repos", "add", REPO, "--provider", "travis", env=env)
    assert refused.returncode == 2 and "unknown provider 'travis'" in refused.stderr

    first = cli("backfill", "--repo", REPO, env=env)
    assert first.returncode == 0, first.stderr
    said = " ".join(first.stdout.split())  # rich wraps lines to the terminal width
    # Every job passed: one passing run of each of the 5 job names is sampled for its log
    # (failure lines compare failed logs with it; CITRIAGE_PASSING_LOG_DAYS)
    assert "5 of 5 workflow run(s) read, 25 job(s) recorded; 5 job(s) with logs owed" in said
    second = cli("backfill", env=env)  # every watched repository; nothing new
    assert second.returncode == 0, second.stderr
    assert "0 of 5 workflow run(s) read, 0 job(s) recorded" in " ".join(second.stdout.split())
    listed = cli("repos", "list", env=env)
    assert "PyGithub/PyGithub" in listed.stdout and "25" in listed.stdout
    assert len(github.seen("GET", f"{API}/actions/runs/110932306/jobs")) == 1
    assert all(
        r.headers.get("authorization") == "Bearer ghs_cli"
        for r in github.requests
        if r.path.startswith(f"{API}/actions")
    )
