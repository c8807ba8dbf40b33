"""A stateful stand-in for GitHub's REST API, for the reporting tests.

A real HTTP server (tests.fakes.FakeServer) that keeps the check runs, statuses and
comments it is sent, answers with recorded GitHub payloads (from the shared corpus)
updated with what was sent, lists them back as GitHub does, and can be told to
fail: answer errors for a while, act and then answer an error (as GitHub does when
it times out after creating), or act and then hold the answer back.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import itertools
import json
import re
import threading
import time
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
    # commit sha -> {path: content}: the repository's files at that commit (contents API)
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        def recorded(name: str) -> Any:
            data = json.loads((self.corpus / "github-api" / name).read_text())
            return data.get("body", data) if isinstance(data, dict) else data

        self.check_run_template = recorded("check-runs/pygithub.CheckRun.setUp.1.json")
        self.status_template = recorded("statuses/pygithub.CommitStatus.setUp.1.json")[0]
        self.ids = itertools.count(7_000_001)
        self.lock = threading.Lock()
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

    def _answer(self, seen: Seen) -> Reply:
        fault = self._fault(seen)
        if fault is not None and not fault.act_first and fault.reply is not None:
            return fault.reply
        reply = self._act(seen)
        if fault is not None:
            time.sleep(fault.delay)
            if fault.reply is not None:
                return fault.reply
        return reply

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
            return json_reply(run, 201)
        if method == "PATCH" and run_id is not None:
            run = self.check_runs.get(int(run_id))
            if run is None:
                return Reply(404, b'{"message": "Not Found"}')
            run.update(seen.json())
            return json_reply(run)
        return Reply(404, b'{"message": "Not Found"}')


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
