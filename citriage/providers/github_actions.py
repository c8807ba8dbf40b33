"""GitHub Actions REST client and job-log splitter (plain dataclasses, no Django).

The client speaks GitHub's REST API through the project's HttpClient (timeouts,
retries, `Retry-After` and rate-limit headers). Authentication is whatever
`httpx.Auth` the caller hands in: citriage passes the GitHub App installation
auth it already uses for check runs. Job logs are served by a redirect to
pre-signed storage; the storage URL gets no credentials.

A job's log is one file for all its steps. `split_job_log` cuts it into the
steps of the job's `steps` list, using the lines the runner prints when a step
begins (`##[group]Run …`, `Post job cleanup.`, `Cleaning up orphan processes`),
the step names and, when known, the step times.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any

from citriage.providers.base import JobRun, ProviderError, StepRun
from citriage.providers.github import GitHub
from citriage.providers.http import SPOOL_IN_MEMORY
from citriage.rules import ACTIONS_TIMESTAMP_PREFIX, parse_time

DEFAULT_URL = "https://api.github.com"
PAGE_SIZE = 100
PROVIDER = "github-actions"
MAX_PAGES = 1000  # a guard against a server that never stops paginating

# GitHub's job/run status -> ours
_STATUS = {
    "requested": "queued",
    "queued": "queued",
    "waiting": "queued",
    "pending": "queued",
    "in_progress": "running",
    "completed": "completed",
}
# GitHub's conclusion -> ours (citriage.ci.models.Conclusion values)
_CONCLUSION = {
    "success": "success",
    "failure": "failure",
    "timed_out": "timed_out",
    "cancelled": "cancelled",
    "skipped": "skipped",
    "neutral": "neutral",
    "stale": "cancelled",
    "action_required": "failure",
    "startup_failure": "failure",
}
FAILED_STEP_CONCLUSIONS = ("failure", "timed_out")


def job_name(job: dict[str, Any]) -> str:
    """`workflow / job`, as GitHub lists checks (job names repeat across workflows)."""
    name = str(job.get("name") or f"job {job.get('id')}")
    workflow = str(job.get("workflow_name") or "")
    return f"{workflow} / {name}" if workflow else name


@dataclass
class StepInfo:
    """What the splitter needs to know of one step of a job."""

    number: int
    name: str
    status: str = ""
    conclusion: str = ""
    started_at: datetime | None = None
    completed_at: datetime | None = None

    @property
    def failed(self) -> bool:
        return self.conclusion in FAILED_STEP_CONCLUSIONS

    @property
    def ran(self) -> bool:
        return self.conclusion != "skipped" and (
            self.status in ("in_progress", "completed") or self.started_at is not None
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "name": self.name,
            "status": self.status,
            "conclusion": self.conclusion,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepInfo:
        return cls(
            number=int(data["number"]),
            name=str(data.get("name") or ""),
            status=str(data.get("status") or ""),
            conclusion=str(data.get("conclusion") or ""),
            started_at=parse_time(data.get("started_at")),
            completed_at=parse_time(data.get("completed_at")),
        )


def step_infos(job: dict[str, Any]) -> list[StepInfo]:
    return [
        StepInfo.from_json(step)
        for step in job.get("steps") or []
        if isinstance(step, dict) and step.get("number") is not None
    ]


def to_job_run(job: dict[str, Any]) -> JobRun:
    """A job of the REST API or of a `workflow_job` webhook as a JobRun.

    `provider_id` is the job id: a rerun is a new job (with the next run
    attempt), so every attempt is its own row.
    """
    if "id" not in job or "head_sha" not in job:
        raise ProviderError("a GitHub Actions job without id or head_sha")
    status = _STATUS.get(str(job.get("status") or ""), "queued")
    raw_conclusion = str(job.get("conclusion") or "")
    conclusion = _CONCLUSION.get(raw_conclusion, "failure" if raw_conclusion else "")
    infos = step_infos(job)
    steps = [
        StepRun(
            name=info.name[:500],
            index=info.number,
            status=info.conclusion or info.status,
            timed_out=info.conclusion == "timed_out",
        )
        for info in infos
    ]
    return JobRun(
        provider=PROVIDER,
        provider_id=str(job["id"]),
        name=job_name(job)[:255],
        sha=str(job["head_sha"]),
        status=status,
        conclusion=conclusion if status == "completed" else "",
        attempt=int(job.get("run_attempt") or 1),
        workflow=str(job.get("workflow_name") or ""),
        workflow_id=str(job.get("run_id") or ""),
        branch=str(job.get("head_branch") or ""),
        url=str(job.get("html_url") or ""),
        queued_at=parse_time(job.get("created_at")),
        started_at=parse_time(job.get("started_at")),
        finished_at=parse_time(job.get("completed_at")) if status == "completed" else None,
        # A job seen before its steps are known (queued) says nothing about steps.
        steps=steps if infos or status == "completed" else None,
        extra={
            "run_id": job.get("run_id"),
            "run_attempt": job.get("run_attempt"),
            "runner": job.get("runner_name"),
            "labels": job.get("labels"),
            "steps": [info.to_json() for info in infos] or None,
        },
    )


@dataclass
class WorkflowRun:
    id: int
    name: str
    head_sha: str
    head_branch: str
    status: str
    conclusion: str
    run_attempt: int
    event: str = ""
    path: str = ""  # the workflow file
    created_at: datetime | None = None
    updated_at: datetime | None = None
    url: str = ""
    pull_requests: list[int] = field(default_factory=list)
    head_commit: dict[str, Any] = field(default_factory=dict)

    @property
    def completed(self) -> bool:
        return self.status == "completed"


def to_workflow_run(run: dict[str, Any]) -> WorkflowRun:
    if "id" not in run or "head_sha" not in run:
        raise ProviderError("a workflow run without id or head_sha")
    return WorkflowRun(
        id=int(run["id"]),
        name=str(run.get("name") or ""),
        head_sha=str(run["head_sha"]),
        head_branch=str(run.get("head_branch") or ""),
        status=_STATUS.get(str(run.get("status") or ""), "queued"),
        conclusion=str(run.get("conclusion") or ""),
        run_attempt=int(run.get("run_attempt") or 1),
        event=str(run.get("event") or ""),
        path=str(run.get("path") or ""),
        created_at=parse_time(run.get("created_at")),
        updated_at=parse_time(run.get("updated_at")),
        url=str(run.get("html_url") or ""),
        pull_requests=[
            int(p["number"]) for p in run.get("pull_requests") or [] if isinstance(p, dict)
        ],
        head_commit=run.get("head_commit") or {},
    )


@dataclass
class Artifact:
    id: int
    name: str
    size_in_bytes: int = 0
    expired: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None


def to_artifact(item: dict[str, Any]) -> Artifact:
    if "id" not in item:
        raise ProviderError("an artifact without id")
    return Artifact(
        id=int(item["id"]),
        name=str(item.get("name") or ""),
        size_in_bytes=int(item.get("size_in_bytes") or 0),
        expired=bool(item.get("expired")),
        created_at=parse_time(item.get("created_at")),
        updated_at=parse_time(item.get("updated_at")),
    )


class GitHubActions:
    """The Actions part of GitHub's REST API, spoken through a `GitHub` client (whose
    identity, e.g. an App installation, it acts as)."""

    def __init__(self, github: GitHub) -> None:
        self.github = github
        # Logs are on pre-signed storage URLs: no credentials, no base URL.
        self.storage = github.http.storage()

    def close(self) -> None:
        self.github.close()
        self.storage.close()

    def _repo(self, owner: str, repo: str) -> str:
        return f"/repos/{owner}/{repo}/actions"

    def workflow_runs(
        self,
        owner: str,
        repo: str,
        *,
        branch: str | None = None,
        since: datetime | None = None,
    ) -> Iterator[WorkflowRun]:
        """Workflow runs of the repository (of one branch), newest first, all pages."""
        params: dict[str, Any] = {}
        if branch:
            params["branch"] = branch
        if since:
            params["created"] = f">={since.date().isoformat()}"
        for run in self.github.pages(f"{self._repo(owner, repo)}/runs", "workflow_runs", params):
            found = to_workflow_run(run)
            if since and found.created_at and found.created_at < since:
                continue
            yield found

    def run_jobs(self, owner: str, repo: str, run_id: int | str) -> list[dict[str, Any]]:
        """The jobs of every attempt of a run (all pages), as the API returns them."""
        path = f"{self._repo(owner, repo)}/runs/{run_id}/jobs"
        return list(self.github.pages(path, "jobs", {"filter": "all"}))

    def job(self, owner: str, repo: str, job_id: int | str) -> dict[str, Any]:
        data = self.github.json("GET", f"{self._repo(owner, repo)}/jobs/{job_id}")
        if not isinstance(data, dict) or "id" not in data:
            raise ProviderError(f"job {owner}/{repo}/{job_id}: unexpected response")
        return data

    def download_job_log(self, owner: str, repo: str, job_id: int | str) -> IO[bytes]:
        """The job's log, spooled to a temporary file as it streams in."""
        path = f"{self._repo(owner, repo)}/jobs/{job_id}/logs"
        return self._download(path, f"the log of job {job_id}")

    def _download(self, path: str, what: str) -> IO[bytes]:
        """A file the API serves by a redirect to storage (logs, artifacts), spooled as it
        streams in. The redirect is followed without the credentials; a transfer cut
        short is a transient error."""
        response = self.github.request("GET", path, follow_redirects=False)
        if not response.is_redirect:  # some servers answer with the file itself
            spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
            spool.write(response.content)
            spool.seek(0)
            return spool
        location = response.headers.get("location", "")
        if not location:
            raise ProviderError(f"GET {path}: a redirect without a location")
        return self.storage.download(str(response.url.join(location)), what)

    def run_artifacts(self, owner: str, repo: str, run_id: int | str) -> list[Artifact]:
        """The artifacts of a workflow run (all pages)."""
        path = f"{self._repo(owner, repo)}/runs/{run_id}/artifacts"
        return [to_artifact(item) for item in self.github.pages(path, "artifacts")]

    def download_artifact(self, owner: str, repo: str, artifact_id: int | str) -> IO[bytes]:
        """An artifact as the zip file GitHub serves."""
        path = f"{self._repo(owner, repo)}/artifacts/{artifact_id}/zip"
        return self._download(path, f"artifact {artifact_id}")

    def rerun_job(self, owner: str, repo: str, job_id: int | str) -> None:
        """Run one job (and the jobs that depend on it) again, as a new attempt of its run."""
        self.github.request("POST", f"{self._repo(owner, repo)}/jobs/{job_id}/rerun", json={})

    def rerun_failed_jobs(self, owner: str, repo: str, run_id: int | str) -> None:
        """Run the failed jobs of a run (and their dependents) again, as a new attempt."""
        self.github.request(
            "POST", f"{self._repo(owner, repo)}/runs/{run_id}/rerun-failed-jobs", json={}
        )


# -- splitting a job log into its steps -------------------------------------------------

TIME_SLACK = timedelta(seconds=2)  # step times are whole seconds; the log's are not


@dataclass(frozen=True)
class _Start:
    """A line where the runner may have begun a step."""

    kind: str  # run | group | post | complete
    header: str  # for run/group: the group title
    offset: int
    line: int  # 1-based
    at: datetime | None


@dataclass
class StepSpan:
    """The part of a job log that belongs to one step: bytes [start, end), lines from
    `first_line` (1-based), `lines` of them."""

    number: int
    name: str
    start: int
    end: int
    first_line: int
    lines: int


def _kind_of(step: StepInfo, first: bool) -> str:
    if first or step.name == "Set up job":
        return "setup"
    if step.name.startswith("Post "):
        return "post"
    if step.name == "Complete job":
        return "complete"
    if step.name in ("Initialize containers", "Stop containers"):
        return "group"
    return "run"


def _names_match(step: str, header: str) -> bool:
    """Unnamed steps are called after their first line, as the runner prints it."""
    title = f"Run {header}"
    return step == title or (len(step) >= 20 and title.startswith(step))


def _scan_starts(stream: IO[bytes]) -> tuple[list[_Start], int, int]:
    """Candidate step starts, the size in bytes and the number of lines."""
    starts: list[_Start] = []
    offset = 0
    line = 0
    for raw in stream:
        line += 1
        text, at = raw, None
        stamp = ACTIONS_TIMESTAMP_PREFIX.match(raw)
        if stamp:
            at = parse_time(stamp.group(1).decode().strip())
            text = raw[stamp.end() :]
        if text.startswith(b"##[group]"):
            title = text[9:].rstrip().decode("utf-8", "replace")
            if title.startswith("Run "):
                starts.append(_Start("run", title[4:], offset, line, at))
            else:
                starts.append(_Start("group", title, offset, line, at))
        elif text.rstrip() == b"Post job cleanup.":
            starts.append(_Start("post", "", offset, line, at))
        elif text.rstrip() == b"Cleaning up orphan processes":
            starts.append(_Start("complete", "", offset, line, at))
        offset += len(raw)
    return starts, offset, line


def _in_window(step: StepInfo, start: _Start) -> bool:
    """The line was printed while the step ran (with some slack: step times are whole
    seconds)."""
    if start.at is None or step.started_at is None:
        return True
    if start.at < step.started_at - TIME_SLACK:
        return False
    return step.completed_at is None or start.at <= step.completed_at + TIME_SLACK


def _same_second(step: StepInfo, start: _Start) -> bool:
    """The runner prints a step's first line in the second GitHub gives as its start."""
    if start.at is None or step.started_at is None:
        return False
    return step.started_at <= start.at < step.started_at + timedelta(seconds=1)


_WORD = re.compile(r"[a-z0-9]+")
# Words of commands and action paths that say nothing about which step it is.
_COMMON_WORDS = frozenset(
    [
        "run",
        "uses",
        "with",
        "github",
        "actions",
        "action",
        "main",
        "master",
        "the",
        "a",
        "an",
        "and",
        "or",
        "for",
        "to",
        "of",
        "in",
        "on",
        "set",
        "echo",
        "if",
        "then",
        "sh",
        "bash",
        "py",
        "python",
        "python3",
        "true",
        "false",
        "env",
        "shell",
    ]
)


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in _COMMON_WORDS}


def _alike(a: str, b: str) -> bool:
    """The same word, give or take an ending ("monitor", "monitoring"; "log", "logs")."""
    if a == b or a.rstrip("s") == b.rstrip("s"):
        return True
    stem = min(len(a), len(b))
    return stem >= 4 and a[:stem] == b[:stem]


def _name_score(step: StepInfo, header: str) -> float:
    """How well a `##[group]Run …` title names the step: 1 for the title of an unnamed
    step, else the share of the step name's words found in the title (a named step
    that uses an action often shares words with its path: "Setup Linux" and
    "./.github/actions/setup-linux")."""
    if _names_match(step.name, header):
        return 1.0
    named = _words(step.name)
    titled = _words(header)
    if not named or not titled:
        return 0.0
    return sum(any(_alike(n, t) for t in titled) for n in named) / len(named) * 0.8


def _choose_starts(ran: list[StepInfo], kinds: list[str], starts: list[_Start]) -> list[int | None]:
    """For each step after the first, the line (index into `starts`) where it begins, or
    None: the best-scoring assignment of steps to candidate lines in order.

    A candidate must be of the kind the step calls for. It scores for being printed in
    the step's own start second (composite actions print their inner steps' titles in
    the same seconds as the steps around them), for lying in the step's time window,
    and for its title naming the step; among equals, a later line wins (the inner
    steps of the step before come first). Placing a step always beats leaving it out.
    """
    placed_bonus = 10.0
    # best[c]: the best assignment of the steps so far whose last step begins at c
    best: dict[int, tuple[float, tuple[int | None, ...]]] = {}
    choices: tuple[int | None, ...] = ()
    for i in range(1, len(ran)):
        step, kind = ran[i], kinds[i]
        ordered = sorted(best.items())
        prefix: list[tuple[float, tuple[int | None, ...]]] = []  # best up to each position
        running: tuple[float, tuple[int | None, ...]] = (0.0, choices)
        for _index, value in ordered:
            running = max(running, value, key=lambda v: v[0])
            prefix.append(running)
        keys = [index for index, _value in ordered]
        options = [c for c, start in enumerate(starts) if start.kind == kind]
        timely = [c for c in options if _in_window(step, starts[c])]
        new: dict[int, tuple[float, tuple[int | None, ...]]] = {}
        for c in timely or options:  # lines printed outside its time only when none inside
            start = starts[c]
            score = placed_bonus + (3.0 if _same_second(step, start) else 0.0)
            score += 3.0 * _name_score(step, start.header)
            score += c / (len(starts) * 100.0)  # later wins among equals
            position = _bisect_left(keys, c)
            before = prefix[position - 1] if position else (0.0, choices)
            new[c] = (before[0] + score, (*before[1], c))
        # Steps left out keep their predecessors' assignments (with None for this one).
        carried = {index: (value[0], (*value[1], None)) for index, value in best.items()}
        choices = (*choices, None)
        for index, value in new.items():
            if index not in carried or value[0] > carried[index][0]:
                carried[index] = value
        best = carried
    if not best:
        return list(choices)
    return list(max(best.values(), key=lambda v: v[0])[1])


def _bisect_left(keys: list[int], value: int) -> int:
    low, high = 0, len(keys)
    while low < high:
        middle = (low + high) // 2
        if keys[middle] < value:
            low = middle + 1
        else:
            high = middle
    return low


def split_job_log(stream: IO[bytes], steps: list[StepInfo]) -> list[StepSpan]:
    """Cut a job log into the steps that ran (in step-number order).

    Each step after "Set up job" is placed on a line the runner prints when a step
    begins, of the kind the step's name calls for (`_choose_starts` says which). A
    step with no such line left gets no span (its lines stay with the step before).
    An empty result means the steps are unknown: the log is one piece.
    """
    ran = sorted((s for s in steps if s.ran), key=lambda s: s.number)
    starts, size, line_count = _scan_starts(stream)
    if not ran:
        return []
    kinds = [_kind_of(step, i == 0) for i, step in enumerate(ran)]
    picks = _choose_starts(ran, kinds, starts)
    chosen: list[tuple[StepInfo, int, int]] = [(ran[0], 0, 1)]  # step, offset, line
    for step, pick in zip(ran[1:], picks, strict=True):
        if pick is not None:
            chosen.append((step, starts[pick].offset, starts[pick].line))
    spans = []
    for k, (step, offset, line) in enumerate(chosen):
        end, end_line = (
            (chosen[k + 1][1], chosen[k + 1][2]) if k + 1 < len(chosen) else (size, line_count + 1)
        )
        spans.append(StepSpan(step.number, step.name, offset, end, line, end_line - line))
    return spans


def read_span(stream: IO[bytes], start: int = 0, end: int | None = None) -> IO[bytes]:
    """Bytes [start, end) of a log as a file (spooled: memory stays bounded), ending
    with a newline: a log cut off mid-line still reads as whole lines."""
    piece = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115
    stream.seek(start)
    left = float("inf") if end is None else end - start
    last = b"\n"
    while left > 0:
        block = stream.read(int(min(left, 1024 * 1024)))
        if not block:
            break
        piece.write(block)
        left -= len(block)
        last = block[-1:]
    if last != b"\n":
        piece.write(b"\n")
    piece.seek(0)
    return piece
