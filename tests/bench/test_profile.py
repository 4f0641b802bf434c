"""``bench.profile --layers``: each middleware layer's own function calls per request."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from bench.profile import layer_calls

EXTRA = 40


class Busy:
    """A layer that makes ``EXTRA`` more calls than :class:`Idle` on its own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for _ in range(EXTRA):
            abs(-1)
        return self.get_response(request)


class Idle:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)


def test_each_layer_counts_its_own_calls_and_not_its_inner_layers(client, settings):
    settings.MIDDLEWARE = [f"{__name__}.Busy", f"{__name__}.Idle"]
    assert client.get("/healthz").status_code == 200

    calls = layer_calls(lambda: client.get("/healthz"), 3)

    # Busy is the outer layer: Idle's calls and the view's are not counted as its own
    assert calls["Busy"] - calls["Idle"] == EXTRA
    assert calls["Idle"] >= 1
    handler = next(name for name in calls if name not in ("Busy", "Idle"))
    assert calls[handler] > calls["Busy"]  # URL resolution and the view, under the handler


def test_row_held_times_each_transaction_from_its_update_of_the_table_to_its_commit(transactional_db):
    import time

    from django.db import transaction

    from apps.markets.models import Market
    from bench.profile import row_held

    Market.objects.get_or_create(code="KR", defaults={"name": "Korea", "currency": "KRW"})
    turns = iter(["holds", "reads", "rolls back"])

    def send() -> None:
        turn = next(turns)
        try:
            with transaction.atomic():
                if turn == "reads":
                    list(Market.objects.filter(code="KR"))
                else:
                    Market.objects.filter(code="KR").update(name="Korea")
                time.sleep(0.03)
                if turn == "rolls back":
                    raise RuntimeError
        except RuntimeError:
            pass

    held = row_held(send, 3, Market._meta.db_table)

    # only the transaction that updated the table and committed is counted, and it held its
    # row at least as long as it slept before the commit
    assert len(held) == 1
    assert held[0] >= 30


def test_the_hold_starts_at_an_update_of_the_table_or_a_select_for_update_from_it():
    from bench.profile import _locks_rows_of

    assert _locks_rows_of('UPDATE "inventory_stocklevel" SET "reserved" = 1', "inventory_stocklevel")
    assert _locks_rows_of(
        'SELECT "inventory_stocklevel"."id" FROM "inventory_stocklevel" ORDER BY 1 FOR UPDATE OF "inventory_stocklevel"',
        "inventory_stocklevel",
    )
    assert not _locks_rows_of(
        'SELECT "inventory_stocklevel"."id" FROM "inventory_stocklevel"', "inventory_stocklevel"
    )
    assert not _locks_rows_of('UPDATE "inventory_stocklevel_x" SET "a" = 1', "inventory_stocklevel")
    assert not _locks_rows_of('SELECT "a"."id" FROM "other" FOR UPDATE', "inventory_stocklevel")
