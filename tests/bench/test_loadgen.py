import asyncio
import itertools

from bench.loadgen import Run, build_request, read_response


def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def test_read_response_content_length_chunked_and_close():
    async def scenario():
        plain = await read_response(_reader(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
        chunked = await read_response(
            _reader(
                b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
            )
        )
        closing = await read_response(
            _reader(b"HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\nbody until eof")
        )
        old = await read_response(_reader(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"))
        return plain, chunked, closing, old

    plain, chunked, closing, old = asyncio.run(scenario())
    assert plain == (200, True, b"hello")
    assert chunked == (404, True, b"abcde")
    assert closing == (500, False, b"body until eof")
    assert old == (200, False, b"")


def test_run_against_a_local_server_counts_every_answer():
    # given a keep-alive server answering 200, except 503 for /bad
    seen = []

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ")[1]
                seen.append(path)
                status = b"503 Busy" if path == b"/bad" else b"200 OK"
                writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def scenario():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        spec = {
            "host": "127.0.0.1",
            "port": port,
            "paths": ["/a", "/b", "/bad", "/c"],
            "concurrency": 2,
            "warmup_s": 0.05,
            "duration_s": 0.3,
        }
        async with server:
            return await Run(spec).run()

    # when
    result = asyncio.run(scenario())
    # then: everything recorded has a latency, /bad answers are the only errors
    recorded = sum(result["statuses"].values())
    assert recorded > 10
    assert len(result["latencies_ms"]) == recorded
    assert set(result["statuses"]) == {"200", "503"}
    assert result["connections_opened"] == 2  # keep-alive: one connection per client
    assert result["samples"][0]["path"] == "/bad"
    assert result["samples"][0]["status"] == 503
    assert set(seen) == {b"/a", b"/b", b"/bad", b"/c"}


def test_a_post_has_an_empty_body_and_says_so():
    get = build_request("127.0.0.1", 8000, "/a?x=1", {"X-Market": "KR"})
    post = build_request("127.0.0.1", 8000, "/bench/reserve-release?line=A:1", {}, "POST")

    assert get.startswith(b"GET /a?x=1 HTTP/1.1\r\n") and b"Content-Length" not in get
    assert post.startswith(b"POST /bench/reserve-release?line=A:1 HTTP/1.1\r\n")
    assert post.endswith(b"Content-Length: 0\r\n\r\n")


def test_a_body_is_sent_with_its_length():
    post = build_request(
        "127.0.0.1",
        8000,
        "/api/v1/carts/current/items",
        {"Content-Type": "application/json"},
        "POST",
        '{"sku": "가"}',
    )
    head, body = post.split(b"\r\n\r\n", 1)
    assert body == '{"sku": "가"}'.encode()
    assert f"Content-Length: {len(body)}".encode() in head


def test_each_client_sends_its_own_requests_with_its_own_headers():
    # given a server that records (connection, token, body) of every request
    seen = []

    async def handle(reader, writer):
        conn = id(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line)
                body = await reader.readexactly(int(fields.get(b"Content-Length", b"0")))
                seen.append((conn, fields.get(b"X-Cart-Token"), body))
                writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def scenario():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        spec = {
            "host": "127.0.0.1",
            "port": port,
            "paths": ["/items"] * 4,
            "method": "POST",
            "clients": [
                {"headers": {"X-Cart-Token": "t1"}, "paths": ["/items", "/items"], "bodies": ["a1", "a2"]},
                {"headers": {"X-Cart-Token": "t2"}, "paths": ["/items", "/items"], "bodies": ["b1", "b2"]},
            ],
            "concurrency": 2,
            "warmup_s": 0.0,
            "duration_s": 0.2,
        }
        async with server:
            return await Run(spec).run()

    result = asyncio.run(scenario())

    assert set(result["statuses"]) == {"201"}
    by_conn: dict[int, set] = {}
    for conn, token, body in seen:
        by_conn.setdefault(conn, set()).add((token, body))
    assert sorted(sorted(v) for v in by_conn.values()) == [
        [(b"t1", b"a1"), (b"t1", b"a2")],
        [(b"t2", b"b1"), (b"t2", b"b2")],
    ]


def test_a_unique_header_is_never_sent_twice():
    # given a server that records the Idempotency-Key of every request
    keys = []

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line)
                await reader.readexactly(int(fields.get(b"Content-Length", b"0")))
                keys.append(fields.get(b"Idempotency-Key"))
                writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def scenario():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        spec = {
            "host": "127.0.0.1",
            "port": port,
            "paths": ["/top-ups"] * 2,
            "method": "POST",
            "unique_header": "Idempotency-Key",
            "clients": [
                {"headers": {"X-Who": "a"}, "paths": ["/top-ups"], "bodies": ['{"amount": 1}']},
                {"headers": {"X-Who": "b"}, "paths": ["/top-ups"], "bodies": ['{"amount": 2}']},
            ],
            "concurrency": 3,
            "warmup_s": 0.0,
            "duration_s": 0.2,
        }
        async with server:
            return await Run(spec).run()

    # when two clients walk one-request lists many times over
    result = asyncio.run(scenario())

    # then every request carried a key, and no key came twice
    assert set(result["statuses"]) == {"201"}
    assert len(keys) > 10
    assert None not in keys
    assert len(set(keys)) == len(keys)
    assert all(b"\x00" not in key for key in keys)


def test_a_flow_runs_its_steps_in_order_and_uses_what_an_earlier_step_answered():
    # given a server: refills answer 201; a create answers 201 with a fresh id (every third
    # create is refused with 409); a payment answers 201 only for an id it handed out
    import json

    seen = []
    created = []

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, *rest = head.split(b"\r\n")
                fields = dict(item.split(b": ", 1) for item in rest if b": " in item)
                await reader.readexactly(int(fields.get(b"Content-Length", b"0")))
                path = line.split(b" ")[1].decode()
                key = fields.get(b"Idempotency-Key")
                seen.append((fields[b"X-Who"], path, key))
                status, body = b"201 Created", b"{}"
                if path == "/orders":
                    if len(created) % 3 == 2:
                        created.append(None)
                        status = b"409 Conflict"
                    else:
                        created.append(f"o{len(created)}")
                        body = json.dumps({"id": created[-1]}).encode()
                elif path.startswith("/orders/"):
                    status = b"201 Created" if path.split("/")[2] in created else b"404 Not Found"
                writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def steps():
        return [
            {"label": "refill", "method": "POST", "path": "/cart/items", "body": "{}"},
            {"label": "create", "method": "POST", "path": "/orders", "body": "{}", "unique": True,
             "save": "id", "sum": "checkout"},
            {"label": "pay", "method": "POST", "path": "/orders/{id}/payments", "body": "{}", "unique": True,
             "sum": "checkout"},
        ]  # fmt: skip

    async def scenario():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        spec = {
            "host": "127.0.0.1",
            "port": port,
            "paths": ["/cart/items", "/orders", "/orders/{id}/payments"],
            "method": "POST",
            "unique_header": "Idempotency-Key",
            "flows": [
                {"headers": {"X-Who": "a"}, "steps": steps()},
                {"headers": {"X-Who": "b"}, "steps": steps()},
            ],
            "concurrency": 2,
            "warmup_s": 0.0,
            "duration_s": 0.3,
        }
        async with server:
            return await Run(spec).run()

    # when two clients run the flow for a while
    result = asyncio.run(scenario())

    # then each client's requests come in flow order: a refill, a create, and the payment of
    # the order that create made, unless it was refused (then the next refill)
    by_label = result["by_label"]
    assert set(by_label) == {"refill", "create", "pay", "checkout"}
    assert by_label["create"]["statuses"].get("409", 0) >= 1
    for who in (b"a", b"b"):
        mine = [(path, key) for w, path, key in seen if w == who]
        for (path, key), (after, _k) in itertools.pairwise(mine):
            if path == "/cart/items":
                assert key is None and after == "/orders"
            elif path == "/orders":
                assert after in ("/cart/items", *(f"/orders/{c}/payments" for c in created if c))
            else:
                assert after == "/cart/items"
    assert not any(path.startswith("/orders/") and path.split("/")[2] not in created for _w, path, _k in seen)
    # fresh keys on create and pay only, never twice
    keys = [key for _w, path, key in seen if path != "/cart/items"]
    assert None not in keys and len(set(keys)) == len(keys)
    # the sum row has one entry per iteration whose create and pay both succeeded
    assert by_label["pay"]["statuses"] == {"201": len(by_label["pay"]["latencies_ms"])}
    assert len(by_label["checkout"]["latencies_ms"]) <= len(by_label["pay"]["latencies_ms"])
    assert len(by_label["checkout"]["latencies_ms"]) >= len(by_label["pay"]["latencies_ms"]) - 2
    assert (
        sum(by_label[label]["statuses"].get("201", 0) for label in ("refill", "create", "pay"))
        == (result["statuses"]["201"])
    )
