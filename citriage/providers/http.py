"""HTTP with the manners every external call needs: timeouts, retries with
exponential backoff, `Retry-After` and rate-limit headers honoured, and errors
sorted into transient (try again later) and permanent ones."""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx

from citriage.providers.base import ProviderError, TransientProviderError

logger = logging.getLogger(__name__)

RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_WAIT = 300.0  # never sleep longer than this on one retry, whatever a server asks


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
        self.client = httpx.Client(
            base_url=base_url,
            headers={"User-Agent": "citriage", **(headers or {})},
            timeout=timeout,
            follow_redirects=True,
            transport=transport,
        )

    def close(self) -> None:
        self.client.close()

    def _wait(self, attempt: int, response: httpx.Response | None) -> float:
        asked = retry_after(response) if response is not None else None
        if asked is not None:
            return min(asked, MAX_WAIT)
        return float(min(self.backoff * (2**attempt) * (1 + random.random() / 4), MAX_WAIT))

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send a request, retrying transient failures; raise ProviderError for the rest."""
        for attempt in range(self.retries + 1):
            response = None
            try:
                response = self.client.request(method, url, **kwargs)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                problem = f"{method} {url}: {type(exc).__name__}: {exc}"
            else:
                limited = response.status_code == 403 and retry_after(response) is not None
                if response.status_code < 400:
                    return response
                if response.status_code not in RETRY_STATUSES and not limited:
                    raise ProviderError(
                        f"{method} {url}: HTTP {response.status_code}: {response.text[:300]}"
                    )
                problem = f"{method} {url}: HTTP {response.status_code}"
            if attempt == self.retries:
                raise TransientProviderError(f"{problem} (gave up after {attempt + 1} tries)")
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
                if response.status_code not in RETRY_STATUSES:
                    raise ProviderError(f"GET {url}: HTTP {response.status_code}")
                problem = f"GET {url}: HTTP {response.status_code}"
            if attempt == self.retries:
                raise TransientProviderError(f"{problem} (gave up after {attempt + 1} tries)")
            self.sleep(self._wait(attempt, response))
        assert response is not None
        try:
            yield response
        finally:
            response.close()
