"""HTTP with the manners every external call needs: timeouts, retries with
exponential backoff, `Retry-After` and rate-limit headers honoured, and errors
sorted into transient (try again later) and permanent ones."""

from __future__ import annotations

import email.utils
import logging
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

import httpx

from citriage.providers.base import ProviderError, TransientProviderError

logger = logging.getLogger(__name__)

RETRY_STATUSES = {429, 500, 502, 503, 504}
SPOOL_IN_MEMORY = 32 * 1024 * 1024  # downloads larger than this go to a temporary file
MAX_WAIT = 300.0  # never sleep longer than this on one retry, whatever a server asks
# Sending these twice does no harm. A POST is sent again only when it surely did not
# arrive (no connection) or the server said it did not act on it (a rate limit): a
# second POST could create a second check run or comment.
IDEMPOTENT = {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"}
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asks us to wait, from Retry-After or rate-limit headers."""
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
    return None


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
    ) -> None:
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self.timeout = timeout
        self.client = httpx.Client(
            base_url=base_url,
            headers={"User-Agent": "citriage", **(headers or {})},
            timeout=timeout,
            follow_redirects=True,
            transport=transport,
        )

    def close(self) -> None:
        self.client.close()

    def storage(self) -> HttpClient:
        """A client with the same manners for pre-signed storage URLs: no base URL and
        none of this client's headers (its credentials must not leak there)."""
        return HttpClient(
            "", timeout=self.timeout, retries=self.retries, backoff=self.backoff, sleep=self.sleep
        )

    def _wait(self, attempt: int, response: httpx.Response | None) -> float:
        asked = retry_after(response) if response is not None else None
        if asked is not None:
            return min(asked, MAX_WAIT)
        return float(min(self.backoff * (2**attempt) * (1 + random.random() / 4), MAX_WAIT))

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send a request, retrying transient failures; raise ProviderError for the rest."""
        repeatable = method.upper() in IDEMPOTENT
        for attempt in range(self.retries + 1):
            response = None
            status = None
            try:
                response = self.client.request(method, url, **kwargs)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                problem = f"{method} {url}: {type(exc).__name__}: {exc}"
                retry = repeatable or isinstance(exc, NOT_SENT)
            else:
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
                raise TransientProviderError(f"{problem} ({tries})", status=status)
            wait = self._wait(attempt, response)
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
                problem = f"GET {url}: {type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400:
                    break
                response.read()
                response.close()
                status = response.status_code
                if status not in RETRY_STATUSES:
                    raise ProviderError(f"GET {url}: HTTP {status}", status=status)
                problem = f"GET {url}: HTTP {status}"
            if attempt == self.retries:
                raise TransientProviderError(
                    f"{problem} (gave up after {attempt + 1} tries)",
                    status=response.status_code if response is not None else None,
                )
            self.sleep(self._wait(attempt, response))
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
