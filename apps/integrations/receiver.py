"""A reference receiver of the relay's webhook: what a data-platform consumer must do.

It verifies the signature (``Joopang-Signature: v1=<hex HMAC-SHA256 of "timestamp.body">``
with the shared secret, compared in constant time) and the timestamp (within
``tolerance`` seconds of its clock, so a captured request cannot be replayed later),
dedupes by event ``id`` (delivery is at least once: a batch whose acknowledgement was lost
comes again), and stores what it got in SQLite: ``events`` (one row per distinct event, with
how many copies arrived) and ``receipts`` (every copy, in arrival order, for order checks).

Run it with ``manage.py run_event_receiver --port 8765 --secret s3cret --db var/received.sqlite3``
and point ``DATA_PLATFORM_WEBHOOK_URL`` at ``http://127.0.0.1:8765/``. Tests start it in
process (``EventReceiver(...).start()``).

A **fault schedule** makes it misbehave on purpose, one step per request, cycling:
``ok`` (store, 200), a number such as ``500`` or ``429`` (answer that, store nothing),
``timeout`` (store nothing, answer 504 after ``hang_seconds``: longer than the relay's read
timeout), ``slow`` (store, then answer 200 after ``hang_seconds``: the relay times out and
sends the batch again, which the dedupe absorbs), ``drop`` (close the connection without an
answer), ``stall`` (store nothing and hold the request for ``stall_seconds``). ``fail_rate``
instead fails that share of requests with 500 at random (seeded).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import random
import sqlite3
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULT_STEPS = ("ok", "timeout", "slow", "drop", "stall")


def parse_faults(spec: str | Iterable[str] | None) -> list[str]:
    """``"ok,500,timeout"`` → ``["ok", "500", "timeout"]``; raises ``ValueError`` on an
    unknown step."""
    if spec is None:
        return []
    steps = [s.strip().lower() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    for step in steps:
        if step not in FAULT_STEPS and not (step.isdigit() and 100 <= int(step) <= 599):
            raise ValueError(f"unknown fault step {step!r}: use {', '.join(FAULT_STEPS)} or an HTTP status")
    return steps


def verify_signature(*, secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """Does ``header`` (``v1=<hex>``; several comma-separated values allowed during a
    secret rotation) carry the HMAC-SHA256 of ``timestamp.body`` under ``secret``?"""
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    for part in header.split(","):
        scheme, _, value = part.strip().partition("=")
        if scheme == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


class _Store:
    """SQLite, one connection shared by the handler threads under a lock."""

    def __init__(self, path: str) -> None:
        self.lock = threading.Lock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS events (
                id TEXT PRIMARY KEY, sequence INTEGER, type TEXT, aggregate_type TEXT,
                aggregate_id TEXT, aggregate_sequence INTEGER, occurred_at TEXT,
                received_at REAL, copies INTEGER NOT NULL DEFAULT 1, body TEXT);
            CREATE TABLE IF NOT EXISTS receipts (
                n INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT, aggregate_type TEXT,
                aggregate_id TEXT, aggregate_sequence INTEGER, request INTEGER, received_at REAL);
            CREATE TABLE IF NOT EXISTS requests (
                n INTEGER PRIMARY KEY AUTOINCREMENT, at REAL, step TEXT, status INTEGER,
                events INTEGER, verified INTEGER, error TEXT);
            """
        )

    def request(self, *, step: str, status: int, events: int, verified: bool, error: str = "") -> int:
        with self.lock:
            cur = self.db.execute(
                "INSERT INTO requests (at, step, status, events, verified, error) VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), step, status, events, int(verified), error),
            )
            return int(cur.lastrowid or 0)

    def store(self, events: list[dict[str, Any]], request: int) -> tuple[int, int]:
        """Store a batch in one transaction; returns (new, duplicates)."""
        now = time.time()
        new = dup = 0
        with self.lock:
            self.db.execute("BEGIN")
            try:
                for e in events:
                    agg = (e.get("aggregate_type"), e.get("aggregate_id"), e.get("aggregate_sequence"))
                    self.db.execute(
                        "INSERT INTO receipts (event_id, aggregate_type, aggregate_id, aggregate_sequence,"
                        " request, received_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (e["id"], *agg, request, now),
                    )
                    cur = self.db.execute(
                        "INSERT OR IGNORE INTO events (id, sequence, type, aggregate_type, aggregate_id,"
                        " aggregate_sequence, occurred_at, received_at, body)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            e["id"],
                            e.get("sequence"),
                            e.get("type"),
                            *agg,
                            e.get("occurred_at"),
                            now,
                            json.dumps(e),
                        ),
                    )
                    if cur.rowcount:
                        new += 1
                    else:
                        dup += 1
                        self.db.execute("UPDATE events SET copies = copies + 1 WHERE id = ?", (e["id"],))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        return new, dup

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            return list(self.db.execute(sql, params))

    def close(self) -> None:
        with self.lock:
            self.db.close()


class EventReceiver:
    """The receiver as an object: ``start()`` serves on a thread, ``stop()`` ends it.

    ``port=0`` takes a free port (see ``url``). ``faults`` is the schedule (module
    docstring); ``set_faults`` changes it while running (a test takes the sink down and
    brings it back).
    """

    def __init__(
        self,
        *,
        secret: str,
        db: str = ":memory:",
        host: str = "127.0.0.1",
        port: int = 0,
        faults: str | Iterable[str] | None = None,
        fail_rate: float = 0.0,
        seed: int = 0,
        tolerance: float = 300.0,
        hang_seconds: float = 3.0,
        stall_seconds: float = 600.0,
    ) -> None:
        self.secret = secret
        self.store = _Store(db)
        self.tolerance = tolerance
        self.hang_seconds = hang_seconds
        self.stall_seconds = stall_seconds
        self.fail_rate = fail_rate
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._faults = parse_faults(faults)
        self._step = 0
        self._stop = threading.Event()
        self.server = ThreadingHTTPServer((host, port), self._handler_class())
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- control ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def set_faults(self, faults: str | Iterable[str] | None, *, fail_rate: float | None = None) -> None:
        with self._lock:
            self._faults = parse_faults(faults)
            self._step = 0
            if fail_rate is not None:
                self.fail_rate = fail_rate

    def start(self) -> EventReceiver:
        self._thread = threading.Thread(target=self.server.serve_forever, name="event-receiver", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def stop(self) -> None:
        self._stop.set()  # stalled handlers give up
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.store.close()

    def __enter__(self) -> EventReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what it got -------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """``distinct`` events, ``copies`` received in all, ``duplicates`` (copies beyond
        the first), ``requests`` answered and ``rejected`` (bad signature or timestamp)."""
        distinct, copies = self.store.query("SELECT COUNT(*), COALESCE(SUM(copies), 0) FROM events")[0]
        requests, rejected = self.store.query(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN verified = 0 THEN 1 ELSE 0 END), 0) FROM requests"
        )[0]
        return {
            "distinct": int(distinct),
            "copies": int(copies),
            "duplicates": int(copies) - int(distinct),
            "requests": int(requests),
            "rejected": int(rejected),
        }

    def event_ids(self) -> set[str]:
        return {row[0] for row in self.store.query("SELECT id FROM events")}

    def arrivals(self) -> list[tuple[str, str, str, int]]:
        """Every copy in arrival order: (event id, aggregate type, aggregate id, aggregate sequence)."""
        return [
            (r[0], r[1], r[2], int(r[3]))
            for r in self.store.query(
                "SELECT event_id, aggregate_type, aggregate_id, aggregate_sequence FROM receipts ORDER BY n"
            )
        ]

    def requests(self) -> list[dict[str, Any]]:
        rows = self.store.query("SELECT step, status, events, verified, error FROM requests ORDER BY n")
        return [
            {"step": r[0], "status": r[1], "events": r[2], "verified": bool(r[3]), "error": r[4]}
            for r in rows
        ]

    def received_at(self) -> dict[str, float]:
        """First arrival time (Unix seconds) per event id, for lag measurements."""
        return {r[0]: float(r[1]) for r in self.store.query("SELECT id, received_at FROM events")}

    # --- serving ---------------------------------------------------------------------------

    def _next_step(self) -> str:
        with self._lock:
            if self._faults:
                step = self._faults[self._step % len(self._faults)]
                self._step += 1
                return step
            if self.fail_rate and self._random.random() < self.fail_rate:
                return "500"
            return "ok"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer(200, receiver.stats())

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                timestamp = self.headers.get("Joopang-Timestamp", "")
                header = self.headers.get("Joopang-Signature", "")
                if not verify_signature(
                    secret=receiver.secret, timestamp=timestamp, body=body, header=header
                ):
                    receiver.store.request(
                        step="-", status=401, events=0, verified=False, error="bad signature"
                    )
                    self._answer(401, {"error": "bad signature"})
                    return
                try:
                    skew = abs(time.time() - int(timestamp))
                except ValueError:
                    skew = float("inf")
                if skew > receiver.tolerance:
                    receiver.store.request(
                        step="-", status=400, events=0, verified=False, error="stale timestamp"
                    )
                    self._answer(400, {"error": "timestamp outside tolerance"})
                    return
                try:
                    events = json.loads(body)
                    assert isinstance(events, list)
                    assert all(isinstance(e, dict) and "id" in e for e in events)
                except (ValueError, AssertionError):
                    receiver.store.request(
                        step="-", status=400, events=0, verified=True, error="not an array"
                    )
                    self._answer(400, {"error": "body must be a JSON array of events"})
                    return
                step = receiver._next_step()
                if step.isdigit():
                    receiver.store.request(step=step, status=int(step), events=len(events), verified=True)
                    self._answer(int(step), {"error": f"fault {step}"})
                    return
                if step == "drop":
                    receiver.store.request(step=step, status=0, events=len(events), verified=True)
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(2)
                    return
                if step in ("timeout", "stall"):
                    receiver.store.request(step=step, status=504, events=len(events), verified=True)
                    receiver._stop.wait(
                        receiver.hang_seconds if step == "timeout" else receiver.stall_seconds
                    )
                    with contextlib.suppress(OSError):
                        self._answer(504, {"error": f"fault {step}"})
                    return
                request = receiver.store.request(step=step, status=200, events=len(events), verified=True)
                new, dup = receiver.store.store(events, request)
                if step == "slow":
                    receiver._stop.wait(receiver.hang_seconds)
                with contextlib.suppress(OSError):
                    self._answer(200, {"received": len(events), "new": new, "duplicates": dup})

        return Handler
