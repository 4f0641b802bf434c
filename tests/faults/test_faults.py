"""Fault injection against the real services on loopback (issue 24, item 3).

Each scenario runs the app as real processes (gunicorn, Celery worker and beat, the payment
sandbox, the data-platform receiver) against its own copy of a private PostgreSQL cluster
and its own ``redis-server`` (``conftest.py``), breaks one of them while clients drive the
API over HTTP, checks what the clients saw and what the database holds, and ends with
``manage.py check_invariants`` (exit 0) on the faulted database. See README.md here.

PostgreSQL pass only (skipped on SQLite, or without the PostgreSQL 15 binaries or
redis-server); one module, so ``--dist loadfile`` keeps it on one xdist worker.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.faults.conftest import Stack, skip_reason
from tests.utils.services import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")]

ADDRESS = {
    "recipient": "김민지",
    "line1": "세종대로 110",
    "city": "서울",
    "postal_code": "04524",
    "country": "KR",
}
OK = range(200, 300)


@dataclass
class Answer:
    at: float  # when the answer (or the transport error) came
    step: str
    status: int  # 0: no HTTP answer (connection refused/reset, timeout)
    code: str = ""
    content_type: str = ""
    retry_after: str | None = None
    error: str = ""
    started: float = 0.0  # when the request was sent


@dataclass
class Shopper:
    """One client: a member (bearer token) buying one unit of a SKU per checkout, and a
    guest adding to a fresh cart; every answer is recorded."""

    base_url: str
    token: str
    sku: str
    answers: list[Answer] = field(default_factory=list)
    paid: list[str] = field(default_factory=list)

    def call(
        self, client: httpx.Client, step: str, method: str, path: str, **kw: Any
    ) -> httpx.Response | None:
        started = time.monotonic()
        try:
            response = client.request(method, self.base_url + path, **kw)
        except httpx.HTTPError as exc:
            self.answers.append(Answer(time.monotonic(), step, 0, error=type(exc).__name__, started=started))
            return None
        code = ""
        content_type = response.headers.get("content-type", "")
        if "json" in content_type and response.status_code >= 400:
            try:
                code = str(response.json().get("code", ""))
            except ValueError:
                code = "<not json>"
        self.answers.append(
            Answer(
                time.monotonic(),
                step,
                response.status_code,
                code,
                content_type,
                response.headers.get("retry-after"),
                started=started,
            )
        )
        return response

    def cart_add(self, client: httpx.Client) -> None:
        created = self.call(client, "cart.create", "POST", "/api/v1/carts")
        if created is None or created.status_code not in OK:
            return
        cart_token = created.headers["X-Cart-Token"]
        self.call(
            client, "cart.add", "POST", "/api/v1/carts/current/items",
            json={"sku": self.sku, "quantity": 1}, headers={"X-Cart-Token": cart_token},
        )  # fmt: skip

    def checkout(
        self, client: httpx.Client, *, method: str = "wallet", method_id: str | None = None
    ) -> str | None:
        auth = {"Authorization": f"Bearer {self.token}"}
        created = self.call(
            client, "order.create", "POST", "/api/v1/orders",
            json={"items": [{"sku": self.sku, "quantity": 1}], "shipping_address": ADDRESS},
            headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
        )  # fmt: skip
        if created is None or created.status_code not in OK:
            return None
        order_id = created.json()["id"]
        body: dict[str, Any] = {"method": "wallet"} if method == "wallet" else {
            "method": "payment_method", "payment_method_id": method_id}  # fmt: skip
        paid = self.call(
            client, "order.pay", "POST", f"/api/v1/orders/{order_id}/payments",
            json=body, headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
        )  # fmt: skip
        if paid is not None and paid.status_code in OK:
            self.paid.append(order_id)
        return order_id

    def browse(self, client: httpx.Client) -> None:
        self.call(client, "browse.list", "GET", "/api/v1/products")
        self.call(client, "browse.page", "GET", "/")


def drive(shoppers: list[Shopper], stop: threading.Event, work: str = "checkout") -> list[threading.Thread]:
    def loop(shopper: Shopper) -> None:
        with httpx.Client(timeout=15) as client:
            while not stop.is_set():
                if work == "checkout":
                    shopper.cart_add(client)
                    shopper.checkout(client)
                else:
                    shopper.browse(client)
                    shopper.cart_add(client)
                    shopper.checkout(client)

    threads = [threading.Thread(target=loop, args=(s,), daemon=True) for s in shoppers]
    for thread in threads:
        thread.start()
    return threads


def shoppers_for(stack: Stack, count: int) -> list[Shopper]:
    seed = stack.seed
    return [
        Shopper(stack.base_url, seed["members"][i]["token"], seed["skus"][i % len(seed["skus"])])
        for i in range(count)
    ]


def summary(answers: list[Answer]) -> Counter[tuple[str, int, str]]:
    return Counter((a.step, a.status, a.code) for a in answers)


# --- 1. PostgreSQL restarted mid-traffic ------------------------------------------------------


def test_postgres_restart_mid_traffic_gives_clean_503s_then_recovers(stack: Stack) -> None:
    """Three clients shop (guest cart adds, member checkouts paid by wallet) while the
    cluster is stopped (``pg_ctl stop -m fast``: open transactions rolled back, every
    connection closed) for ~6 s and started again. While it is down every API answer is a
    503 ``server.unavailable`` problem with ``Retry-After`` (never a 500, never a hang);
    after the restart the same gunicorn (not restarted) serves again through its psycopg
    pool; no order is half-made (check_invariants: lines, stock, payments, outbox)."""
    stack.start_web()
    stack.wait_web()
    web_pid = stack.procs.procs["web"].pid
    shoppers = shoppers_for(stack, 3)
    stop = threading.Event()
    threads = drive(shoppers, stop)
    try:
        time.sleep(3)
        stopping_at = time.monotonic()
        stack.pg.stop("fast")  # returns once the server is down
        down_at = time.monotonic()
        time.sleep(6)
        up_at = time.monotonic()
        stack.pg.start()

        # Recovered: every step succeeds again for every client within a few seconds.
        def recovered() -> bool:
            done = {a.step for s in shoppers for a in s.answers if a.at > up_at + 0.5 and a.status in OK}
            return {"cart.create", "cart.add", "order.create", "order.pay"} <= done

        deadline = time.monotonic() + 30
        while not recovered() and time.monotonic() < deadline:
            time.sleep(0.5)
        recovered_at = time.monotonic()
        time.sleep(2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    answers = [a for s in shoppers for a in s.answers]
    counts = summary(answers)
    assert recovered(), f"the app did not recover after the restart: {counts}\n{stack.procs.logs()}"
    stale = sum(1 for a in answers if a.started > up_at and a.status == 503)
    print(f"recovered {recovered_at - up_at:.1f} s after the restart ({stale} 503s sent after it): {counts}")
    before = [a for a in answers if a.at < stopping_at]
    # Sent once the server was down and answered before it was started again.
    during = [a for a in answers if down_at < a.started and a.at < up_at]
    after = [a for a in answers if a.at > recovered_at]
    assert any(a.status in OK for a in before), counts
    # Down: clean refusals only, and some were seen (the fault really was in the path).
    unavailable = [a for a in answers if a.status == 503]
    assert len(during) >= 3, counts
    assert all(a.status == 503 for a in during), counts
    for a in unavailable:
        assert a.code == "server.unavailable", counts
        assert a.content_type.startswith("application/problem+json"), a
        assert a.retry_after == "5", a
    # Never a 500, a dropped connection or an unexpected refusal, before, during or after.
    bad = [a for a in answers if a.status not in OK and a.status != 503]
    assert not bad, f"unexpected answers: {summary(bad)}\n{stack.procs.log('web')}"
    assert after and all(a.status in OK for a in after), summary(after)
    # The same gunicorn master served throughout.
    assert stack.procs.alive("web") and stack.procs.procs["web"].pid == web_pid
    # Every checkout a client saw paid is paid in the database.
    seen_paid = {order_id for s in shoppers for order_id in s.paid}
    assert seen_paid
    paid_in_db = {str(r[0]) for r in stack.sql("SELECT public_id FROM orders_order WHERE status = 'paid'")}
    assert seen_paid <= paid_in_db
    stack.check_invariants(relay=False)


# --- 3. A Celery worker SIGKILLed mid-task ----------------------------------------------------


def test_worker_sigkilled_mid_task_reservations_still_expire_and_events_still_arrive(stack: Stack) -> None:
    """Reservations are made with a 4 s hold (beat's 5 s sweep is their only expiry); the
    relay task is caught mid-delivery (the receiver stores the batch, then holds the answer
    20 s) and the worker is SIGKILLed there: its claimed batch stays leased and its
    unacknowledged messages in the broker. A new worker and beat's sweeps finish the job:
    every reservation expires (stock released), every outbox event reaches the receiver
    (the killed batch again after its lease: at-least-once, deduplicated by event id)."""
    stack.env["DATA_PLATFORM_READ_TIMEOUT"] = "25"  # the killed worker is blocked, not timed out
    stack.start_receiver("--faults", "slow," + ",".join(["ok"] * 500), "--hang", "20")
    stack.wait_receiver()
    sku = stack.seed["skus"][0]
    reserved = stack.appctl("reserve", {"sku": sku, "count": 5, "ttl": 4})["reservations"]
    assert len(reserved) == 5
    stack.start_beat()
    stack.start_worker()
    # Mid-task: the relay holds a lease on a batch the receiver has and has not answered.
    wait_until(lambda: stack.outbox().get("delivering", 0) > 0, 60, "the relay to claim a batch")
    wait_until(lambda: stack.received()["distinct"] > 0, 30, "the receiver to store the batch")
    in_flight = stack.outbox()["delivering"]
    stack.procs.kill("worker")  # SIGKILL to the worker's process group
    killed_at = time.monotonic()
    assert stack.outbox().get("delivering", 0) == in_flight  # nobody finished it
    assert stack.received()["requests"] >= 1
    stack.start_worker("worker2")
    ids = ",".join(str(int(i)) for i in reserved)

    def done() -> bool:
        active = stack.sql(
            f"SELECT count(*) FROM inventory_reservation WHERE status = 'active' AND id IN ({ids})"
        )
        return active[0][0] == 0 and set(stack.outbox()) == {"delivered"}

    wait_until(done, 90, f"expiry and delivery after the kill ({stack.outbox()})", interval=0.5)
    took = time.monotonic() - killed_at
    statuses = dict(
        stack.sql(f"SELECT status, count(*) FROM inventory_reservation WHERE id IN ({ids}) GROUP BY status")
    )
    assert statuses == {"expired": 5}, statuses
    received = stack.received()
    assert set(stack.received_ids()) == stack.outbox_ids()
    assert received["rejected"] == 0
    # At-least-once: the killed batch may arrive twice, nothing else does.
    assert received["duplicates"] <= in_flight, received
    print(f"worker SIGKILL: recovered {took:.1f} s after the kill; receiver {received}")
    stack.check_invariants()


# --- 4. The data-platform receiver down for a while --------------------------------------------


def test_receiver_down_backlog_builds_then_drains_without_loss_or_duplicates(stack: Stack) -> None:
    """The relay (Celery worker + beat) delivers to the receiver; the receiver is killed
    while clients keep checking out, so events pile up in the outbox (retried with back-off,
    none lost, none ``failed``); once the receiver is back the backlog drains: every event
    delivered exactly once by id (no duplicate copies), and check_invariants holds with the
    outbox horizon of these settings (so a pending event would be a breach)."""
    stack.start_receiver()
    stack.start_web()
    stack.start_beat()
    stack.start_worker()
    stack.wait_receiver()
    stack.wait_web()
    # Up: the seeded backlog is delivered.
    wait_until(lambda: set(stack.outbox()) == {"delivered"}, 60, f"the first drain ({stack.outbox()})")
    first = stack.received()["distinct"]
    assert first == len(stack.outbox_ids())

    stack.procs.kill("receiver")
    shoppers = shoppers_for(stack, 2)
    stop = threading.Event()
    threads = drive(shoppers, stop)
    try:
        wait_until(
            lambda: sum(len(s.paid) for s in shoppers) >= 4, 60, "checkouts while the receiver is down"
        )
        time.sleep(3)  # the relay retries against nothing, backs off, opens its circuit
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    backlog = stack.outbox()
    waiting = backlog.get("pending", 0) + backlog.get("delivering", 0)
    assert waiting > 0, backlog
    assert backlog.get("failed", 0) == 0, backlog
    retried = stack.sql("SELECT count(*) FROM core_outboxevent WHERE attempts > 0 AND status <> 'delivered'")[
        0
    ][0]
    assert retried > 0  # the relay did try, and kept the events
    bad = [a for s in shoppers for a in s.answers if a.status not in OK]
    assert not bad, summary(bad)  # the shop does not notice the data platform is gone

    back_at = time.monotonic()
    stack.start_receiver()
    stack.wait_receiver()
    wait_until(lambda: set(stack.outbox()) == {"delivered"}, 60, f"the backlog to drain ({stack.outbox()})")
    drained = time.monotonic() - back_at
    received = stack.received()
    ids = stack.outbox_ids()
    assert set(stack.received_ids()) == ids
    assert received["distinct"] == len(ids) and received["distinct"] > first
    assert received["duplicates"] == 0, received
    assert received["rejected"] == 0, received
    print(f"receiver down: backlog {waiting} events drained in {drained:.1f} s; receiver {received}")
    stack.check_invariants()


# --- 2. Redis down -----------------------------------------------------------------------------


def claim(base_url: str, token: str, campaign_id: int) -> tuple[int, str]:
    try:
        response = httpx.post(
            f"{base_url}/api/v1/coupons/campaigns/{campaign_id}/claim",
            headers={"Authorization": f"Bearer {token}"},
            timeout=15,
        )
    except httpx.HTTPError as exc:
        return 0, type(exc).__name__
    return response.status_code, (response.json().get("code", "") if response.status_code >= 400 else "")


def test_redis_down_the_shop_still_sells_and_coupons_are_never_over_issued(stack: Stack) -> None:
    """Redis (cache, throttles, the coupon gate, the broker) is SIGKILLed while the shop
    runs. Browsing, guest carts and wallet checkouts keep answering 2xx (the cache falls
    back to the database); a coupon campaign of 5, primed in the Redis gate before the
    crash, is then claimed by 8 members at once, twice each: the database decides alone
    and issues exactly 5, at most one per member. check_invariants holds."""
    seed = stack.seed
    campaign = seed["campaign_id"]
    stack.start_web()
    stack.wait_web()
    # Up: the gate is primed by a first claim.
    assert claim(stack.base_url, seed["members"][0]["token"], campaign)[0] == 201
    shoppers = shoppers_for(stack, 2)
    stack.redis.kill()
    killed_at = time.monotonic()
    stop = threading.Event()
    threads = drive(shoppers, stop, work="browse")

    def after_kill(ok: bool) -> list[Answer]:
        return [a for s in shoppers for a in s.answers if a.at > killed_at and (a.status in OK) == ok]

    results: list[tuple[int, str]] = []
    try:
        # Past the per-process copies (markets: 10 s, campaign rules), so every request
        # needs the cache; stop early (fail fast) at the first refused request.
        while time.monotonic() - killed_at < 12 and not after_kill(ok=False):
            time.sleep(0.2)
        if not after_kill(ok=False):
            # Everyone claims twice, all at once (the first member already has theirs).
            lock = threading.Lock()

            def claims(token: str) -> None:
                for _ in range(2):
                    answer = claim(stack.base_url, token, campaign)
                    with lock:
                        results.append(answer)

            claimers = [threading.Thread(target=claims, args=(m["token"],)) for m in seed["members"]]
            for thread in claimers:
                thread.start()
            for thread in claimers:
                thread.join(timeout=60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not after_kill(ok=False):
            if sum(a.step == "order.pay" for a in after_kill(ok=True)) >= 4:
                break
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    answers = [a for s in shoppers for a in s.answers if a.at > killed_at]
    print(f"redis down: {summary(answers)}; claims {Counter(results)}")
    bad = [a for a in answers if a.status not in OK]
    assert not bad, f"{summary(bad)}\n{stack.procs.log('web')}"
    assert sum(a.step == "order.pay" for a in answers) >= 4, summary(answers)
    assert {"browse.list", "browse.page", "cart.add"} <= {a.step for a in answers}
    allowed = {(201, ""), (409, "coupon.sold_out"), (409, "coupon.already_claimed")}
    assert set(results) <= allowed, Counter(results)
    assert results.count((201, "")) == seed["coupons"] - 1  # the 4 left, to 4 of the 7 others
    coupons = stack.sql(
        f"SELECT count(*), count(DISTINCT user_id), (SELECT issued_count FROM coupons_campaign WHERE id = {int(campaign)}) "
        f"FROM coupons_coupon WHERE campaign_id = {int(campaign)}"
    )[0]
    assert coupons == (seed["coupons"], seed["coupons"], seed["coupons"]), coupons
    # The readiness probe tells the operator what is missing.
    ready = httpx.get(f"{stack.base_url}/readyz", timeout=10)
    assert ready.status_code == 503 and ready.json()["checks"]["cache"] != "ok", ready.text
    stack.check_invariants(relay=False)


# --- 5. The payment sandbox flapping -------------------------------------------------------------

PAY_REFUSALS = {
    (503, "payment.provider_unavailable"),
    (409, "order.payment_pending"),
    (402, "payment.declined"),
}


def test_payment_provider_flapping_charges_once_or_fails_cleanly_and_pending_ones_settle(
    stack: Stack,
) -> None:
    """Members pay orders with a saved card while the sandbox provider flaps (3 requests
    answered 503, the next 3 served, for every operation), then while it applies charges
    but answers too late for the client (``timeout``: the payment stays pending), then is
    healthy again. Each client pays each order until it is paid (at most 4 tries, fresh
    Idempotency-Key each). Every answer is 2xx or a clean problem (provider unavailable,
    payment pending); the provider moved money at most once per charge reference; no order
    has two captured payments; beat's settle tasks finish every pending payment; and
    check_invariants holds (a paid order has exactly one captured payment)."""
    stack.env["PAYMENT_PROVIDER_READ_TIMEOUT"] = "1"
    stack.env["PAYMENT_CHARGE_SETTLE_AFTER_SECONDS"] = "1"
    stack.env["DATA_PLATFORM_WEBHOOK_URL"] = ""  # no receiver here: events wait in the outbox
    stack.start_sandbox()
    stack.start_web()
    stack.start_beat()
    stack.start_worker()
    stack.wait_sandbox()
    members = stack.seed["members"][:3]
    stack.wait_web()
    methods = {}
    for m in members:  # a saved card each, approved by the (healthy) sandbox
        added = httpx.post(
            f"{stack.base_url}/api/v1/payment-methods",
            json={"kind": "card", "label": "Fault Visa", "last4": "4242"},
            headers={"Authorization": f"Bearer {m['token']}"},
            timeout=30,
        )
        assert added.status_code == 201, added.text
        methods[str(m["id"])] = added.json()["id"]
    shoppers = [Shopper(stack.base_url, m["token"], stack.seed["skus"][i]) for i, m in enumerate(members)]

    def shop(shopper: Shopper, method_id: str, orders: int) -> None:
        auth = {"Authorization": f"Bearer {shopper.token}"}
        with httpx.Client(timeout=30) as client:
            for _ in range(orders):
                created = shopper.call(
                    client, "order.create", "POST", "/api/v1/orders",
                    json={"items": [{"sku": shopper.sku, "quantity": 1}], "shipping_address": ADDRESS},
                    headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
                )  # fmt: skip
                if created is None or created.status_code not in OK:
                    continue
                order_id = created.json()["id"]
                for _try in range(4):
                    paid = shopper.call(
                        client, "order.pay", "POST", f"/api/v1/orders/{order_id}/payments",
                        json={"method": "payment_method", "payment_method_id": method_id},
                        headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
                    )  # fmt: skip
                    if paid is not None and paid.status_code in OK:
                        shopper.paid.append(order_id)
                        break
                    if paid is not None and paid.json().get("code") == "order.payment_pending":
                        break  # the settle task finishes it

    def phase(orders: int) -> None:
        threads = [
            threading.Thread(target=shop, args=(s, methods[str(m["id"])], orders))
            for s, m in zip(shoppers, members, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

    stack.sandbox_fault("flap", period=3)
    phase(4)
    stack.sandbox_fault("timeout", delay=1.5, operations=["charge"])
    phase(1)
    stack.sandbox_fault("ok")

    def settled() -> bool:
        return not stack.sql("SELECT 1 FROM orders_orderpayment WHERE status = 'pending'")

    wait_until(settled, 60, "pending payments to settle", interval=0.5)
    answers = [a for s in shoppers for a in s.answers]
    stats = stack.sandbox_stats()
    payments = dict(stack.sql("SELECT status, count(*) FROM orders_orderpayment GROUP BY status"))
    print(f"sandbox flap: {summary(answers)}; payments {payments}; provider requests {stats['requests']}")
    bad = [a for a in answers if a.status not in OK and (a.status, a.code) not in PAY_REFUSALS]
    assert not bad, f"{summary(bad)}\n{stack.procs.log('web')}"
    refused = [a for a in answers if a.status not in OK]
    assert all(a.content_type.startswith("application/problem+json") for a in refused)
    assert any(a.code == "payment.provider_unavailable" for a in refused), "the flap never reached a client"
    assert stats["requests"]["charge"] > len(answers) // 4  # the provider was really asked
    # Never charged twice: per charge reference, and per order.
    assert stats["charges_applied"] and max(stats["charges_applied"].values()) == 1, stats["charges_applied"]
    captured = stack.sql(
        "SELECT order_id, count(*) FROM orders_orderpayment WHERE status = 'captured' GROUP BY order_id"
    )
    assert captured and max(n for _, n in captured) == 1
    assert payments.get("captured", 0) == len(captured)
    # What the provider charged is what the shop captured (or refunded, for an order that
    # could no longer be captured); every order a client saw paid is paid.
    refunded = payments.get("refunded", 0)
    assert len(stats["charges_applied"]) == payments.get("captured", 0) + refunded, (stats, payments)
    paid_in_db = {str(r[0]) for r in stack.sql("SELECT public_id FROM orders_order WHERE status = 'paid'")}
    assert {o for s in shoppers for o in s.paid} <= paid_in_db
    stack.check_invariants(relay=False)
