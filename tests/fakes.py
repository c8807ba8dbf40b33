"""Local stand-ins for services that cannot be reached from here (CircleCI, GitHub).

A FakeServer is a real HTTP server on 127.0.0.1 (real sockets, real HTTP)
that answers with recorded responses from the shared corpus and records every
request it gets, so tests can check method, path, headers and body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


Responder = Callable[[Seen], Reply]


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # bursts of connections wait instead of being refused


class FakeServer:
    def __init__(self, *, keep_requests: bool = True, port: int = 0) -> None:
        self.routes: dict[tuple[str, str], list[Reply | Responder]] = {}
        self.fallback: Responder | None = None  # answers what no route does
        self.keep_requests = keep_requests  # a long benchmark only counts them
        self.count = 0
        self.requests: list[Seen] = []
        self.unexpected: list[Seen] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                seen = Seen(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                    time.monotonic(),
                )
                reply = server._reply(seen)
                self.send_response(reply.status)
                for name, value in {"Content-Type": "application/json", **reply.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = _Server(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True  # a held-back answer must not hold up closing
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def on(self, method: str, path: str, *replies: Reply | Responder) -> None:
        """Answer `method path` with these replies in turn (the last one repeats)."""
        self.routes[(method, path)] = list(replies)

    def _reply(self, seen: Seen) -> Reply:
        with self.lock:
            self.count += 1
            if self.keep_requests:
                self.requests.append(seen)
            queue = self.routes.get((seen.method, seen.path))
            if not queue:
                if self.fallback is not None:
                    return self.fallback(seen)
                self.unexpected.append(seen)
                return Reply(404, b'{"message": "Not Found (fake server has no such route)"}')
            reply = queue.pop(0) if len(queue) > 1 else queue[0]
        return reply(seen) if callable(reply) else reply

    def seen(self, method: str, path: str) -> list[Seen]:
        return [r for r in self.requests if r.method == method and r.path == path]


def json_reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(data).encode(), headers or {})


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(base_url: str, secret: str, event: str, payload: Any) -> int:
    """POST `payload` to citriage's webhook endpoint as GitHub would (signed, a new
    delivery id); the answer's status."""
    body = json.dumps(payload).encode()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(secret, body),
    }
    return httpx.post(f"{base_url}/webhooks/github", content=body, headers=headers).status_code
