import importlib
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.test import RequestFactory
from django.urls import Resolver404, URLPattern, resolve, reverse

from bench import urls as bench_urls
from bench import views
from bench.scenarios import BARE_SETTINGS, REGISTRY

SETTINGS_DIR = Path(__file__).resolve().parents[2] / "joopang" / "settings"


@pytest.fixture(autouse=True)
def _fresh_model_choice():
    views.baseline_model.cache_clear()
    yield
    views.baseline_model.cache_clear()


@pytest.mark.django_db
@pytest.mark.urls("bench.urls")
def test_baseline_answers_through_the_bench_urls(client):
    # given no products: the baseline reads auth permissions (always migrated)
    pk = Permission.objects.order_by("pk").values_list("pk", flat=True).first()
    # when
    response = client.get(f"/bench/baseline/{pk}")
    missing = client.get("/bench/baseline/999999999")
    # then
    assert response.status_code == 200
    assert response.json() == {"id": pk, "found": True}
    assert missing.status_code == 200
    assert missing.json() == {"id": 999999999, "found": False}


@pytest.mark.django_db
def test_baseline_view_runs_exactly_one_query(django_assert_num_queries):
    # given the model was chosen (the choice's own query happens once per process)
    model = views.baseline_model()
    pk = model._default_manager.order_by("pk").values_list("pk", flat=True).first()
    request = RequestFactory().get(f"/bench/baseline/{pk}")
    # when / then
    with django_assert_num_queries(1) as ctx:
        response = views.baseline(request, pk)
    assert response.status_code == 200
    sql = ctx.captured_queries[0]["sql"]
    assert sql == (
        f'SELECT "auth_permission"."id" AS "pk" FROM "auth_permission" WHERE "auth_permission"."id" = {pk} LIMIT 1'
    )


@pytest.mark.urls("bench.urls")
def test_bench_urls_still_serve_the_project():
    assert resolve("/healthz").url_name == "healthz"
    assert resolve("/bench/baseline/1").func is views.baseline


def test_production_urls_have_no_baseline():
    with pytest.raises(Resolver404):
        resolve("/bench/baseline/1", urlconf="joopang.urls")


def test_production_urls_have_no_bench_write_endpoint():
    assert resolve("/bench/reserve-release", urlconf="bench.urls").func is views.reserve_release
    with pytest.raises(Resolver404):
        resolve("/bench/reserve-release", urlconf="joopang.urls")


def test_no_bench_view_is_mounted_by_the_production_urls():
    # every view bench/urls.py adds (not the project's URLs it includes) has a URL there...
    own = [p for p in bench_urls.urlpatterns if isinstance(p, URLPattern)]
    assert {p.callback for p in own} >= {views.baseline, views.reserve_release}
    for pattern in own:
        url = reverse(
            pattern.name, urlconf="bench.urls", kwargs=dict.fromkeys(pattern.pattern.converters, "1")
        )
        assert resolve(url, urlconf="bench.urls").func is pattern.callback
        # ...and none in the production URL conf
        with pytest.raises(Resolver404):
            resolve(url, urlconf="joopang.urls")


def test_only_the_bench_settings_use_the_bench_urls():
    # the URL conf that mounts the bench views is named only by the bench settings modules,
    # and no other settings module imports them
    for module in sorted(SETTINGS_DIR.glob("*.py")):
        text = module.read_text()
        if module.stem.startswith("bench"):
            continue
        assert "bench.urls" not in text, module.name
        assert not re.search(r"from joopang\.settings\.bench|import joopang\.settings\.bench", text), (
            module.name
        )


def test_bare_settings_are_the_bench_settings_with_djangos_default_middleware():
    bench = importlib.import_module("joopang.settings.bench")
    bare = importlib.import_module(BARE_SETTINGS)
    # then the same URL conf (the same baseline view) and database; only the middleware differs
    assert bare.ROOT_URLCONF == bench.ROOT_URLCONF == "bench.urls"
    assert bare.DATABASES == bench.DATABASES
    assert bare.MIDDLEWARE == [
        "django.middleware.security.SecurityMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ]
    assert len(bench.MIDDLEWARE) > len(bare.MIDDLEWARE)
    # and the scenario restarts gunicorn with them, on the baseline's paths
    item = REGISTRY["baseline_bare"]
    assert item.server_env == {"DJANGO_SETTINGS_MODULE": BARE_SETTINGS}
    assert item.headers == REGISTRY["baseline"].headers == {}


@pytest.mark.django_db
@pytest.mark.urls("bench.urls")
def test_baseline_bare_asks_the_baseline_paths(client, settings):
    from bench.scenarios import Context

    paths = REGISTRY["baseline_bare"].build(Context(max_paths=20))
    assert paths == REGISTRY["baseline"].build(Context(max_paths=20))
    # and the view answers through Django's default middleware
    settings.MIDDLEWARE = importlib.import_module(BARE_SETTINGS).MIDDLEWARE
    response = client.get(paths[0])
    assert response.status_code == 200
    assert response.json()["found"] is True
    assert "X-Request-ID" not in response.headers


def test_importing_the_bench_settings_leaves_the_running_settings_alone(settings):
    # when the benchmark's settings are imported in this process, as the test above does
    bench = importlib.reload(importlib.import_module("joopang.settings.bench"))
    bare = importlib.reload(importlib.import_module(BARE_SETTINGS))

    # then they have their own request-log level and cache key prefix...
    assert bench.LOGGING["loggers"]["django_structlog"]["level"] == bench.LOG_LEVEL
    # ...and the running settings still have theirs (a LOGGING dict shared with the base
    # module once set the request log to WARNING for every later dictConfig(settings.LOGGING)
    # of the process, and the tests' cache to the benchmark's key prefix)
    for module in (bench, bare):
        assert module.LOGGING is not settings.LOGGING and module.CACHES is not settings.CACHES
    assert settings.LOGGING["loggers"]["django_structlog"]["level"] == settings.LOG_LEVEL
    assert settings.CACHES["default"].get("KEY_PREFIX") != "joopang-bench"
