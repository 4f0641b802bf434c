import pytest
from django.contrib.auth.models import Permission
from django.test import RequestFactory
from django.urls import Resolver404, resolve

from bench import views


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
