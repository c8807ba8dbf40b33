"""The GitHub Actions client against a fake GitHub serving recorded replies, and the
job-log splitter against logs whose steps are known line by line."""

from __future__ import annotations

import io
import itertools
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from citriage.providers.base import ProviderError, TransientProviderError
from citriage.providers.github import GitHub
from citriage.providers.github_actions import (
    GitHubActions,
    read_span,
    split_job_log,
    step_infos,
    to_job_run,
)
from citriage.scanner.logtext import read_log
from tests.fakes import FakeServer, Reply, Seen, json_reply
from tests.gha_corpus import load, run_view_log

CIDIFF = "logs/github-actions/cidiff/cidiff_11"
TOKEN = "ghs_test_token"


@pytest.fixture
def github() -> Iterator[FakeServer]:
    server = FakeServer()
    yield server
    server.close()


def api(server: FakeServer, **options: object) -> GitHubActions:
    return GitHubActions(GitHub(server.url, token=TOKEN, backoff=0.01, **options))  # type: ignore[arg-type]


# -- splitting -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["fail.log", "pass.log"])
@pytest.mark.parametrize("with_times", [True, False])
def test_every_line_lands_in_its_step(corpus: Path, name: str, with_times: bool) -> None:
    raw, steps, truth = run_view_log(corpus / CIDIFF / name, {"build cidiff"})
    if not with_times:
        for step in steps:
            step["started_at"] = step["completed_at"] = None
    spans = split_job_log(io.BytesIO(raw), step_infos({"steps": steps}))
    placed = [span.name for span in spans for _ in range(span.lines)]
    assert placed == truth
    assert [s.name for s in spans] == [s["name"] for s in steps]
    # byte ranges tile the log
    assert spans[0].start == 0 and spans[-1].end == len(raw)
    assert all(a.end == b.start for a, b in itertools.pairwise(spans))


def test_the_failed_step_holds_the_failure_and_nothing_else(corpus: Path) -> None:
    raw, steps, _ = run_view_log(corpus / CIDIFF / "fail.log", {"build cidiff"})
    [build] = [
        s
        for s in split_job_log(io.BytesIO(raw), step_infos({"steps": steps}))
        if s.name == "build cidiff"
    ]
    text = read_log(raw[build.start : build.end])
    assert text.line(1) == "##[group]Run ./gradlew build"  # timestamp stripped
    assert text.lines()[-1] == "##[error]Process completed with exit code 1."
    assert "Execution failed for task ':cidiff:test'." in text.lines()
    assert not any("git init" in line for line in text.lines())


def test_skipped_and_unknown_steps_get_no_lines(corpus: Path) -> None:
    raw, steps, truth = run_view_log(corpus / CIDIFF / "fail.log", {"build cidiff"})
    # a skipped step between two that ran, and a queued one at the end: no output of theirs
    steps.insert(
        3,
        {
            "name": "Run tests on Windows",
            "status": "completed",
            "conclusion": "skipped",
            "number": 99,
        },
    )
    steps.append({"name": "Never ran", "status": "queued", "conclusion": None, "number": 100})
    spans = split_job_log(io.BytesIO(raw), step_infos({"steps": steps}))
    assert [span.name for span in spans for _ in range(span.lines)] == truth


def test_named_steps_are_told_apart_by_time(corpus: Path) -> None:
    """A composite action prints `##[group]Run …` for each of its own steps: the step
    after it is placed by its start time, not on the first such line."""
    raw, steps, truth = run_view_log(corpus / CIDIFF / "fail.log", {"build cidiff"})
    # Pretend "Run actions/setup-java@v2" was a composite action run inside "checkout
    # cidiff": the splitter, knowing the times, still starts "build cidiff" right.
    del steps[2]
    spans = split_job_log(io.BytesIO(raw), step_infos({"steps": steps}))
    by_name = {s.name: s for s in spans}
    assert by_name["build cidiff"].first_line == truth.index("build cidiff") + 1
    assert by_name["checkout cidiff"].lines == truth.count("checkout cidiff") + truth.count(
        "Run actions/setup-java@v2"
    )


# A PyTorch test job (the corpus's full ROCm/CUDA test log) as GitHub lists its steps:
# names as in PyTorch's _linux-test.yml of July 2024, each with the line its runner
# title starts on. Most steps use composite actions, whose inner steps print
# `##[group]Run …` titles of their own, often in the same second as the step after.
PYTORCH_STEPS = [
    ("Set up job", 1),
    ("Set up runner", 47),
    ("Setup SSH (Click me for login details)", 50),
    ("Checkout PyTorch", 65),
    ("Setup Linux", 1027),
    ("Calculate docker image", 1171),
    ("Use following to pull public copy of the image", 1695),
    ("Pull docker image", 1704),
    ("Check if in a ARC runner", 2089),
    ("Install nvidia driver, nvidia-docker runtime, set GPU_FLAG", 2095),
    ("Start monitoring script", 2654),
    ("Download build artifacts", 2670),
    ("Download TD artifacts", 3163),
    ("Parse ref", 3195),
    ("Get workflow job id", 3203),
    ("Check for keep-going label and re-enabled test issues", 3224),
    ("Set Test step time", 3328),
    ("Test", 3336),
    ("Upload pytest cache if tests failed", 4050),
    ("Print remaining test logs", 4122),
    ("Stop monitoring script", 4131),
    ("Upload test artifacts", 4143),
    ("Collect backtraces from coredumps (if any)", 4287),
    ("Store Core dumps on S3", 4296),
    ("Teardown Linux", 4310),
    ("Post Setup SSH (Click me for login details)", 4535),
    ("Post Checkout PyTorch", 4536),
    ("Complete runner", 4765),
    ("Complete job", 4768),
]


def test_composite_actions_do_not_pull_the_next_step_early(corpus: Path) -> None:
    raw = (corpus / "logs/pytorch-gha/full/error_log1.txt").read_bytes()
    lines = raw.decode("utf-8-sig").split("\n")

    def second_of(number: int) -> str:
        """GitHub's step times are whole seconds: the time of line `number` (or of the
        nearest timestamped line before it), cut to the second."""
        while not lines[number - 1][:4].isdigit():
            number -= 1
        return lines[number - 1][:19] + "Z"

    steps = []
    for k, (name, first) in enumerate(PYTORCH_STEPS):
        last = PYTORCH_STEPS[k + 1][1] - 1 if k + 1 < len(PYTORCH_STEPS) else len(lines)
        steps.append(
            {
                "number": k + 1,
                "name": name,
                "status": "completed",
                "conclusion": "failure" if name == "Test" else "success",
                "started_at": second_of(first),
                "completed_at": second_of(last),
            }
        )
    spans = split_job_log(io.BytesIO(raw), step_infos({"steps": steps}))
    assert [(span.name, span.first_line) for span in spans] == PYTORCH_STEPS
    test = next(span for span in spans if span.name == "Test")
    assert lines[test.first_line - 1].endswith("##[group]Run set -x")
    assert any(
        "Process completed with exit code 1." in line
        for line in lines[test.first_line - 1 : test.first_line - 1 + test.lines]
    )


def test_unknown_steps_give_no_split(corpus: Path) -> None:
    raw = (corpus / "logs/pytorch-gha/full/error_log1.txt").read_bytes()
    assert split_job_log(io.BytesIO(raw), []) == []


def test_a_log_cut_short_keeps_what_is_there(corpus: Path) -> None:
    raw, steps, _truth = run_view_log(corpus / CIDIFF / "fail.log", {"build cidiff"})
    cut = raw[: raw.index(b"BUILD FAILED") + 3]  # mid-line, mid-step; the rest never came
    spans = split_job_log(io.BytesIO(cut), step_infos({"steps": steps}))
    assert [s.name for s in spans] == [
        "Set up job",
        "checkout cidiff",
        "Run actions/setup-java@v2",
        "build cidiff",
    ]
    assert spans[-1].end == len(cut)
    with read_span(io.BytesIO(cut), spans[-1].start, spans[-1].end) as piece:
        assert read_log(piece).lines()[-1] == "BUI"  # the cut line, its timestamp stripped


# -- payloads ------------------------------------------------------------------------------


def test_webhook_jobs_become_job_runs(corpus: Path) -> None:
    hooks = corpus / "webhooks/workflow_job"
    failed = to_job_run(
        load(hooks / "octokit.completed.failure.with-organization.payload.json")["workflow_job"]
    )
    assert (failed.provider, failed.provider_id, failed.name) == (
        "github-actions",
        "289782451",
        "CodeQL / linters",
    )
    assert (failed.status, failed.conclusion, failed.attempt, failed.workflow_id) == (
        "completed",
        "failure",
        1,
        "2202229078",
    )
    assert failed.steps is not None
    assert [(s.index, s.name) for s in failed.steps if s.failed] == [
        (8, "Run yarn run format-check")
    ]
    running = to_job_run(
        load(hooks / "octokit.in_progress.with-queued-steps.payload.json")["workflow_job"]
    )
    assert running.status == "running" and running.conclusion == ""
    assert running.steps is not None and [s.status for s in running.steps][:4] == [
        "success",
        "success",
        "in_progress",
        "queued",
    ]
    waiting = to_job_run(load(hooks / "octokit.waiting.payload.json")["workflow_job"])
    assert waiting.status == "queued" and waiting.steps is None  # nothing known of its steps yet
    rerun = to_job_run(load(hooks / "pytorch-torchci.workflow_job.queued.json")["workflow_job"])
    assert rerun.attempt == 3 and rerun.name == "alert-15min / alert-15min"
    with pytest.raises(ProviderError):
        to_job_run({"id": 1})


# -- the client ----------------------------------------------------------------------------


def test_jobs_of_a_run_all_pages_all_attempts(corpus: Path, github: FakeServer) -> None:
    jobs = load(corpus / "github-api/workflow-jobs/pygithub.WorkflowRun.test_jobs.1.json")
    path = "/repos/PyGithub/PyGithub/actions/runs/3881497935/jobs"

    def pages(seen: Seen) -> Reply:
        if seen.query.get("page") == ["2"]:
            return json_reply({"total_count": 5, "jobs": jobs["jobs"][3:]})
        link = f'<{github.url}{path}?filter=all&per_page=3&page=2>; rel="next"'
        return json_reply({"total_count": 5, "jobs": jobs["jobs"][:3]}, headers={"Link": link})

    github.on("GET", path, pages)
    found = api(github, page_size=3).run_jobs("PyGithub", "PyGithub", 3881497935)
    assert [j["id"] for j in found] == [j["id"] for j in jobs["jobs"]]
    first, second = github.seen("GET", path)
    assert first.query == {"filter": ["all"], "per_page": ["3"]}
    assert second.query["page"] == ["2"]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in github.requests)


def test_workflow_runs_of_a_branch_since_a_date(corpus: Path, github: FakeServer) -> None:
    from datetime import UTC, datetime

    runs = load(corpus / "github-api/workflow-runs/pygithub.Repository.testGetWorkflowRuns.1.json")
    github.on("GET", "/repos/PyGithub/PyGithub/actions/runs", json_reply(runs))
    since = datetime(2020, 5, 20, 12, 0, tzinfo=UTC)
    found = list(api(github).workflow_runs("PyGithub", "PyGithub", branch="master", since=since))
    [seen] = github.seen("GET", "/repos/PyGithub/PyGithub/actions/runs")
    assert seen.query["branch"] == ["master"] and seen.query["created"] == [">=2020-05-20"]
    # the two runs created before noon are left out
    assert [r.id for r in found] == [110932306, 110932159, 110932072]
    assert found[0].head_commit["message"].startswith("Remove RateLimit.rate")


def test_the_log_follows_the_redirect_without_credentials(corpus: Path, github: FakeServer) -> None:
    log = (corpus / "logs/github-actions/ci_runner/rails.log").read_bytes()
    github.on(
        "GET",
        "/repos/o/r/actions/jobs/7/logs",
        Reply(302, b"", {"Location": f"{github.url}/storage/7?sig=abc"}),
    )
    github.on("GET", "/storage/7", Reply(200, log, {"Content-Type": "text/plain"}))
    with api(github).download_job_log("o", "r", 7) as got:
        assert got.read() == log
    [asked] = github.seen("GET", "/repos/o/r/actions/jobs/7/logs")
    [fetched] = github.seen("GET", "/storage/7")
    assert asked.headers["authorization"] == f"Bearer {TOKEN}"
    assert "authorization" not in fetched.headers and fetched.query == {"sig": ["abc"]}


def test_log_errors_are_sorted_into_permanent_and_transient(github: FakeServer) -> None:
    github.on("GET", "/repos/o/r/actions/jobs/1/logs", Reply(404, b'{"message": "Not Found"}'))
    github.on("GET", "/repos/o/r/actions/jobs/2/logs", Reply(500, b"oops"))
    with pytest.raises(ProviderError) as gone:
        api(github).download_job_log("o", "r", 1)
    assert not isinstance(gone.value, TransientProviderError) and "404" in str(gone.value)
    with pytest.raises(TransientProviderError):
        api(github, retries=2).download_job_log("o", "r", 2)
    assert len(github.seen("GET", "/repos/o/r/actions/jobs/2/logs")) == 3


def test_a_transfer_cut_short_is_transient(github: FakeServer) -> None:
    """Storage promises more bytes than it sends, then hangs up."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)

    def serve() -> None:
        for _ in range(5):
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n2022-07-15T12:32:07.3795611Z half"
            )
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    github.on(
        "GET",
        "/repos/o/r/actions/jobs/3/logs",
        Reply(302, b"", {"Location": f"http://127.0.0.1:{port}/log"}),
    )
    try:
        with pytest.raises(TransientProviderError):
            api(github, retries=0).download_job_log("o", "r", 3)
    finally:
        listener.close()


def test_reruns(github: FakeServer) -> None:
    github.on("POST", "/repos/o/r/actions/jobs/5/rerun", Reply(201, b""))
    github.on("POST", "/repos/o/r/actions/runs/9/rerun-failed-jobs", Reply(201, b""))
    client = api(github)
    client.rerun_job("o", "r", 5)
    client.rerun_failed_jobs("o", "r", 9)
    assert len(github.seen("POST", "/repos/o/r/actions/jobs/5/rerun")) == 1
    assert len(github.seen("POST", "/repos/o/r/actions/runs/9/rerun-failed-jobs")) == 1
    github.on(
        "POST",
        "/repos/o/r/actions/jobs/6/rerun",
        Reply(403, json.dumps({"message": "This workflow is already running"}).encode()),
    )
    with pytest.raises(ProviderError, match="already running"):
        client.rerun_job("o", "r", 6)
