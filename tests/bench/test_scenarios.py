from urllib.parse import parse_qs, urlsplit

import pytest

from bench import views
from bench.scenarios import REGISTRY, SEARCH_TERMS, SORTS, Context, scenario
from tests.catalog.factories import CategoryFactory, ProductFactory


@pytest.fixture
def seeded(db):
    views.baseline_model.cache_clear()
    shoes = CategoryFactory(slug="bench-shoes")
    water = CategoryFactory(slug="bench-water")
    products = [ProductFactory(category=shoes, skus=2), ProductFactory(category=water, skus=2)]
    products.append(ProductFactory(category=water, skus=2))
    yield products
    views.baseline_model.cache_clear()


def _build(name):
    return REGISTRY[name].build(Context(max_paths=50))


def test_registry_order_and_targets_follow_the_issue():
    assert list(REGISTRY)[:5] == ["baseline", "product_list", "product_detail", "search", "availability"]
    assert REGISTRY["product_list"].p95_target_ms == 200
    assert REGISTRY["product_detail"].p95_target_ms == 200
    assert REGISTRY["availability"].p95_target_ms == 100
    assert REGISTRY["baseline"].p95_target_ms is None


def test_a_scenario_name_is_registered_once():
    with pytest.raises(ValueError, match="registered twice"):
        scenario("baseline", "again")(lambda ctx: [])


@pytest.mark.django_db
def test_paths_come_from_the_seeded_rows(seeded):
    ids = {p.pk for p in seeded}
    codes = {sku.code for p in seeded for sku in p.skus.all()}
    # baseline and detail rotate over real product ids
    assert {int(path.rsplit("/", 1)[1]) for path in _build("baseline")} == ids
    assert {int(path.rsplit("/", 1)[1]) for path in _build("product_detail")} == ids
    # the list covers every (category, sort) pair
    pairs = set()
    for path in _build("product_list"):
        query = parse_qs(urlsplit(path).query)
        pairs.add((query["category"][0], query["sort"][0]))
    assert {(c, s) for c in ("bench-shoes", "bench-water") for s in SORTS} <= pairs
    # search asks every word once; availability asks 1 to 5 real SKU codes
    assert sorted(parse_qs(urlsplit(p).query)["q"][0] for p in _build("search")) == sorted(SEARCH_TERMS)
    for path in _build("availability"):
        asked = parse_qs(urlsplit(path).query)["sku"]
        assert 1 <= len(asked) <= 5
        assert set(asked) <= codes


@pytest.mark.django_db
@pytest.mark.urls("bench.urls")
def test_every_scenario_path_answers_200(seeded, client):
    for name in ("baseline", "product_list", "product_detail", "search", "availability"):
        item = REGISTRY[name]
        path = _build(name)[0]
        response = client.get(path, headers=item.headers)
        assert response.status_code == 200, (name, path, response.content[:300])
