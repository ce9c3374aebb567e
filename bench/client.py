"""The load client: keep-alive HTTP per thread (stdlib only), a browser-like web session for the
pages that are forms, timed load loops and latency figures.

The client runs on the same machine as the server it measures, so it takes a share of the same
cores; every figure is recorded with that caveat.
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_RETRYABLE = (
    http.client.RemoteDisconnected,
    http.client.CannotSendRequest,
    http.client.ResponseNotReady,
    BrokenPipeError,
    ConnectionResetError,
)


@dataclass
class Reply:
    status: int
    body: Any
    seconds: float
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def error_code(self) -> str:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"].get("code", ""))
        return ""


class Api:
    """JSON requests to the portal; each thread keeps its own keep-alive connection."""

    def __init__(self, base_url: str, *, timeout: float = 120.0) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.timeout = timeout
        self._local = threading.local()

    def _connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def raw(
        self,
        method: str,
        path: str,
        *,
        body: bytes | Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes, float]:
        """One request; a keep-alive connection the server closed meanwhile is reopened once
        (safe: every POST the benchmarks send is idempotent or refused on replay)."""
        headers = dict(headers or {})
        for attempt in (0, 1):
            conn = self._connection(fresh=attempt == 1)
            started = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except _RETRYABLE:
                if attempt == 1 or not isinstance(body, bytes | type(None)):
                    raise
                continue
            elapsed = time.perf_counter() - started
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            return response.status, dict(response.getheaders()), data, elapsed
        raise AssertionError("unreachable")

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        headers = dict(headers or {})
        body = None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        status, response_headers, data, elapsed = self.raw(method, path, body=body, headers=headers)
        parsed: Any = None
        if data:
            try:
                parsed = json.loads(data)
            except ValueError:
                parsed = data.decode("utf-8", "replace")
        return Reply(status, parsed, elapsed, response_headers)

    def get(self, path: str, *, token: str | None = None) -> Reply:
        return self.call("GET", path, token=token)

    def post(self, path: str, body: Any, *, token: str | None = None, **kw: Any) -> Reply:
        return self.call("POST", path, token=token, json_body=body, **kw)

    def token(self, email: str, password: str) -> str:
        reply = self.post("/api/v1/auth/token", {"email": email, "password": password})
        if reply.status != 200:
            raise RuntimeError(f"token for {email}: {reply.status} {reply.body!r:.300}")
        return reply.body["token"]


_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class WebSession:
    """A signed-in browser: session cookie and CSRF token, for the pages that are forms."""

    def __init__(self, api: Api) -> None:
        self.api = Api(f"http://{api.host}:{api.port}", timeout=api.timeout)
        self.cookies: dict[str, str] = {}

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def _keep_cookies(self, headers: dict[str, str]) -> None:
        for name, value in headers.items():
            if name.lower() == "set-cookie":
                for part in value.split(", "):
                    pair = part.split(";", 1)[0]
                    if "=" in pair:
                        key, val = pair.split("=", 1)
                        self.cookies[key.strip()] = val.strip()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        status, response_headers, data, _ = self.api.raw(
            method, path, body=body, headers=self._headers(headers)
        )
        self._keep_cookies(response_headers)
        return status, response_headers, data

    def csrf(self, path: str) -> str:
        status, _h, data = self.request("GET", path)
        match = _CSRF.search(data.decode("utf-8", "replace"))
        if status != 200 or not match:
            raise RuntimeError(f"no CSRF token on {path} ({status})")
        return match.group(1)

    def post_form(self, path: str, fields: dict[str, str], *, csrf_from: str) -> tuple[int, str]:
        fields = {**fields, "csrf_token": self.csrf(csrf_from)}
        body = urllib.parse.urlencode(fields).encode()
        status, headers, _data = self.request(
            "POST", path, body=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        return status, headers.get("Location", "")

    def login(self, email: str, password: str) -> None:
        status, _location = self.post_form(
            "/login", {"email": email, "password": password}, csrf_from="/login"
        )
        if status != 302:
            raise RuntimeError(f"web sign-in of {email} failed: {status}")

    def upload(
        self, path: str, file_field: str, file_path: Path, *, csrf_from: str
    ) -> tuple[int, str]:
        """POST a multipart form with one file, streamed from disk."""
        boundary = "bench" + secrets.token_hex(12)
        token = self.csrf(csrf_from)
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
            f"{token}\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
            f'filename="{file_path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        size = len(head) + file_path.stat().st_size + len(tail)

        def chunks() -> Iterator[bytes]:
            yield head
            with open(file_path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    yield chunk
            yield tail

        status, headers, _data = self.request(
            "POST",
            path,
            body=chunks(),
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(size),
            },
        )
        return status, headers.get("Location", "")


# -- figures -------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, int(round(fraction * len(sorted_values) + 0.4999)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_figures(seconds: list[float], elapsed: float) -> dict[str, Any]:
    values = sorted(seconds)
    ms = [v * 1000 for v in values]
    return {
        "count": len(values),
        "elapsed_s": round(elapsed, 3),
        "per_s": round(len(values) / elapsed, 2) if elapsed > 0 else 0.0,
        "p50_ms": round(percentile(ms, 0.50), 2),
        "p95_ms": round(percentile(ms, 0.95), 2),
        "p99_ms": round(percentile(ms, 0.99), 2),
        "max_ms": round(ms[-1], 2) if ms else 0.0,
        "mean_ms": round(sum(ms) / len(ms), 2) if ms else 0.0,
    }


@dataclass
class LoadResult:
    figures: dict[str, Any]
    outcomes: Counter[str]
    failed_seconds: list[float]


def run_load(
    clients: int,
    step: Callable[[int, int], tuple[float, str, bool]],
    *,
    seconds: float | None = None,
    stop: Callable[[int], bool] | None = None,
) -> LoadResult:
    """Run `step(client, i)` in `clients` threads until `seconds` pass (or, per client,
    until `stop(client)` says so).

    `step` returns (latency, outcome label, counted): only counted calls enter the latency
    figures (a refusal by design, such as `insufficient_stock`, is labelled but still counted;
    transport errors are labelled "exception").
    """
    timings: list[list[float]] = [[] for _ in range(clients)]
    failed: list[list[float]] = [[] for _ in range(clients)]
    labels: list[Counter[str]] = [Counter() for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)
    deadline = [0.0]

    def worker(n: int) -> None:
        barrier.wait()
        i = 0
        while time.perf_counter() < deadline[0] and not (stop and stop(n)):
            try:
                latency, label, counted = step(n, i)
            except Exception as exc:  # noqa: BLE001 - a load loop records, it never dies
                labels[n][f"exception:{type(exc).__name__}"] += 1
                time.sleep(0.05)
                i += 1
                continue
            labels[n][label] += 1
            (timings if counted else failed)[n].append(latency)
            i += 1

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + (seconds if seconds is not None else 3600.0)
    started = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    merged = [v for per in timings for v in per]
    outcomes: Counter[str] = Counter()
    for per in labels:
        outcomes.update(per)
    return LoadResult(
        latency_figures(merged, elapsed), outcomes, [v for per in failed for v in per]
    )
