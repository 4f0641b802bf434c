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
