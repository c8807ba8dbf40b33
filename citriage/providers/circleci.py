"""CircleCI API client (v1.1 for builds and step output, v2 for test results and reruns).

Returns plain dataclasses; knows nothing of Django. The token goes in the
`Circle-Token` header, and only to the API: step output lives on pre-signed
storage URLs that must not receive it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlsplit

import httpx

from citriage.providers.base import JobRun, ProviderError, StepRun
from citriage.providers.http import HttpClient
from citriage.rules import parse_time

DEFAULT_URL = "https://circleci.com/api"
PAGE_SIZE = 100
PROVIDER = "circleci"

# v1.1 build status -> (our status, our conclusion)
_STATUS = {
    "success": ("completed", "success"),
    "fixed": ("completed", "success"),
    "failed": ("completed", "failure"),
    "timedout": ("completed", "timed_out"),
    "canceled": ("completed", "cancelled"),
    "infrastructure_fail": ("completed", "infrastructure_fail"),
    "not_run": ("completed", "skipped"),
    "retried": ("completed", "cancelled"),
    "running": ("running", ""),
    "queued": ("queued", ""),
    "scheduled": ("queued", ""),
    "not_running": ("queued", ""),
}

_BUILD_URL = re.compile(r"/(?:gh|github|bb|bitbucket)/([^/]+)/([^/]+)/(\d+)")
_PIPELINES_URL = re.compile(
    r"/pipelines/(?:gh|github|bb|bitbucket)/([^/]+)/([^/]+)/\d+/workflows/[^/]+/jobs/(\d+)"
)


def build_number_from_url(url: str) -> tuple[str, str, int] | None:
    """(owner, repo, build number) from a CircleCI build link (as in GitHub statuses)."""
    parts = urlsplit(url or "")
    if not parts.netloc.endswith("circleci.com"):
        return None
    found = _PIPELINES_URL.search(parts.path) or _BUILD_URL.search(parts.path)
    if not found:
        return None
    return found.group(1), found.group(2), int(found.group(3))


def job_name(build: dict[str, Any]) -> str:
    workflows = build.get("workflows") or {}
    params = build.get("build_parameters") or {}
    return str(
        workflows.get("job_name") or build.get("job_name") or params.get("CIRCLE_JOB") or "build"
    )


def to_job_run(build: dict[str, Any], *, with_steps: bool) -> JobRun:
    """A v1.1 build (summary or details) as a JobRun."""
    status, conclusion = _STATUS.get(
        str(build.get("status") or build.get("lifecycle")), ("queued", "")
    )
    if build.get("lifecycle") == "finished" and status != "completed":
        status, conclusion = "completed", conclusion or "failure"
    workflows = build.get("workflows") or {}
    steps = None
    if with_steps:
        steps = []
        for index, step in enumerate(build.get("steps") or []):
            for action in step.get("actions") or []:
                steps.append(
                    StepRun(
                        name=str(step.get("name") or action.get("name") or f"step {index}"),
                        index=index,
                        container=int(action.get("index") or 0),
                        status=str(action.get("status") or ""),
                        timed_out=bool(action.get("timedout")),
                        exit_code=action.get("exit_code"),
                        output_url=str(action.get("output_url") or ""),
                        has_output=bool(action.get("has_output", True)),
                    )
                )
    return JobRun(
        provider=PROVIDER,
        provider_id=str(build["build_num"]),
        name=job_name(build),
        sha=str(build.get("vcs_revision") or ""),
        status=status,
        conclusion=conclusion,
        workflow=str(workflows.get("workflow_name") or ""),
        workflow_id=str(workflows.get("workflow_id") or ""),
        branch=str(build.get("branch") or ""),
        url=str(build.get("build_url") or ""),
        queued_at=parse_time(build.get("queued_at")),
        started_at=parse_time(build.get("start_time")),
        finished_at=parse_time(build.get("stop_time")),
        steps=steps,
        extra={
            "retry_of": build.get("retry_of"),
            "job_id": workflows.get("job_id") or "",
        },
    )


@dataclass
class TestResult:
    name: str
    classname: str
    file: str
    result: str
    message: str
    run_time: float


class CircleCI:
    def __init__(
        self,
        token: str = "",
        base_url: str = DEFAULT_URL,
        *,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 1.0,
        sleep: Callable[[float], None] | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.page_size = page_size
        headers = {"Accept": "application/json"}
        if token:
            headers["Circle-Token"] = token
        extra: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
        self.api = HttpClient(
            base_url.rstrip("/"),
            headers=headers,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            service="circleci",
            **extra,
        )
        # Step output is on pre-signed storage URLs: no token, no base URL.
        self.storage = self.api.storage()

    def close(self) -> None:
        self.api.close()
        self.storage.close()

    # -- v1.1 ----------------------------------------------------------------

    def _project(self, owner: str, repo: str, vcs: str = "github") -> str:
        return f"/v1.1/project/{vcs}/{owner}/{repo}"

    def builds(
        self,
        owner: str,
        repo: str,
        *,
        branch: str | None = None,
        stop: Callable[[dict[str, Any]], bool] = lambda build: False,
        max_builds: int = 10_000,
    ) -> Iterator[JobRun]:
        """Builds of a project (of one branch), newest first, page by page, until
        `stop(build)` says the rest is already known."""
        path = self._project(owner, repo)
        if branch:
            path += f"/tree/{httpx.URL(branch).raw_path.decode()}"
        offset = 0
        while offset < max_builds:
            params = {"limit": self.page_size, "offset": offset, "shallow": "true"}
            page = self.api.get_json(path, params=params)
            if not isinstance(page, list):
                raise ProviderError(f"GET {path}: expected a list of builds")
            for build in page:
                if stop(build):
                    return
                yield to_job_run(build, with_steps=False)
            if len(page) < self.page_size:
                return
            offset += self.page_size

    def build(self, owner: str, repo: str, number: int) -> JobRun:
        """Build details, with every action of every step and container."""
        data = self.api.get_json(f"{self._project(owner, repo)}/{number}")
        if not isinstance(data, dict) or "build_num" not in data:
            raise ProviderError(f"build {owner}/{repo}/{number}: unexpected response")
        return to_job_run(data, with_steps=True)

    def download_output(self, output_url: str) -> IO[bytes]:
        """An action's output (the JSON array of out/err messages), spooled as it streams in."""
        return self.storage.download(output_url, "step output")

    # -- v2 ------------------------------------------------------------------

    def test_results(self, owner: str, repo: str, job_number: int) -> list[TestResult]:
        """Every test result of a job (all pages)."""
        results: list[TestResult] = []
        token = None
        path = f"/v2/project/gh/{owner}/{repo}/{job_number}/tests"
        while True:
            params = {"page-token": token} if token else None
            page = self.api.get_json(path, params=params)
            for item in page.get("items") or []:
                results.append(
                    TestResult(
                        name=str(item.get("name") or ""),
                        classname=str(item.get("classname") or ""),
                        file=str(item.get("file") or ""),
                        result=str(item.get("result") or ""),
                        message=str(item.get("message") or ""),
                        run_time=float(item.get("run_time") or 0),
                    )
                )
            token = page.get("next_page_token")
            if not token:
                return results

    def rerun_jobs(self, workflow_id: str, job_ids: list[str]) -> dict[str, Any]:
        """Rerun chosen jobs of a workflow."""
        response = self.api.request(
            "POST", f"/v2/workflow/{workflow_id}/rerun", json={"jobs": job_ids}
        )
        result: dict[str, Any] = response.json()
        return result
