"""GitHub's REST API: the one client citriage reaches GitHub with (no Django).

Reporting (check runs, comments), GitHub Actions (jobs, logs, reruns), the login's
membership check and the App registration all go through `GitHub`, which sends
every request through the project's HttpClient: timeouts, retries with backoff,
`Retry-After` and rate-limit headers honoured, errors sorted into transient and
permanent ones.

A GitHub App authenticates with a short-lived JWT signed by its private key, and
acts on a repository with an installation token it exchanges that JWT for; both
are cached until shortly before they expire.

Each identity (an installation, the App, a person's token) has an hourly budget of
calls. Every answer says what is left (`X-RateLimit-*`), which the client hands to
a `Budget`; before a call it asks the budget whether to hold off (a secondary
limit is in force, or less than `reserve` of the hour's calls is left) and raises
`RateLimited` instead of calling. GETs that are repeated (job lists, workflow runs,
a job) are conditional when a `ResponseCache` is given: an unchanged answer is a
304, which GitHub does not count against the budget.
"""

from __future__ import annotations

import base64
import hashlib
import json as jsonlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import jwt
from prometheus_client import Counter

from citriage.providers.base import ProviderError, RateLimited
from citriage.providers.http import HttpClient
from citriage.rules import parse_time

DEFAULT_URL = "https://api.github.com"
MAX_PAGES = 1000  # a guard against a server that never stops paginating
JWT_SECONDS = 540  # GitHub accepts App JWTs of up to 10 minutes
TOKEN_MARGIN = 300  # renew an installation token this long before it expires
# A rate limit asking for a longer wait than this is not waited for in the worker: the
# work is deferred (RateLimited) and other work goes on meanwhile.
RATE_WAIT = 10.0

Token = Callable[[], str]

RATE_LIMITED = Counter(
    "citriage_github_rate_limited",
    "GitHub calls deferred: held back by citriage before calling (reason=budget: a limit in "
    "force or only the reserve left), or answered with a rate limit (reason=limited)",
    ["reason"],
)
NOT_MODIFIED = Counter(
    "citriage_github_not_modified", "Conditional GitHub GETs answered 304 (not counted by GitHub)"
)


@dataclass(frozen=True)
class RateLimit:
    """One identity's budget of calls, as an answer's `X-RateLimit-*` headers give it."""

    resource: str
    limit: int
    remaining: int
    reset: float  # when the budget is full again, in seconds since the epoch

    @classmethod
    def from_headers(cls, headers: httpx.Headers) -> RateLimit | None:
        try:
            return cls(
                resource=headers.get("x-ratelimit-resource", "core"),
                limit=int(headers["x-ratelimit-limit"]),
                remaining=int(headers["x-ratelimit-remaining"]),
                reset=float(headers["x-ratelimit-reset"]),
            )
        except (KeyError, ValueError):
            return None


class Budget(Protocol):
    """Where the budgets of every identity are kept (shared by every process)."""

    def hold_until(self, identity: str, reserve: float) -> float | None:
        """When calls may be made again (seconds since the epoch), if they must wait: a
        secondary limit is in force, or less than `reserve` (a share of the limit) is left."""
        ...

    def observe(self, identity: str, limit: RateLimit) -> None: ...

    def held_off(self, identity: str, until: float) -> None:
        """GitHub asked this identity to wait until then (a secondary rate limit)."""
        ...


@dataclass(frozen=True)
class Cached:
    etag: str
    body: bytes
    next_url: str | None  # the `Link: rel=next` of the answer (a 304 need not repeat it)


class ResponseCache(Protocol):
    """Answers of GETs kept with their ETag, to ask again conditionally."""

    def get(self, key: str) -> Cached | None: ...

    def put(self, key: str, answer: Cached) -> None: ...


class GitHub:
    """REST calls as one identity: a token (or a function giving a fresh one), or none."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        token: str | Token = "",
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 1.0,
        sleep: Callable[[float], None] | None = None,
        page_size: int = 100,
        identity: str = "",
        budget: Budget | None = None,
        reserve: float = 0.0,
        cache: ResponseCache | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.page_size = page_size
        self.identity = identity or ("anonymous" if not token else "token")
        self.budget = budget
        self.reserve = reserve  # the share of the hourly budget this client leaves alone
        self.cache = cache
        extra: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
        self.http = HttpClient(
            self.base_url,
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            service="github",
            longest_wait=RATE_WAIT,
            on_response=self._observe,
            **extra,
        )

    def close(self) -> None:
        self.http.close()

    def _auth(self) -> dict[str, str]:
        token = self.token() if callable(self.token) else self.token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _observe(self, response: httpx.Response) -> None:
        limit = RateLimit.from_headers(response.headers)
        if limit is not None and self.budget is not None:
            self.budget.observe(self.identity, limit)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call (retried as HttpClient does); RateLimited, without calling, when the
        budget says to hold off."""
        if self.budget is not None:
            until = self.budget.hold_until(self.identity, self.reserve)
            if until is not None:
                left = max(0.0, until - time.time())
                RATE_LIMITED.labels("budget").inc()
                raise RateLimited(
                    f"{method} {path}: GitHub budget of {self.identity} kept back for {left:.0f} s",
                    until=until,
                )
        headers = {**self._auth(), **kwargs.pop("headers", {})}
        try:
            return self.http.request(method, path, headers=headers, **kwargs)
        except RateLimited as limited:
            RATE_LIMITED.labels("limited").inc()
            if self.budget is not None:
                self.budget.held_off(self.identity, limited.until)
            raise

    def _get(self, url: str, params: dict[str, Any] | None) -> tuple[Any, str | None]:
        """A GET's decoded JSON answer and its next page; conditional when a cache is
        kept (an unchanged answer comes from the cache and costs no budget)."""
        key = ""
        cached = None
        headers = {}
        if self.cache is not None:
            query = jsonlib.dumps(params or {}, sort_keys=True)
            key = hashlib.sha256(f"{self.identity} {url} {query}".encode()).hexdigest()
            cached = self.cache.get(key)
            if cached is not None:
                headers["If-None-Match"] = cached.etag
        response = self.request("GET", url, params=params, headers=headers)
        if response.status_code == 304 and cached is not None:
            NOT_MODIFIED.inc()
            body, next_url = cached.body, cached.next_url
        else:
            body = response.content
            next_url = response.links.get("next", {}).get("url")
            etag = response.headers.get("etag")
            if self.cache is not None and etag:
                self.cache.put(key, Cached(etag, body, next_url))
        if not body:
            return None, next_url
        try:
            return jsonlib.loads(body), next_url
        except ValueError:
            raise ProviderError(f"GET {url}: the response is not JSON") from None

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call's decoded JSON answer (None for an empty one)."""
        if method == "GET" and not kwargs.get("headers"):
            return self._get(path, kwargs.get("params"))[0]
        response = self.request(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ProviderError(f"{method} {path}: the response is not JSON") from None

    def pages(
        self, path: str, key: str | None = None, params: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list (following `Link: rel=next`); `key` names the
        list inside the answer's object, when the answer is not the list itself."""
        url: str | None = path
        query: dict[str, Any] | None = {"per_page": self.page_size, **(params or {})}
        for _ in range(MAX_PAGES):
            if url is None:
                return
            data, next_url = self._get(url, query)
            items = data.get(key) if key is not None and isinstance(data, dict) else data
            if not isinstance(items, list):
                raise ProviderError(f"GET {url}: expected a list{f' under {key!r}' if key else ''}")
            yield from (item for item in items if isinstance(item, dict))
            url = next_url
            query = None  # the next link carries the query
        raise ProviderError(f"GET {path}: more than {MAX_PAGES} pages")

    # -- repository contents (the CI configuration of a commit) ---------------------------

    def directory(self, owner: str, repo: str, path: str, ref: str) -> list[Entry] | None:
        """The files of a directory at commit `ref`, with their blob ids; None when the
        commit has no such directory."""
        try:
            listing = self.json(
                "GET", f"/repos/{owner}/{repo}/contents/{path}", params={"ref": ref}
            )
        except ProviderError as error:
            if error.status == 404:
                return None
            raise
        if not isinstance(listing, list):  # a file, not a directory
            return None
        return [
            Entry(str(item["path"]), str(item["sha"]), int(item.get("size") or 0))
            for item in listing
            if isinstance(item, dict) and item.get("type") == "file" and item.get("sha")
        ]

    def file(self, owner: str, repo: str, path: str, ref: str) -> bytes:
        """The bytes of one file at commit `ref` (base64 in the contents API's answer; a
        file too big for it is read through the git blob it names)."""
        answer = self.json("GET", f"/repos/{owner}/{repo}/contents/{path}", params={"ref": ref})
        if not isinstance(answer, dict) or answer.get("type", "file") != "file":
            raise ProviderError(f"{path} at {ref[:10]} is not a file")
        if answer.get("encoding") != "base64" and answer.get("sha"):
            answer = self.json("GET", f"/repos/{owner}/{repo}/git/blobs/{answer['sha']}")
        if not isinstance(answer, dict) or answer.get("encoding") != "base64":
            raise ProviderError(f"{path} at {ref[:10]}: no base64 content in GitHub's answer")
        try:
            return base64.b64decode(str(answer.get("content") or ""), validate=False)
        except ValueError:
            raise ProviderError(f"{path} at {ref[:10]}: the content is not base64") from None


@dataclass(frozen=True)
class Entry:
    """A file of a directory listing: its path, git blob id and size in bytes."""

    path: str
    sha: str
    size: int


@dataclass(frozen=True)
class AppCredentials:
    """A GitHub App: its id and private key (PEM)."""

    app_id: str
    private_key: str

    def jwt(self, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time()) - 60  # allow for clock drift
        claims = {"iat": issued, "exp": issued + JWT_SECONDS, "iss": self.app_id}
        try:
            return jwt.encode(claims, self.private_key, algorithm="RS256")
        except (ValueError, TypeError) as exc:  # not a usable RSA key
            raise ProviderError(f"the GitHub App's private key cannot sign: {exc}") from None


class InstallationTokens:
    """Installation tokens of one App, fetched with its JWT and reused until they near
    their expiry; safe to share between threads."""

    def __init__(self, app: AppCredentials, api: GitHub) -> None:
        self.app = app
        self.api = api  # a client without a token: the JWT is sent per call
        self._tokens: dict[int, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def token(self, installation_id: int) -> str:
        with self._lock:
            cached = self._tokens.get(installation_id)
            if cached is not None and cached[1] - TOKEN_MARGIN > time.time():
                return cached[0]
        answer = self.api.json(
            "POST",
            f"/app/installations/{installation_id}/access_tokens",
            headers={"Authorization": f"Bearer {self.app.jwt()}"},
        )
        if not isinstance(answer, dict) or not answer.get("token"):
            raise ProviderError(f"installation {installation_id}: GitHub gave no token")
        expires = parse_time(answer.get("expires_at"))
        until = expires.timestamp() if expires else time.time() + 3600
        with self._lock:
            self._tokens[installation_id] = (str(answer["token"]), until)
        return str(answer["token"])

    def for_installation(self, installation_id: int) -> Token:
        return lambda: self.token(installation_id)
