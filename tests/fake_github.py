"""A stateful stand-in for GitHub's REST API, for the reporting tests and the soak bench.

A real HTTP server (tests.fakes.FakeServer) that keeps the check runs, statuses and
comments it is sent, answers with recorded GitHub payloads (from the shared corpus)
updated with what was sent, lists them back as GitHub does, and can be told to
fail: answer errors for a while, act and then answer an error (as GitHub does when
it times out after creating), or act and then hold the answer back.

It serves GitHub Actions too (workflow runs, their jobs and artifacts, a job, a job's log) from
what it is given, and can enforce a budget as GitHub does: every answer carries
`X-RateLimit-*` headers for its caller (an installation token, or the App's JWT),
a call past the budget is refused with 403, and a GET asked again with the ETag of
an unchanged answer gets a 304 that costs nothing.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import itertools
import json
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import override_settings

from citriage.ci import github_app
from tests.fakes import FakeServer, Reply, Seen, json_reply

INSTALLATION = 4242
TOKEN = "ghs_installation_token"


@functools.cache
def app_private_key() -> str:
    """A GitHub App's private key (PEM), as GitHub gives one: a fresh RSA key, made once."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    reply: Reply | None  # None: answer normally (after the delay)
    times: int  # how many matching requests it applies to
    act_first: bool = False  # do what was asked, then answer `reply`
    delay: float = 0.0  # seconds to hold the answer back (after acting)


@dataclass
class FakeGitHub:
    corpus: Path
    server: FakeServer = field(default_factory=FakeServer)
    check_runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    job_logs: dict[int, bytes] = field(default_factory=dict)  # Actions job id -> its log
    jobs: dict[int, dict[str, Any]] = field(default_factory=dict)  # Actions job id -> job
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)  # workflow run id -> run
    # workflow run id -> its artifacts (none unless given, as for most runs)
    artifacts: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    # commit sha -> {path: content}: the repository's files at that commit (contents API)
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    # The budget: None, no rate-limit headers; else calls per caller per `rate_window` s.
    rate_limit: int | None = None
    rate_window: float = 3600.0
    used: Counter[str] = field(default_factory=Counter)  # calls counted, per caller
    refused: Counter[str] = field(default_factory=Counter)  # calls refused past the budget
    not_modified: int = 0  # 304s answered
    # (time.time(), head sha, status, conclusion) of every check run written
    check_run_writes: list[tuple[float, str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        def recorded(name: str) -> Any:
            data = json.loads((self.corpus / "github-api" / name).read_text())
            return data.get("body", data) if isinstance(data, dict) else data

        self.check_run_template = recorded("check-runs/pygithub.CheckRun.setUp.1.json")
        self.status_template = recorded("statuses/pygithub.CommitStatus.setUp.1.json")[0]
        self.ids = itertools.count(7_000_001)
        self.lock = threading.Lock()
        self.window_start = time.time()
        self.server.fallback = self._answer

    @property
    def url(self) -> str:
        return self.server.url

    def close(self) -> None:
        self.server.close()

    def fail(
        self,
        method: str,
        path: str,
        reply: Reply | None,
        *,
        times: int = 1,
        act_first: bool = False,
        delay: float = 0.0,
    ) -> None:
        """The next `times` requests matching (`method`, the regex `path`) get `reply`."""
        self.faults.append(Fault(method, re.compile(path), reply, times, act_first, delay))

    def writes(self) -> list[Seen]:
        return [r for r in self.server.requests if r.method in ("POST", "PATCH", "PUT")]

    # -- the API ---------------------------------------------------------------------------

    def _fault(self, seen: Seen) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.method == seen.method and fault.path.search(seen.path) and fault.times:
                    fault.times -= 1
                    return fault
        return None

    # -- the budget -------------------------------------------------------------------------

    @staticmethod
    def caller(seen: Seen) -> str:
        """Whose budget a call counts against: the App (a JWT) or the token."""
        credential = seen.headers.get("authorization", "").removeprefix("Bearer ")
        return "app" if credential.count(".") == 2 else credential or "anonymous"

    def _window(self) -> float:
        """The end of the current window (a new one starts when it passes)."""
        now = time.time()
        if now >= self.window_start + self.rate_window:
            self.window_start = now
            self.used.clear()
        return self.window_start + self.rate_window

    def _rate_headers(self, caller: str, reset: float) -> dict[str, str]:
        assert self.rate_limit is not None
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - self.used[caller])),
            "X-RateLimit-Used": str(self.used[caller]),
            "X-RateLimit-Reset": str(math.ceil(reset)),
            "X-RateLimit-Resource": "core",
        }

    def _answer(self, seen: Seen) -> Reply:
        if self.rate_limit is None:
            return self._answer_unlimited(seen)
        caller = self.caller(seen)
        with self.lock:
            reset = self._window()
            if self.used[caller] >= self.rate_limit:
                self.refused[caller] += 1
                message = b'{"message": "API rate limit exceeded for installation ID 4242."}'
                return Reply(403, message, self._rate_headers(caller, reset))
        reply = self._answer_unlimited(seen)
        etag = reply.headers.get("ETag", "")
        asked = seen.headers.get("if-none-match")
        with self.lock:
            reset = self._window()
            if seen.method == "GET" and etag and asked == etag:
                self.not_modified += 1  # GitHub does not count these
                return Reply(304, b"", {"ETag": etag, **self._rate_headers(caller, reset)})
            self.used[caller] += 1
            return Reply(
                reply.status, reply.body, {**reply.headers, **self._rate_headers(caller, reset)}
            )

    def _answer_unlimited(self, seen: Seen) -> Reply:
        fault = self._fault(seen)
        if fault is not None and not fault.act_first and fault.reply is not None:
            return fault.reply
        reply = self._act(seen)
        if seen.method == "GET" and reply.status == 200:
            reply.headers["ETag"] = '"' + hashlib.sha1(reply.body).hexdigest() + '"'
        if fault is not None:
            time.sleep(fault.delay)
            if fault.reply is not None:
                return fault.reply
        return reply

    def _page(self, seen: Seen, key: str, items: list[dict[str, Any]]) -> Reply:
        """One page of a list, with a `Link: rel=next` while more are left."""
        size = int(seen.query.get("per_page", ["30"])[0])
        page = int(seen.query.get("page", ["1"])[0])
        chosen = items[(page - 1) * size : page * size]
        headers = {}
        if page * size < len(items):
            query = "&".join(
                f"{name}={values[0]}" for name, values in seen.query.items() if name != "page"
            )
            headers["Link"] = f'<{self.url}{seen.path}?{query}&page={page + 1}>; rel="next"'
        return json_reply({"total_count": len(items), key: chosen}, headers=headers)

    def _act(self, seen: Seen) -> Reply:
        path, method = seen.path, seen.method
        if re.fullmatch(r"/repos/[^/]+/[^/]+/installation", path):
            return json_reply({"id": INSTALLATION, "app_id": 1})
        if path == f"/app/installations/{INSTALLATION}/access_tokens":
            return json_reply({"token": TOKEN, "expires_at": "2099-01-01T00:00:00Z"}, 201)
        if found := re.fullmatch(r"/repos/[^/]+/[^/]+/actions/jobs/(\d+)/logs", path):
            log = self.job_logs.get(int(found.group(1)))
            if log is None:
                return Reply(404, b'{"message": "Not Found"}')
            return Reply(200, log, {"Content-Type": "text/plain"})  # the log itself, no redirect
        if found := re.fullmatch(r"/repos/[^/]+/[^/]+/actions/jobs/(\d+)", path):
            job = self.jobs.get(int(found.group(1)))
            return json_reply(job) if job else Reply(404, b'{"message": "Not Found"}')
        if found := re.fullmatch(r"/repos/[^/]+/[^/]+/actions/runs/(\d+)/jobs", path):
            run_id = int(found.group(1))
            jobs = [job for job in self.jobs.values() if job.get("run_id") == run_id]
            return self._page(seen, "jobs", sorted(jobs, key=lambda job: job["id"]))
        if found := re.fullmatch(r"/repos/[^/]+/[^/]+/actions/runs/(\d+)/artifacts", path):
            return self._page(seen, "artifacts", self.artifacts.get(int(found.group(1)), []))
        if re.fullmatch(r"/repos/[^/]+/[^/]+/actions/runs", path):
            branch = seen.query.get("branch", [None])[0]
            runs = [run for run in self.runs.values() if branch in (None, run["head_branch"])]
            return self._page(seen, "workflow_runs", sorted(runs, key=lambda run: -run["id"]))
        if found := re.fullmatch(r"/repos/[^/]+/[^/]+/contents/(.+)", path):
            return self._contents(found.group(1), seen.query.get("ref", [""])[0])
        if found := re.fullmatch(r"/repos/[^/]+/[^/]+/check-runs(?:/(\d+))?", path):
            return self._check_run(method, found.group(1), seen)
        if found := re.fullmatch(r"/repos/[^/]+/[^/]+/commits/([0-9a-f]+)/check-runs", path):
            name = seen.query.get("check_name", [None])[0]
            runs = [
                run
                for run in self.check_runs.values()
                if run["head_sha"] == found.group(1) and name in (None, run["name"])
            ]
            return json_reply({"total_count": len(runs), "check_runs": runs})
        if found := re.fullmatch(r"/repos/[^/]+/[^/]+/statuses/([0-9a-f]+)", path):
            status = {**copy.deepcopy(self.status_template), **seen.json(), "sha": found.group(1)}
            self.statuses.append(status)
            return json_reply(status, 201)
        if found := re.fullmatch(r"/repos/[^/]+/[^/]+/issues/(\d+)/comments", path):
            if method == "POST":
                comment = {"id": next(self.ids), "issue": int(found.group(1)), **seen.json()}
                self.comments[comment["id"]] = comment
                return json_reply(comment, 201)
            issue = int(found.group(1))
            return json_reply([c for c in self.comments.values() if c["issue"] == issue])
        if found := re.fullmatch(r"/repos/[^/]+/[^/]+/issues/comments/(\d+)", path):
            comment = self.comments.get(int(found.group(1)))
            if comment is None:
                return Reply(404, b'{"message": "Not Found"}')
            comment.update(seen.json())
            return json_reply(comment)
        return Reply(404, b'{"message": "Not Found (no such route in the fake GitHub)"}')

    def _contents(self, path: str, ref: str) -> Reply:
        """GitHub's contents API: a file (base64, with its blob id) or a directory listing."""
        tree = self.files.get(ref)
        if tree is None:
            return Reply(404, b'{"message": "No commit found for the ref"}')
        if path in tree:
            data = tree[path]
            encoded = base64.encodebytes(data).decode()  # GitHub wraps the base64 in lines
            return json_reply(
                {
                    "type": "file",
                    "encoding": "base64",
                    "content": encoded,
                    **self._entry(path, data),
                }
            )
        inside = sorted(p for p in tree if p.startswith(path.rstrip("/") + "/"))
        listing = [
            {"type": "file", **self._entry(p, tree[p])}
            for p in inside
            if "/" not in p[len(path) + 1 :]
        ]
        if not listing:
            return Reply(404, b'{"message": "Not Found"}')
        return json_reply(listing)

    @staticmethod
    def _entry(path: str, data: bytes) -> dict[str, Any]:
        blob = hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()
        return {"name": path.rsplit("/", 1)[-1], "path": path, "sha": blob, "size": len(data)}

    def _check_run(self, method: str, run_id: str | None, seen: Seen) -> Reply:
        if method == "POST" and run_id is None:
            run = {**copy.deepcopy(self.check_run_template), **seen.json(), "id": next(self.ids)}
            self.check_runs[run["id"]] = run
            self._written(run)
            return json_reply(run, 201)
        if method == "PATCH" and run_id is not None:
            run = self.check_runs.get(int(run_id))
            if run is None:
                return Reply(404, b'{"message": "Not Found"}')
            run.update(seen.json())
            self._written(run)
            return json_reply(run)
        return Reply(404, b'{"message": "Not Found"}')

    def _written(self, run: dict[str, Any]) -> None:
        with self.lock:
            self.check_run_writes.append(
                (time.time(), run["head_sha"], run.get("status", ""), run.get("conclusion") or "")
            )


@contextmanager
def app_on(fake: FakeGitHub, **overrides: Any) -> Iterator[None]:
    """citriage configured with a GitHub App whose GitHub is `fake`."""
    values = {
        "GITHUB_APP_ID": "123",
        "GITHUB_PRIVATE_KEY": app_private_key(),
        "GITHUB_API_URL": fake.url,
        "HTTP_BACKOFF": 0.01,
        "HTTP_RETRIES": 1,
        **overrides,
    }
    with override_settings(**values):
        github_app._tokens.cache_clear()
        try:
            yield
        finally:
            github_app._tokens.cache_clear()
