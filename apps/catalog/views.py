"""Storefront catalog pages (category listing, search, product detail, generated product
images) and the glue the API shares with them: filters -> selector -> keyset page ->
stock for the page (the only read of another app, through inventory's selectors)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from django.contrib import messages
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponsePermanentRedirect, QueryDict
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from apps.carts.web import COOKIE_NAME as CART_COOKIE
from apps.catalog import presenters, readcache, selectors
from apps.catalog import search as search_text
from apps.catalog.api.filters import SEARCH_MAX_LENGTH, product_list_form
from apps.catalog.errors import CategoryNotFound, CursorInvalid, ProductNotFound
from apps.catalog.keyset import DEFAULT_LIMIT, MAX_LIMIT, Page, keyset_page
from apps.catalog.models import Product
from apps.core.errors import DomainError, RequestInvalid
from apps.core.money import currency_exponent
from apps.core.problems import _field_errors
from apps.coupons import selectors as coupon_selectors
from apps.inventory import selectors as inventory_selectors
from joopang.db_router import replica_reads, stay_on_primary

STOREFRONT_PAGE_SIZE = 20


# --- Shared by the API and the pages ----------------------------------------------------------


def _invalid(errors: Any) -> RequestInvalid:
    err = RequestInvalid()
    err.params["errors"] = _field_errors({k: [str(m) for m in v] for k, v in errors.items()})
    return err


def product_page(
    request: Any,
    params: QueryDict | None = None,
    *,
    category: selectors.CategoryNode | None = None,
    default_limit: int | None = None,
) -> tuple[Page, list[presenters.ProductCard]]:
    """Parse the list filters, run the selector, cut the keyset page and attach stock.

    Two queries whatever the page size. Raises: request.invalid, catalog.cursor_invalid,
    catalog.category_not_found.
    """
    page, cards, _count = _product_page(request, params, category=category, default_limit=default_limit)
    return page, cards


@replica_reads()  # the listing rows and the count; stock and coupons are the primary's
def _product_page(
    request: Any,
    params: QueryDict | None = None,
    *,
    category: selectors.CategoryNode | None = None,
    default_limit: int | None = None,
    count: bool = False,
) -> tuple[Page, list[presenters.ProductCard], int | None]:
    """``product_page``, and with ``count`` the number of matching products (one more
    query: the storefront shows "12 products"; the API pages by cursor and does not)."""
    params = params if params is not None else request.GET
    form = product_list_form(params)
    if not form.is_valid():
        raise _invalid(form.errors)
    data = form.cleaned_data
    if data.get("in_stock"):
        stay_on_primary()  # the listing query embeds the stock subquery: stock is the primary's
    market = request.market
    if category is None and data.get("category"):
        category = selectors.category_get(slug=data["category"])
    filters: dict[str, Any] = {
        "market": market,
        "category": category,
        "q": data.get("q") or None,
        "min_price": data.get("min_price"),
        "max_price": data.get("max_price"),
        "in_stock_product_ids": inventory_selectors.in_stock_product_ids(market_code=market.code)
        if data.get("in_stock")
        else None,
    }
    qs, keys = selectors.product_list(**filters, sort=data.get("sort") or None)
    limit = min(data.get("limit") or default_limit or DEFAULT_LIMIT, MAX_LIMIT)
    # A parent category's page: each subcategory's part read from its own index range.
    parts = [Q(category_id=pk) for pk in category.descendant_ids()] if category is not None else []
    page = keyset_page(qs, keys, cursor=params.get("cursor") or None, limit=limit, parts=parts)
    availability = inventory_selectors.available_by_product_ids(
        product_ids=[row.product_id for row in page.items], market_code=market.code
    )
    total = None
    if count:
        # the first page of a short list counts itself; otherwise one COUNT(*)
        short = not params.get("cursor") and page.next_cursor is None
        total = len(page.items) if short else selectors.product_count(**filters)
    return page, coupon_flags(presenters.cards(page.items, availability), market), total


def coupon_flags(cards: list[presenters.ProductCard], market: Any) -> list[presenters.ProductCard]:
    """Set the cards' ``coupon_applicable`` from the market's running campaigns (the
    coupons' selector): one query when none runs, six when some do, whatever the number of
    cards; none without cards."""
    if cards:
        covered = coupon_selectors.products_with_campaigns(
            product_ids=list({card.id for card in cards}), market=market
        )
        for card in cards:
            card.coupon_applicable = card.id in covered
    return cards


def product_coupon_applicable(product_id: int, market: Any) -> bool:
    """One product's flag (the detail page and API), as ``coupon_flags``."""
    return product_id in coupon_selectors.products_with_campaigns(product_ids=[product_id], market=market)


def page_url(request: Any, cursor: str | None, *, absolute: bool = False) -> str | None:
    if cursor is None:
        return None
    params = request.GET.copy()
    params["cursor"] = cursor
    base = request.build_absolute_uri(request.path) if absolute else request.path
    return base + "?" + params.urlencode()


@replica_reads()
def popular_cards(market: Any) -> list[presenters.ProductCard]:
    """The market's top 5 (cached ranking; fresh prices and stock: two more queries)."""
    ids = selectors.popular_product_ids(market=market)
    if not ids:
        return []
    listings = selectors.listings_for_products(market=market, product_ids=ids)
    availability = inventory_selectors.available_by_product_ids(product_ids=ids, market_code=market.code)
    return coupon_flags(presenters.cards(listings, availability), market)


@dataclass
class HomeShelf:
    """One row of product cards on the home page."""

    key: str
    title: str
    cards: list[presenters.ProductCard]
    more_url: str = ""
    show_end: bool = False  # every card says when its sale ends (today's deals)


@replica_reads()
def home_shelves(market: Any) -> list[HomeShelf]:
    """The home page's sections: popular, today's deals (with their end time), new
    arrivals and the picks of each top category. Ids come from cached selectors; the cards
    of every section are built from ONE listing query and ONE stock query."""
    popular_ids = selectors.popular_product_ids(market=market, limit=10)
    sections = selectors.home_sections(market=market)
    ids = list(dict.fromkeys([*popular_ids, *sections.all_ids()]))
    if not ids:
        return []
    rows = selectors.listings_for_products(market=market, product_ids=ids)
    availability = inventory_selectors.available_by_product_ids(product_ids=ids, market_code=market.code)
    by_id = {card.id: card for card in coupon_flags(presenters.cards(rows, availability), market)}

    def pick(product_ids: list[int]) -> list[presenters.ProductCard]:
        return [by_id[pid] for pid in product_ids if pid in by_id]

    tree = selectors.category_tree()
    shelves = [
        HomeShelf("popular", _("Popular right now"), pick(popular_ids)),
        HomeShelf(
            "deals",
            _("Today's deals"),
            [card for card in pick(sections.deal_ids) if card.price.on_sale],
            show_end=True,
        ),
        HomeShelf("new", _("New arrivals"), pick(sections.new_ids)),
    ]
    for category_id, product_ids in sections.picks:
        node = tree.by_id.get(category_id)
        if node is not None:
            shelves.append(
                HomeShelf(
                    f"category-{node.slug}",
                    _("Picks in %(category)s") % {"category": node.name},
                    pick(product_ids),
                    more_url=f"/c/{node.slug}/",
                )
            )
    return [shelf for shelf in shelves if shelf.cards]


# --- Cached pages (readcache) -------------------------------------------------------------


@dataclass
class Built:
    """A page's shared part, built on a cache miss: the content fragment's template and
    context (no request, user or token in it), the shell's context (picklable: the title),
    what it shows of the stock, and when its prices change."""

    template: str
    context: dict[str, Any]
    shell: dict[str, Any]
    ids: list[int]  # product ids (lists, home) or SKU ids (product page)
    available: dict[int, int]
    boundaries: list[Any] = field(default_factory=list)
    cacheable: bool = True


@dataclass(frozen=True)
class _FragmentRequest:
    """What a fragment may read of the request: the URL, never the user or the session."""

    GET: QueryDict
    path: str
    full_path: str

    def get_full_path(self) -> str:
        return self.full_path


def cached_page(
    request: HttpRequest,
    kind: str,
    shell_template: str,
    build: Callable[[], Built | HttpResponse],
    *,
    stock: Callable[[list[int]], dict[int, int]],
) -> HttpResponse:
    """Serve a storefront page whose content is cached (``readcache``): the content
    fragment is shared by every shopper of the market, language and URL, and reused only
    while the fresh stock of what it shows (``stock``, every request) reads as it did when
    it was rendered; the shell (header, cart count, messages, footer) is rendered for each
    request, and the CSRF placeholder becomes this request's token."""
    key = readcache.key_for(kind, request)
    entry, version = readcache.read(key)
    if entry is not None:
        ids = list(entry.ids)
        if readcache.stock_signature(stock(ids), ids) == entry.stock:
            return _shell(request, shell_template, entry.body, key=key, entry=entry)
    built = build()
    if isinstance(built, HttpResponse):
        return built
    context = {
        **built.context,
        "request": _FragmentRequest(request.GET, request.path, request.get_full_path()),
        "current_market": request.market,  # type: ignore[attr-defined]
        "csrf_token": readcache.CSRF_PLACEHOLDER,
    }
    body = {**built.shell, "content": render_to_string(built.template, context)}
    if _plain_guest(request):
        # the guest's whole page goes into the same write (not a second one after it)
        body["guest"] = _guest_page(request, shell_template, body)
    written = None
    if built.cacheable:
        written = readcache.write(
            key,
            version,
            body=body,
            ids=built.ids,
            stock=readcache.stock_signature(built.available, built.ids),
            boundaries=built.boundaries,
        )
    return _shell(request, shell_template, body, key=key, entry=written)


def _plain_guest(request: HttpRequest) -> bool:
    """A shopper whose header and footer are everybody's: not signed in, no cart cookie,
    no message waiting (counting messages does not consume them)."""
    user = getattr(request, "user", None)
    if user is None or user.is_authenticated or request.COOKIES.get(CART_COOKIE):
        return False
    return not len(messages.get_messages(request))  # type: ignore[arg-type]


def _with_token(request: HttpRequest, html: str) -> str:
    if readcache.CSRF_PLACEHOLDER in html:
        html = html.replace(readcache.CSRF_PLACEHOLDER, get_token(request))
    return html


def _shell(
    request: HttpRequest,
    template: str,
    body: dict[str, Any],
    *,
    key: str = "",
    entry: readcache.Entry | None = None,
) -> HttpResponse:
    """The page around the cached content. A plain guest's whole page is the same for every
    plain guest of the market, language and URL: it is kept in the entry too (``guest``),
    with the token placeholder, and served without rendering."""
    guest = _plain_guest(request)
    if guest and body.get("guest"):
        response = HttpResponse(_with_token(request, body["guest"]))
    elif guest:
        page = _guest_page(request, template, body)
        if entry is not None:
            readcache.replace(key, entry, body={**body, "guest": page})
        response = HttpResponse(_with_token(request, page))
    else:
        content = mark_safe(_with_token(request, body["content"]))  # noqa: S308  # our templates' output
        return render(request, template, {**body, "content": content})
    patch_vary_headers(response, ("Cookie",))  # as a rendered page: the session was read
    return response


#: Stand-ins for what a plain guest's shell shows of one page (``_guest_page``): text that
#: autoescaping leaves as it is, and that no template makes on its own.
_STAND_INS = {
    "title": "@@shell-title@@",
    "content": "@@shell-content@@",
    "q": "@@shell-q@@",
    "path": "@@shell-full-path@@",
}
_STAND_IN_RE = re.compile("|".join(re.escape(v) for v in _STAND_INS.values()))
_STAND_IN_NAMES = {v: k for k, v in _STAND_INS.items()}


class _NotInShell(Exception):
    """A memoised shell read something of the request it cannot stand in for: it is not
    memoised (``silent_variable_failure`` off, so the template does not swallow it)."""

    silent_variable_failure = False


class _ShellRequest:
    """The request as a memoised shell sees it: the search box's ``q`` and the full path
    (the switchers' way back) as stand-ins; anything else is :class:`_NotInShell`."""

    def __init__(self) -> None:
        self.GET = QueryDict(mutable=True)
        self.GET["q"] = _STAND_INS["q"]

    def get_full_path(self) -> str:
        return _STAND_INS["path"]

    def __getattr__(self, name: str) -> Any:
        raise _NotInShell(name)


@dataclass(frozen=True)
class _Shell:
    markets: Any  # the market map it was rendered with: a market edit makes it stale
    parts: tuple[str, ...]  # text, stand-in name, text, stand-in name, ..., text


#: A plain guest's shell (header, switchers, footer: the same for every plain guest) per
#: template, market, language and whether the page has a title; None: not memoisable.
_guest_shells: dict[tuple[str, str, str, bool], _Shell | None] = {}


def _guest_page(request: HttpRequest, template: str, body: dict[str, Any]) -> str:
    """A plain guest's whole page (with the CSRF placeholder): the shell is rendered once
    per process and market map, with stand-ins for the title, the content, the search box
    and the full path; each page puts its own, escaped, in their place. Rendering the
    shell was about a quarter of a page's first render. ``tests/catalog/test_read_cache.py``
    checks the result against a full render of every cached page."""
    from apps.markets.selectors import market_map

    markets = market_map()
    market = request.market  # type: ignore[attr-defined]
    key = (template, market.code, translation.get_language() or "", "title" in body)
    shell = _guest_shells.get(key)
    if key not in _guest_shells or (shell is not None and shell.markets is not markets):
        shell = _guest_shells[key] = _shell_render(request, template, markets, titled=key[3])
    if shell is None:
        context = {**body, "content": mark_safe(body["content"]), "csrf_token": readcache.CSRF_PLACEHOLDER}  # noqa: S308  # our templates' output
        return render_to_string(template, context, request)
    values = {
        "title": conditional_escape(body.get("title", "")),
        "content": body["content"],
        "q": conditional_escape(request.GET.get("q") or ""),
        "path": conditional_escape(request.get_full_path()),
    }
    parts = shell.parts
    out = [parts[0]]
    for i in range(1, len(parts), 2):
        out.append(values[parts[i]])
        out.append(parts[i + 1])
    return "".join(out)


def _shell_render(request: HttpRequest, template: str, markets: Any, *, titled: bool) -> _Shell | None:
    context: dict[str, Any] = {
        "content": mark_safe(_STAND_INS["content"]),  # noqa: S308  # a constant
        "csrf_token": readcache.CSRF_PLACEHOLDER,
        "request": _ShellRequest(),
    }
    if titled:
        context["title"] = _STAND_INS["title"]
    try:
        html = render_to_string(template, context, request)
    except _NotInShell:
        return None
    parts: list[str] = []
    last = 0
    for match in _STAND_IN_RE.finditer(html):
        parts += [html[last : match.start()], _STAND_IN_NAMES[match.group()]]
        last = match.end()
    parts.append(html[last:])
    if "content" not in parts[1::2]:
        return None  # the content is not where the stand-in was put: render every page
    return _Shell(markets, tuple(parts))


def card_boundaries(cards: list[presenters.ProductCard]) -> list[Any]:
    """When the cards' markup changes by itself: a sale starts or ends, an "ends soon"
    badge appears (24 h before the end)."""
    out: list[Any] = []
    for card in cards:
        out.append(card.price_changes_at)
        if card.price.sale_ends_at is not None:
            out.append(card.price.sale_ends_at - dt.timedelta(hours=24))
    return out


def product_stock(market: Any) -> Callable[[list[int]], dict[int, int]]:
    return lambda ids: inventory_selectors.available_by_product_ids(product_ids=ids, market_code=market.code)


# --- Pages ---------------------------------------------------------------------------------


#: A price typed in major units: digits with an optional fraction, bounded (issue 16: an
#: exponent such as 1e999999 made int() build a million-digit number; Infinity was a 500).
_PLAIN_AMOUNT = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,4})?")


def _major_to_minor(params: QueryDict, currency: str) -> QueryDict:
    """The storefront's price boxes take major units (dollars, won); the selector minor."""
    out = params.copy()
    exponent = currency_exponent(currency)
    for name in ("min_price", "max_price"):
        raw = (out.get(name) or "").strip()
        if not raw:
            out.pop(name, None)
            continue
        if not _PLAIN_AMOUNT.fullmatch(raw):
            continue  # left as typed ("Infinity", "1e999999"): the form reports it, nothing is computed
        out[name] = str(int(Decimal(raw).scaleb(exponent)))
    return out


def _listing(
    request: HttpRequest,
    *,
    category: selectors.CategoryNode | None,
    title: str,
    kind: str,
    extra: dict[str, Any],
) -> HttpResponse:
    market = request.market  # type: ignore[attr-defined]

    def build() -> Built | HttpResponse:
        params = _major_to_minor(request.GET, market.currency)
        if category is not None:
            params.pop("category", None)
        cards: list[presenters.ProductCard] = []
        page = Page([], None, None)
        errors: list[str] = []
        total: int | None = None
        try:
            page, cards, total = _product_page(
                request, params, category=category, default_limit=STOREFRONT_PAGE_SIZE, count=True
            )
        except CategoryNotFound as exc:  # ?category= naming no category: as on the API, 404
            raise Http404(exc.detail) from exc
        except CursorInvalid:
            clean = request.GET.copy()
            clean.pop("cursor", None)
            return redirect(request.path + ("?" + clean.urlencode() if clean else ""))
        except RequestInvalid as exc:
            # Shoppers read the box's label ("최저가"), not the parameter's name ("min_price").
            labels = {
                name: str(field.label or "") for name, field in product_list_form(request.GET).fields.items()
            }
            errors = [
                f"{labels[e['field']]}: {e['message']}" if labels.get(e["field"]) else str(e["message"])
                for e in exc.params.get("errors", [])
            ]
        form = product_list_form(request.GET)
        context = {
            "title": title,
            "cards": cards,
            "total": total,
            "next_url": page_url(request, page.next_cursor),
            "previous_url": page_url(request, page.previous_cursor),
            "first_url": _first_page_url(request) if request.GET.get("cursor") else None,
            "form": form,
            "sort": request.GET.get("sort", ""),
            "errors": errors,
            "tree": selectors.category_tree().roots,
            "current_category": category,
            **extra,
        }
        if extra.get("search") and not cards and not errors:
            context.update(_no_results_help(request, extra.get("q") or ""))
        shown = cards + list(context.get("popular") or [])
        return Built(
            "catalog/_listing_content.html",
            context,
            {"title": title},
            [card.id for card in shown],
            {card.id: card.available for card in shown},
            card_boundaries(shown),
            # "in stock only" filters on stock (not cached, as on the API); a form error is rare
            cacheable=not errors and "in_stock" not in request.GET,
        )

    return cached_page(request, kind, "catalog/listing.html", build, stock=product_stock(market))


def _first_page_url(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("cursor", None)
    return request.path + ("?" + params.urlencode() if params else "")


def _no_results_help(request: HttpRequest, q: str) -> dict[str, Any]:
    """A way on from a search that found nothing: a spelling hint when a product, brand or
    category name is near what was typed, and the popular products (the page shows the
    categories too)."""
    language = translation.get_language() or "en"
    suggestion = search_text.spelling_suggestion(q, selectors.search_vocabulary(language=language))
    return {
        "suggestion": suggestion,
        "suggestion_url": "/search?" + QueryDict.fromkeys(["q"], suggestion).urlencode()
        if suggestion
        else None,
        "popular": popular_cards(request.market),  # type: ignore[attr-defined]
    }


@require_GET
def category_detail(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        category = selectors.category_get(slug=slug)
    except CategoryNotFound as exc:
        raise Http404(str(exc)) from exc
    parent = selectors.category_tree().by_id.get(category.parent_id) if category.parent_id else None
    return _listing(
        request,
        category=category,
        title=category.name,
        kind="category",
        extra={"parent": parent, "subcategories": category.children},
    )


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    q = (request.GET.get("q") or "").strip()
    if len(q) > SEARCH_MAX_LENGTH:
        # A pasted paragraph searches its start (as the header box's maxlength would),
        # instead of a form error naming the field "q" and echoing 10,000 characters.
        q = q[:SEARCH_MAX_LENGTH].rstrip()
        clipped = request.GET.copy()
        clipped["q"] = q
        request.GET = clipped  # type: ignore[assignment]
        request.META["QUERY_STRING"] = clipped.urlencode()  # links built from the full path
    title = _("Results for “%(q)s”") % {"q": q} if q else _("Search")
    market = request.market  # type: ignore[attr-defined]
    if not q:

        def build() -> Built:
            popular = popular_cards(market)
            context = {
                "title": title,
                "cards": [],
                "form": product_list_form(request.GET),
                "search": True,
                "q": q,
                "tree": selectors.category_tree().roots,
                "popular": popular,
            }
            return Built(
                "catalog/_listing_content.html",
                context,
                {"title": title},
                [card.id for card in popular],
                {card.id: card.available for card in popular},
                card_boundaries(popular),
            )

        return cached_page(request, "search", "catalog/listing.html", build, stock=product_stock(market))
    return _listing(request, category=None, title=title, kind="search", extra={"search": True, "q": q})


@require_GET
def product_detail(request: HttpRequest, product_id: int, slug: str = "") -> HttpResponse:
    market = request.market  # type: ignore[attr-defined]

    def build() -> Built | HttpResponse:
        try:
            detail = selectors.product_detail_get(product_id=product_id, market=market)
        except ProductNotFound as exc:
            raise Http404(str(exc)) from exc
        except DomainError as exc:  # e.g. no FX rate configured: show it, do not crash
            messages.error(request, exc.detail)
            return redirect("/")
        product = detail.product
        if slug != product.slug:
            return HttpResponsePermanentRedirect(f"/p/{product.pk}/{product.slug}/")
        sku_ids = [v.sku.pk for v in detail.skus]
        available = inventory_selectors.available_by_sku_ids(sku_ids=sku_ids, market_code=market.code)
        skus: list[dict[str, Any]] = [
            {
                "view": v,
                "available": max(available.get(v.sku.pk, 0), 0),
                "label": option_label(v.sku.options, position=i),
            }
            for i, v in enumerate(detail.skus)
        ]
        total = sum(s["available"] for s in skus)
        selected = request.GET.get("sku") or next(
            (s["view"].sku.code for s in skus if s["available"] > 0), skus[0]["view"].sku.code
        )
        selected_view = next((s for s in skus if s["view"].sku.code == selected), skus[0])
        tree = selectors.category_tree()
        category = tree.by_id.get(product.category_id)
        parent = tree.by_id.get(category.parent_id) if category and category.parent_id else None
        context = {
            "product": product,
            "detail": detail,
            "skus": skus,
            "selected": selected_view,
            "stock_status": presenters.stock_status(selected_view["available"]),
            "product_stock_status": presenters.stock_status(total),
            "category": category,
            "parent": parent,
            "image_src": presenters.image_src(product.pk, product.image_url),
            "coupon_applicable": product_coupon_applicable(product.pk, market),
        }
        return Built(
            "catalog/_product_content.html",
            context,
            {"title": product.name},
            sku_ids,
            available,
            [v.next_change for v in detail.skus],
        )

    def stock(sku_ids: list[int]) -> dict[int, int]:
        return inventory_selectors.available_by_sku_ids(sku_ids=sku_ids, market_code=market.code)

    return cached_page(request, "product", "catalog/product_detail.html", build, stock=stock)


#: Option names shown to shoppers (a SKU's ``options`` keys are data: ``{"size": "240"}``).
OPTION_NAMES = {
    "size": gettext_lazy("Size"),
    "color": gettext_lazy("Colour"),
    "pack": gettext_lazy("Pack"),
    "weight": gettext_lazy("Weight"),
    "volume": gettext_lazy("Volume"),
}


#: Option values that are words (sizes and pack counts read the same in every language).
OPTION_VALUES = {
    "Black": gettext_lazy("Black"),
    "White": gettext_lazy("White"),
    "Regular": gettext_lazy("Regular"),
    "Large": gettext_lazy("Large"),
}


def option_label(options: dict[str, Any], *, position: int) -> str:
    """ "Size 240 · Colour Black" from a SKU's options; never the SKU code (a shopper's
    page shows no internal codes): a SKU without options is "Option 2"."""
    parts = [
        f"{OPTION_NAMES.get(k, k)} {OPTION_VALUES.get(str(v), v)}"
        for k, v in options.items()
        if v not in (None, "")
    ]
    return " · ".join(parts) or _("Option %(n)s") % {"n": position + 1}


_PALETTE = ["#0b57d0", "#137333", "#c5221f", "#7b1fa2", "#e37400", "#00796b", "#3949ab", "#ad1457"]


@require_GET
@replica_reads()
def product_image(request: HttpRequest, product_id: int, lang: str | None = None) -> HttpResponse:
    """A generated, deterministic demo image (no external URLs): a tinted card with the
    product's initial and name in the page's language. Pages link the per-language URL
    (``/p/<id>/image.<lang>.svg``, ``presenters.image_src``), so a cache never hands an
    English page the Korean picture; the plain URL (the API's) follows the request's
    language. Cached by browsers for a day."""
    row = Product.objects.filter(pk=product_id).values_list("name_en", "name_ko").first()
    if row is None:
        raise Http404
    language = lang or translation.get_language() or "en"
    name_en, name_ko = (row[0] or "").strip(), (row[1] or "").strip()
    label = (name_ko or name_en) if language == "ko" else (name_en or name_ko)
    label = label or "?"
    initial = escape(label[:1].upper())
    digest = hashlib.sha256(str(product_id).encode()).digest()
    color = _PALETTE[digest[0] % len(_PALETTE)]
    shape = digest[1] % 3
    figure = (
        '<circle cx="200" cy="170" r="90" fill="#fff" fill-opacity=".25"/>'
        if shape == 0
        else '<rect x="110" y="80" width="180" height="180" rx="24" fill="#fff" fill-opacity=".25"/>'
        if shape == 1
        else '<polygon points="200,70 300,260 100,260" fill="#fff" fill-opacity=".25"/>'
    )
    caption = label if len(label) <= 26 else label[:25].rstrip() + "…"
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 400" width="400" height="400" '
        f'role="img" lang="{language}"><title>{escape(label)}</title>'
        f'<rect width="400" height="400" fill="{color}"/>{figure}'
        f'<text x="200" y="205" font-size="120" font-family="sans-serif" font-weight="700" fill="#fff" '
        f'text-anchor="middle" dominant-baseline="middle">{initial}</text>'
        f'<text x="200" y="345" font-size="22" font-family="sans-serif" fill="#fff" text-anchor="middle">'
        f"{escape(caption)}</text></svg>"
    )
    response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    response["Content-Language"] = language
    return response
