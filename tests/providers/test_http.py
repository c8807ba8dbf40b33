"""The HTTP client every provider uses: what each new client costs."""

from __future__ import annotations

import ssl

from citriage.providers.http import HttpClient


def _tls(client: HttpClient) -> ssl.SSLContext:
    return client.client._transport._pool._ssl_context  # type: ignore[attr-defined]


def test_clients_share_one_verifying_tls_context() -> None:
    # Loading the certificates cost each new client ~30-70 ms of CPU, and every GitHub
    # Actions task makes two (the API and its storage): they are loaded once per process.
    api = HttpClient("https://api.github.com")
    storage = api.storage()
    other = HttpClient("https://circleci.com/api")
    try:
        context = _tls(api)
        assert _tls(storage) is context and _tls(other) is context
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        assert context.cert_store_stats()["x509_ca"] > 0  # the certificates are loaded
    finally:
        for client in (api, storage, other):
            client.close()
