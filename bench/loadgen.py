"""Closed-loop HTTP/1.1 load generator, run as its own process by ``bench.run``.

    python -m bench.loadgen SPEC.json RESULT.json
    python -m bench.loadgen --serve PORT [close]    # a do-nothing server, for the floor

SPEC: ``{"host", "port", "paths": [...], "headers": {...}, "method", "concurrency",
"warmup_s", "duration_s", "timeout_s"}`` (``method`` defaults to GET; a POST has an empty
body, its input in the query string, unless ``"bodies"`` (parallel to ``paths``) gives
each request a body). Optional ``"clients": [{"headers", "paths", "bodies"}]``: client *i*
sends ``clients[i % n]``'s requests in turn, with its own headers added. Optional
``"unique_header"`` (e.g. ``"Idempotency-Key"``): every request sent carries that header
with a value never sent before (this process's random prefix, the connection, a counter),
so an idempotent POST creates something each time instead of replaying the first answer.
Optional ``"flows": [{"headers", "steps": [{"label", "method", "path", "body", "unique",
"save", "sum"}]}]`` (instead of ``paths``): client *i* runs ``flows[i % n]``'s steps in
order, again and again (one iteration = all steps). A step's ``{name}`` in its path is the
value an earlier step of the same iteration saved (``"save": "id"`` keeps the JSON answer's
``id``); ``"unique": true`` gives that step a fresh ``unique_header`` value; a failed step
ends the iteration (the next starts at step 1). A client may carry ``"request_headers"``
(parallel to its ``paths``): more headers for each of its requests (a flash sale: every
attempt is another member's bearer token). ``"once": true``: every client sends its list
once and stops (a burst of a fixed number of requests: ``duration_s`` is then only a cap,
and the result's ``duration_s`` is the time the burst took). ``"classify": true``: the
result also carries ``events``, one ``[finish ms after the start, status, problem code,
latency ms]`` per recorded request (the code read from a non-2xx JSON body), so the harness can tell when
a flash sale sold out and count the answers after it. Latencies and statuses are also kept per
step ``label``, and the steps naming the same ``"sum"`` are added up per iteration (kept
under that name when all of them succeeded inside the window): a checkout's create + pay.
``concurrency`` asyncio tasks each keep one keep-alive connection and send their next request as soon as the previous answer is read, walking
the path list in turn (task i takes paths i, i+c, i+2c, ...). A connection the server
closes (``Connection: close``, or an idle keep-alive dropped) is reopened.

Requests completing inside the measured window (after the warm-up) are recorded: latency
from the first byte written to the last byte of the body read, and the status ("0" for a
transport error or timeout). RESULT also carries this process's own CPU time, so the
harness can show what the load generator itself costs on a machine it shares with the
server.

Deliberately tiny (raw asyncio streams, no HTTP library): it shares the cores with the
server under test, and every microsecond it spends is one the server does not get.
"""

from __future__ import annotations

import asyncio
import json
import resource
import secrets
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

SAMPLE_LIMIT = 5
#: Stands for the unique header's value in a pre-built request (``unique_header``).
UNIQUE_PLACEHOLDER = b"\x00unique\x00"


class ProtocolError(Exception):
    pass


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    """Read one response: (status, keep_alive, body). Handles Content-Length, chunked
    bodies and bodies delimited by the connection closing."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise ProtocolError(f"bad status line {lines[0][:80]!r}")
    version, status = parts[0], int(parts[1])
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    connection = headers.get(b"connection", b"").lower()
    keep_alive = connection != b"close" if version == b"HTTP/1.1" else connection == b"keep-alive"
    if status < 200 or status in (204, 304):
        return status, keep_alive, b""
    if b"content-length" in headers:
        body = await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                break
            chunks.append((await reader.readexactly(size + 2))[:-2])
        body = b"".join(chunks)
    else:
        body = await reader.read()
        keep_alive = False
    return status, keep_alive, body


def build_request(
    host: str, port: int, path: str, headers: dict[str, str], method: str = "GET", body: str | None = None
) -> bytes:
    """One request. Without ``body`` a POST says so (``Content-Length: 0``), its input is
    in the query string; with it the body is sent as UTF-8 (the scenario's headers name its
    Content-Type)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "User-Agent: joopang-bench"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    payload = body.encode("utf-8") if body is not None else b""
    if method != "GET" or body is not None:
        lines.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


class Run:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.host: str = spec["host"]
        self.port: int = int(spec["port"])
        self.concurrency: int = int(spec["concurrency"])
        self.warmup_s: float = float(spec["warmup_s"])
        self.duration_s: float = float(spec["duration_s"])
        self.timeout_s: float = float(spec.get("timeout_s", 30))
        headers = {"Accept": "application/json", **spec.get("headers", {})}
        self.unique_header: str | None = spec.get("unique_header") or None
        self.unique_prefix = secrets.token_hex(6).encode("ascii")
        if self.unique_header:
            headers[self.unique_header] = UNIQUE_PLACEHOLDER.decode("latin-1")
        self.paths: list[str] = spec["paths"]
        method = str(spec.get("method", "GET"))
        bodies = spec.get("bodies") or [None] * len(self.paths)
        self.requests = [
            build_request(self.host, self.port, p, headers, method, b)
            for p, b in zip(self.paths, bodies, strict=True)
        ]
        # Optional: one request list per client (its own headers, e.g. a guest cart token);
        # client i sends clients[i % len(clients)]'s requests in turn.
        self.client_paths: list[list[str]] = []
        self.client_requests: list[list[bytes]] = []
        for client in spec.get("clients") or []:
            own = {**headers, **client.get("headers", {})}
            cpaths = list(client["paths"])
            cbodies = client.get("bodies") or [None] * len(cpaths)
            cheaders = client.get("request_headers") or [{}] * len(cpaths)
            self.client_paths.append(cpaths)
            self.client_requests.append(
                [
                    build_request(self.host, self.port, p, {**own, **h}, method, b)
                    for p, b, h in zip(cpaths, cbodies, cheaders, strict=True)
                ]
            )
        self.once: bool = bool(spec.get("once"))
        self.classify: bool = bool(spec.get("classify"))
        self.events: list[tuple[float, int, str, float]] = []
        self.last_finish = 0.0
        # Optional: multi-step flows (a checkout: refill the cart, create, pay).
        self.flows: list[list[dict[str, Any]]] = []
        for flow in spec.get("flows") or []:
            own = {**headers, **flow.get("headers", {})}
            steps = []
            for step in flow["steps"]:
                step_headers = dict(own)
                if not step.get("unique"):
                    step_headers.pop(self.unique_header or "", None)
                steps.append(
                    {
                        **step,
                        "raw": build_request(
                            self.host,
                            self.port,
                            step["path"],
                            step_headers,
                            step.get("method", method),
                            step.get("body"),
                        ),
                    }
                )
            self.flows.append(steps)
        self.by_label: dict[str, dict[str, Any]] = {}
        self.latencies_ms: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.transport_errors: Counter[str] = Counter()
        self.samples: list[dict[str, Any]] = []
        self.connections_opened = 0
        self.warmup_requests = 0
        self.record_start = 0.0
        self.record_end = 0.0

    def _sample(self, path: str, status: int, detail: str) -> None:
        if len(self.samples) < SAMPLE_LIMIT:
            self.samples.append({"path": path, "status": status, "detail": detail[:300]})

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.connections_opened += 1
        return await asyncio.open_connection(self.host, self.port)

    async def _send(
        self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None, uses: int, raw: bytes
    ) -> tuple[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None, int, int, bytes, str]:
        """Send one request on ``conn`` (opened if None; a stale keep-alive retried once):
        (conn, uses, status, body, transport error detail)."""
        status, body, detail = 0, b"", ""
        for attempt in (1, 2):
            try:
                async with asyncio.timeout(self.timeout_s):
                    if conn is None:
                        conn, uses = await self._connect(), 0
                    reader, writer = conn
                    writer.write(raw)
                    status, keep_alive, body = await read_response(reader)
                uses += 1
                if not keep_alive:
                    conn[1].close()
                    conn = None
                break
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                stale = uses > 0 and attempt == 1
                stale = stale and not (isinstance(exc, asyncio.IncompleteReadError) and exc.partial)
                if conn is not None:
                    conn[1].close()
                conn = None
                if stale:
                    continue
                status, detail = 0, f"{type(exc).__name__}: {exc}"
                break
            except (TimeoutError, ProtocolError, OSError, ValueError) as exc:
                if conn is not None:
                    conn[1].close()
                conn = None
                status, detail = 0, f"{type(exc).__name__}: {exc}"
                break
        return conn, uses, status, body, detail

    def _record(
        self, label: str | None, path: str, latency_ms: float, status: int, body: bytes, detail: str
    ) -> None:
        self.latencies_ms.append(latency_ms)
        self.statuses[str(status)] += 1
        if label is not None:
            own = self.by_label.setdefault(label, {"latencies_ms": [], "statuses": Counter()})
            own["latencies_ms"].append(latency_ms)
            own["statuses"][str(status)] += 1
        if status == 0:
            self.transport_errors[detail.split(":")[0]] += 1
            self._sample(path, status, detail)
        elif not 200 <= status < 300:
            self._sample(path, status, body[:300].decode("utf-8", "replace"))

    def _render(
        self, step: dict[str, Any], saved: dict[str, str], index: int, sent: int
    ) -> tuple[bytes, str, int]:
        """A flow step's request bytes and path with the values saved from earlier answers
        (``{name}`` in the request line) and, for a ``unique`` step, a fresh key; returns
        them with the count of unique keys sent so far."""
        raw: bytes = step["raw"]
        path: str = step["path"]
        if saved:
            head, _, rest = raw.partition(b"\r\n")
            for name, value in saved.items():
                path = path.replace("{" + name + "}", value)
                head = head.replace(b"{%s}" % name.encode(), value.encode("latin-1"))
            raw = head + b"\r\n" + rest
        if step.get("unique") and self.unique_header:
            sent += 1
            raw = raw.replace(UNIQUE_PLACEHOLDER, b"%s-%d-%d" % (self.unique_prefix, index, sent))
        return raw, path, sent

    async def _flow_worker(self, index: int) -> None:
        """Run client ``index``'s flow: its steps in order, again and again."""
        loop = asyncio.get_running_loop()
        steps = self.flows[index % len(self.flows)]
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        uses, sent = 0, 0
        while loop.time() < self.record_end:
            saved: dict[str, str] = {}
            sums: dict[str, list[float]] = {}
            complete = True
            for step in steps:
                started = loop.time()
                if started >= self.record_end:
                    complete = False
                    break
                raw, path, sent = self._render(step, saved, index, sent)
                conn, uses, status, body, detail = await self._send(conn, uses, raw)
                finished = loop.time()
                ok = 200 <= status < 300
                if finished > self.record_end:
                    complete = False
                    break
                if finished < self.record_start:
                    self.warmup_requests += 1
                    complete = False
                else:
                    latency = round((finished - started) * 1000, 3)
                    self._record(step.get("label"), path, latency, status, body, detail)
                    if step.get("sum"):
                        sums.setdefault(step["sum"], []).append(latency)
                if ok and step.get("save"):
                    try:
                        saved[step["save"]] = str(json.loads(body)[step["save"]])
                    except (ValueError, KeyError, TypeError):
                        ok = False
                if not ok:
                    complete = False
                    break
            if complete:
                for name, parts in sums.items():
                    own = self.by_label.setdefault(name, {"latencies_ms": [], "statuses": Counter()})
                    own["latencies_ms"].append(round(sum(parts), 3))
                    own["statuses"]["200"] += 1
        if conn is not None:
            conn[1].close()

    async def _worker(self, index: int) -> None:
        if self.flows:
            await self._flow_worker(index)
            return
        loop = asyncio.get_running_loop()
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        uses = 0
        requests, paths, position, step = self.requests, self.paths, index, self.concurrency
        if self.client_requests:
            own = index % len(self.client_requests)
            requests, paths, position, step = self.client_requests[own], self.client_paths[own], 0, 1
        count = len(requests)
        sent = 0
        limit = (
            (len(requests) if self.client_requests else len(range(index, count, step))) if self.once else -1
        )
        while True:
            started = loop.time()
            if started >= self.record_end or sent == limit:
                break
            raw = requests[position % count]
            sent += 1
            if self.unique_header:
                raw = raw.replace(UNIQUE_PLACEHOLDER, b"%s-%d-%d" % (self.unique_prefix, index, sent))
            path = paths[position % count]
            position += step
            status, body, detail = 0, b"", ""
            for attempt in (1, 2):
                try:
                    async with asyncio.timeout(self.timeout_s):
                        if conn is None:
                            conn, uses = await self._connect(), 0
                        reader, writer = conn
                        writer.write(raw)
                        status, keep_alive, body = await read_response(reader)
                    uses += 1
                    if not keep_alive:
                        conn[1].close()
                        conn = None
                    break
                except (ConnectionError, asyncio.IncompleteReadError) as exc:
                    stale = uses > 0 and attempt == 1
                    stale = stale and not (isinstance(exc, asyncio.IncompleteReadError) and exc.partial)
                    if conn is not None:
                        conn[1].close()
                    conn = None
                    if stale:  # an idle keep-alive connection the server dropped: retry once
                        continue
                    status, detail = 0, f"{type(exc).__name__}: {exc}"
                    break
                except (TimeoutError, ProtocolError, OSError, ValueError) as exc:
                    if conn is not None:
                        conn[1].close()
                    conn = None
                    status, detail = 0, f"{type(exc).__name__}: {exc}"
                    break
            finished = loop.time()
            if finished < self.record_start:
                self.warmup_requests += 1
                continue
            if finished > self.record_end:
                break
            self.latencies_ms.append(round((finished - started) * 1000, 3))
            self.statuses[str(status)] += 1
            self.last_finish = max(self.last_finish, finished)
            if self.classify:
                code = ""
                if not 200 <= status < 300 and body[:1] == b"{":
                    try:
                        code = str(json.loads(body).get("code", ""))
                    except (ValueError, AttributeError):
                        code = "?"
                self.events.append(
                    (round((finished - self.record_start) * 1000, 3), status, code, self.latencies_ms[-1])
                )
            if status == 0:
                self.transport_errors[detail.split(":")[0]] += 1
                self._sample(path, status, detail)
            elif not 200 <= status < 300:
                self._sample(path, status, body[:300].decode("utf-8", "replace"))
        if conn is not None:
            conn[1].close()

    async def run(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.record_start = now + self.warmup_s
        self.record_end = self.record_start + self.duration_s
        tasks = [asyncio.create_task(self._worker(i)) for i in range(self.concurrency)]
        await asyncio.sleep(max(0.0, self.record_start - loop.time()))
        print("START", flush=True)  # the harness snapshots server CPU between these lines
        cpu_start = resource.getrusage(resource.RUSAGE_SELF)
        wall_start = loop.time()
        await asyncio.gather(*tasks)
        wall = loop.time() - wall_start
        if self.once and self.last_finish:  # a burst: its own length, not the cap
            self.duration_s = max(self.last_finish - self.record_start, 1e-3)
        cpu_end = resource.getrusage(resource.RUSAGE_SELF)
        print("END", flush=True)
        cpu_s = (cpu_end.ru_utime - cpu_start.ru_utime) + (cpu_end.ru_stime - cpu_start.ru_stime)
        return {
            "duration_s": self.duration_s,
            "latencies_ms": self.latencies_ms,
            "statuses": dict(self.statuses),
            "transport_errors": dict(self.transport_errors),
            "samples": self.samples,
            "connections_opened": self.connections_opened,
            "warmup_requests": self.warmup_requests,
            "cpu_s": round(cpu_s, 3),
            "cpu_wall_s": round(wall, 3),
            "distinct_paths": len(set(self.paths)),
            **({"events": self.events} if self.classify else {}),
            "by_label": {
                label: {"latencies_ms": own["latencies_ms"], "statuses": dict(own["statuses"])}
                for label, own in self.by_label.items()
            },
        }


async def serve(port: int, keep_alive: bool) -> None:
    """A do-nothing HTTP server (``--serve PORT [close]``): the floor the load generator
    itself imposes, measured by the harness before the real scenarios."""
    connection = b"keep-alive" if keep_alive else b"close"
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: " + connection
    )
    answer += b"\r\n\r\n{}"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(answer)
                await writer.drain()
                if not keep_alive:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=2048)
    print("READY", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[1] == "--serve":
        asyncio.run(serve(int(argv[2]), keep_alive=argv[3:] != ["close"]))
        return 0
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[1]).read_text())
    if not spec["paths"] and not spec.get("flows"):
        print("no paths to request", file=sys.stderr)
        return 2
    started = time.time()
    result = asyncio.run(Run(spec).run())
    result["started_at"] = started
    Path(argv[2]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
