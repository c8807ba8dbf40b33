"""HTTP with the manners every external call needs: timeouts, retries with
exponential backoff, `Retry-After` and rate-limit headers honoured, and errors
sorted into transient (try again later) and permanent ones."""

from __future__ import annotations

import email.utils
import functools
import logging
import random
import ssl
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

import httpx
from prometheus_client import Counter

from citriage.providers.base import ProviderError, RateLimited, TransientProviderError

logger = logging.getLogger(__name__)

RETRY_STATUSES = {429, 500, 502, 503, 504}
SPOOL_IN_MEMORY = 32 * 1024 * 1024  # downloads larger than this go to a temporary file
MAX_WAIT = 300.0  # never sleep longer than this on one retry, whatever a server asks
# Sending these twice does no harm. A POST is sent again only when it surely did not
# arrive (no connection) or the server said it did not act on it (a rate limit): a
# second POST could create a second check run or comment.
IDEMPOTENT = {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"}
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
SECONDARY_LIMIT_WAIT = 60.0  # GitHub: after a secondary rate limit without a time, wait a minute

REQUESTS = Counter(
    "citriage_http_requests",
    "Outgoing HTTP requests, by service and answer (an HTTP status, or 'network')",
    ["service", "status"],
)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asks us to wait: Retry-After, rate-limit headers, or a 403/429
    saying a rate limit was hit (GitHub's secondary limits: wait a minute)."""
    value = response.headers.get("retry-after")
    if value:
        if value.strip().isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    if response.headers.get("x-ratelimit-remaining") == "0":
        reset = response.headers.get("x-ratelimit-reset", "")
        if reset.isdigit():
            return max(0.0, int(reset) - time.time())
    if response.status_code in (403, 429) and b"rate limit" in _body(response).lower():
        return SECONDARY_LIMIT_WAIT
    return None


def _body(response: httpx.Response) -> bytes:
    try:
        return response.content
    except httpx.ResponseNotRead:  # a streamed answer: its body is not looked at
        return b""


@functools.cache
def tls_context() -> ssl.SSLContext:
    """TLS verification as httpx sets it up by default (certifi's certificates, or
    SSL_CERT_FILE / SSL_CERT_DIR), made once per process and shared by every client:
    loading the certificates took about 70 ms of CPU, which each new client paid (two per
    GitHub Actions task: the API and its storage)."""
    return httpx.create_ssl_context()


class HttpClient:
    """A small wrapper over httpx.Client used by every provider."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        service: str = "other",
        longest_wait: float = MAX_WAIT,
        on_response: Callable[[httpx.Response], None] | None = None,
    ) -> None:
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self.timeout = timeout
        self.service = service  # for the request counter
        # A rate limit asking for a longer wait than this raises RateLimited (the caller
        # defers the work) instead of sleeping.
        self.longest_wait = longest_wait
        self.on_response = on_response  # sees every answer (rate-limit headers)
        self.client = httpx.Client(
            base_url=base_url,
            headers={"User-Agent": "citriage", **(headers or {})},
            timeout=timeout,
            follow_redirects=True,
            transport=transport,
            verify=tls_context(),
        )

    def close(self) -> None:
        self.client.close()

    def storage(self) -> HttpClient:
        """A client with the same manners for pre-signed storage URLs: no base URL and
        none of this client's headers (its credentials must not leak there)."""
        return HttpClient(
            "",
            timeout=self.timeout,
            retries=self.retries,
            backoff=self.backoff,
            sleep=self.sleep,
            service="storage",
        )

    def _wait(self, attempt: int, response: httpx.Response | None, problem: str) -> float:
        asked = retry_after(response) if response is not None else None
        if asked is not None:
            if asked > self.longest_wait:
                raise RateLimited(
                    f"{problem}: rate limited for {asked:.0f} s",
                    until=time.time() + asked,
                    status=response.status_code if response is not None else None,
                )
            return min(asked, MAX_WAIT)
        return float(min(self.backoff * (2**attempt) * (1 + random.random() / 4), MAX_WAIT))

    def _seen(self, response: httpx.Response | None) -> None:
        REQUESTS.labels(self.service, str(response.status_code) if response else "network").inc()
        if response is not None and self.on_response is not None:
            self.on_response(response)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send a request, retrying transient failures; raise ProviderError for the rest."""
        repeatable = method.upper() in IDEMPOTENT
        for attempt in range(self.retries + 1):
            response = None
            status = None
            try:
                response = self.client.request(method, url, **kwargs)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                self._seen(None)
                problem = f"{method} {url}: {type(exc).__name__}: {exc}"
                retry = repeatable or isinstance(exc, NOT_SENT)
            else:
                self._seen(response)
                status = response.status_code
                limited = retry_after(response) is not None and status in (403, 429)
                if status < 400:
                    return response
                if status not in RETRY_STATUSES and not limited:
                    raise ProviderError(
                        f"{method} {url}: HTTP {status}: {response.text[:300]}", status=status
                    )
                problem = f"{method} {url}: HTTP {status}"
                retry = repeatable or limited
            if attempt == self.retries or not retry:
                tries = f"gave up after {attempt + 1} tries" if retry else "not repeated"
                asked = retry_after(response) if response is not None else None
                if asked is not None:  # a rate limit: the time to come back is known
                    raise RateLimited(
                        f"{problem} ({tries})", until=time.time() + asked, status=status
                    )
                raise TransientProviderError(f"{problem} ({tries})", status=status)
            wait = self._wait(attempt, response, problem)
            logger.warning("%s; retrying in %.1fs", problem, wait)
            self.sleep(wait)
        raise AssertionError("unreachable")

    def get_json(self, url: str, **kwargs: Any) -> Any:
        response = self.request("GET", url, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise ProviderError(f"GET {url}: the response is not JSON") from None

    @contextmanager
    def stream(self, url: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A streamed GET; opening it is retried like `request`, reading it is the caller's."""
        for attempt in range(self.retries + 1):
            response = None
            try:
                request = self.client.build_request("GET", url, **kwargs)
                response = self.client.send(request, stream=True)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                self._seen(None)
                problem = f"GET {url}: {type(exc).__name__}: {exc}"
            else:
                self._seen(response)
                if response.status_code < 400:
                    break
                response.read()
                response.close()
                status = response.status_code
                limited = retry_after(response) is not None and status in (403, 429)
                if status not in RETRY_STATUSES and not limited:
                    raise ProviderError(f"GET {url}: HTTP {status}", status=status)
                problem = f"GET {url}: HTTP {status}"
            if attempt == self.retries:
                raise TransientProviderError(
                    f"{problem} (gave up after {attempt + 1} tries)",
                    status=response.status_code if response is not None else None,
                )
            self.sleep(self._wait(attempt, response, problem))
        assert response is not None
        try:
            yield response
        finally:
            response.close()

    def download(self, url: str, what: str) -> IO[bytes]:
        """The body at `url`, spooled as it streams in (memory stays bounded whatever the
        size); a transfer cut short is a transient error."""
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        try:
            with self.stream(url) as response:
                for chunk in response.iter_bytes(1024 * 1024):
                    spool.write(chunk)
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            spool.close()
            raise TransientProviderError(f"downloading {what}: {exc}") from exc
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool
