"""Coupons API (API.md "Coupons"): the coupon zone, claiming, my coupons, and the back
office's campaigns (create, edit, status, stats, revoke).

- ``GET /coupons/campaigns``: anyone (guests too); ``claimed_by_me`` is 0 for guests.
- ``POST /coupons/campaigns/{id}/claim``, ``GET /coupons``: members (``accounts.shop``).
- ``/admin/coupon-campaigns``: ``coupons.view_campaign`` to read (marketing, ops, customer
  service), ``add_campaign``/``change_campaign`` to write and ``revoke_coupon`` to revoke
  (marketing, ops).

A campaign is never deleted (its coupons and their usage are records): end it with
``PATCH {"status": "ended"}``. ``DELETE`` answers ``405 request.method_not_allowed``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.authentication import BearerClaimsAuthentication
from apps.accounts.models import User
from apps.accounts.permissions import HasPerm, IsMember
from apps.accounts.selectors import staff_markets
from apps.core.api.schema import problem_responses
from apps.core.errors import (
    IdempotencyInProgress,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    LoginRequired,
    PermissionDenied,
    RequestInvalid,
)
from apps.core.idempotency import HEADER as IDEMPOTENCY_HEADER
from apps.core.idempotency import idempotent
from apps.core.pagination import CursorPagination
from apps.coupons import selectors, services
from apps.coupons.api.serializers import (
    AdminCampaignListSerializer,
    AdminCampaignSerializer,
    CampaignStatsSerializer,
    ClaimableCampaignListSerializer,
    CouponListSerializer,
    CouponSerializer,
    admin_campaign_json,
    campaign_data,
    claimable_campaign_json,
    coupon_json,
    language,
    stats_json,
)
from apps.coupons.errors import (
    AlreadyClaimed,
    CampaignInactive,
    CampaignInvalid,
    CampaignNotFound,
    CampaignTransitionInvalid,
    MarketMismatch,
    NotStarted,
    SoldOut,
)
from apps.coupons.models import Campaign, Coupon
from apps.coupons.services.campaigns import FIELDS, TRANSITIONS
from apps.markets.models import Market

_CALLER_ERRORS = (LoginRequired, PermissionDenied)
_IDEMPOTENCY_ERRORS = (IdempotencyKeyInvalid, IdempotencyKeyReused, IdempotencyInProgress)
_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The campaign.")
_CURSOR = (
    OpenApiParameter("cursor", OpenApiTypes.STR),
    OpenApiParameter("limit", OpenApiTypes.INT, description="1-100, default 20."),
)
_DATETIME_FIELD = serializers.DateTimeField()

OPTIONAL_IDEMPOTENCY_KEY = OpenApiParameter(
    name=IDEMPOTENCY_HEADER,
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Optional, 1-255 visible ASCII characters: a retry with the same key gets the "
    "same coupon (`Idempotent-Replayed: true`), never a second one.",
)


def _market(request: Request) -> Market:
    return request.market  # type: ignore[attr-defined,no-any-return]


def _user(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _query(serializer: serializers.Serializer) -> dict[str, Any]:
    """Validated query parameters; a bad one is ``request.invalid`` with its field."""
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _campaign(campaign_id: int, user: User) -> Campaign:
    """The campaign if it runs in one of the staff member's markets; another market's is
    not found, like a missing one."""
    campaign = selectors.campaigns_in_scope(selectors.campaign_list(), user).filter(pk=campaign_id).first()
    if campaign is None:
        raise CampaignNotFound(campaign=str(campaign_id))
    return campaign


def _check_scope(user: User, campaign: Campaign | None, data: dict[str, Any]) -> None:
    """Changing a campaign (or creating one) needs every market it runs in, and every
    market it is to run in, to be the staff member's."""
    markets = staff_markets(user)
    if markets is None:
        return
    wanted = {str(code) for code in data.get("markets") or [] if isinstance(code, str)}
    if (
        campaign is not None and not selectors.campaign_within_scope(user, campaign)
    ) or not wanted <= markets:
        raise PermissionDenied()


# --- the coupon zone and my coupons --------------------------------------------------------


class CampaignClaimableListApi(APIView):
    """The campaigns a caller can claim in the request's market (``X-Market``): running or
    starting soon, soonest ending first. Open to guests."""

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="coupons_campaigns_list",
        responses={200: ClaimableCampaignListSerializer},
        tags=["coupons"],
    )
    def get(self, request: Request) -> Response:
        market, lang = _market(request), language()
        campaigns = list(selectors.campaigns_claimable(market=market))
        user = request.user
        counts = (
            selectors.claimed_counts(user=user, campaign_ids=[c.pk for c in campaigns])
            if isinstance(user, User) and user.is_authenticated
            else {}
        )
        return Response(
            {
                "results": [
                    claimable_campaign_json(c, market=market, lang=lang, claimed_by_me=counts.get(c.pk, 0))
                    for c in campaigns
                ]
            }
        )


class CampaignClaimApi(APIView):
    """Claim one coupon of a campaign, first come, first served. 201: the coupon.

    The same ``Idempotency-Key`` (optional) answers the same coupon again, even after the
    stored answer is gone. A refusal says why: all claimed (``coupon.sold_out``), the
    member's limit reached (``coupon.already_claimed``), not running
    (``coupon.campaign_inactive``), not open yet (``coupon.not_started``), another market
    (``coupon.market_mismatch``)."""

    # The token stands for the member (no query) until a claim gets past the rules and
    # the Redis gate: a sold-out or duplicate claim is answered without the database
    # (issue 21); coupon_claim reads the account before it writes anything.
    authentication_classes = [BearerClaimsAuthentication, SessionAuthentication]
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="coupons_campaigns_claim",
        # BearerClaimsAuthentication is bearerAuth (spectacular's hint says str; it takes these)
        auth=[{"bearerAuth": []}, {"cookieAuth": []}],  # type: ignore[list-item]
        parameters=[_ID, OPTIONAL_IDEMPOTENCY_KEY],
        request=None,
        responses={
            201: CouponSerializer,
            **problem_responses(
                *_CALLER_ERRORS,
                CampaignNotFound,
                SoldOut,
                AlreadyClaimed,
                CampaignInactive,
                NotStarted,
                MarketMismatch,
                *_IDEMPOTENCY_ERRORS,
            ),
        },
        tags=["coupons"],
    )
    @idempotent(required=False)
    def post(self, request: Request, id: int) -> Response:
        market = _market(request)
        coupon = services.coupon_claim(
            campaign_id=id,
            user=request.user,  # type: ignore[arg-type]  # a TokenPrincipal
            market=market,
            idempotency_key=request.headers.get(IDEMPOTENCY_HEADER),
        )
        return Response(coupon_json(coupon, market=market, lang=language()), status=status.HTTP_201_CREATED)


class CouponPagination(CursorPagination):
    ordering = ("-claimed_at", "-id")  # type: ignore[assignment]  # DRF takes a tuple


class CouponListApi(APIView):
    """The member's coupons, newest claim first (cursor pages), optionally of one status."""

    permission_classes = [IsMember]
    pagination_class = CouponPagination

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=Coupon.Status.values, required=False)

    @extend_schema(
        operation_id="coupons_list",
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=Coupon.Status.values),
            *_CURSOR,
        ],
        responses={200: CouponListSerializer, **problem_responses(*_CALLER_ERRORS, RequestInvalid)},
        tags=["coupons"],
    )
    def get(self, request: Request) -> Response:
        filters = _query(self.FilterSerializer(data=request.query_params))
        market, lang = _market(request), language()
        qs = selectors.coupon_list(user=_user(request), status=filters.get("status"))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self) or []
        return paginator.get_paginated_response([coupon_json(c, market=market, lang=lang) for c in page])


# --- back office ---------------------------------------------------------------------------


class CampaignInputSerializer(serializers.Serializer):
    """Documentation only: the body goes to ``services.campaign_clean``, which checks every
    field and answers ``coupon.campaign_invalid`` with a localized message per field."""

    name_ko = serializers.CharField(max_length=120)
    name_en = serializers.CharField(max_length=120)
    discount_type = serializers.ChoiceField(choices=Campaign.DiscountType.values)
    discount_value = serializers.IntegerField(help_text="Percent: 1-100. Fixed: minor units of the market.")
    max_discount = serializers.IntegerField(
        required=False, allow_null=True, help_text="Percent only: the most one order saves (minor units)."
    )
    min_order_amount = serializers.IntegerField(required=False, help_text="Minor units; default 0.")
    markets = serializers.ListField(
        child=serializers.CharField(),
        help_text="Market codes, at least one; one market only when the campaign has amounts "
        "(fixed discount, cap or minimum).",
    )
    categories = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        help_text="Eligible categories (with their children).",
    )
    products = serializers.ListField(child=serializers.IntegerField(), required=False)
    excluded_products = serializers.ListField(child=serializers.IntegerField(), required=False)
    total_quantity = serializers.IntegerField(required=False, allow_null=True, help_text="null: unlimited.")
    per_user_limit = serializers.IntegerField(required=False, help_text="Default 1.")
    uses_per_coupon = serializers.IntegerField(required=False, help_text="Default 1.")
    starts_at = serializers.DateTimeField(help_text="ISO 8601; without an offset, in the server's time zone.")
    ends_at = serializers.DateTimeField()
    valid_days = serializers.IntegerField(required=False, allow_null=True)
    status = serializers.CharField(
        required=False,
        help_text="`draft`, `active`, `paused` or `ended`. "
        "Create: `draft` (default) or `active`/`ended`. Edit: a transition "
        "(draft -> active <-> paused, any -> ended); another is 409.",
    )


def _invalid(errors: list[dict[str, str]]) -> CampaignInvalid:
    err = CampaignInvalid()
    err.params["errors"] = errors
    return err


def _campaign_input(body: Any, base: dict[str, Any]) -> tuple[dict[str, Any], Any, list[dict[str, str]]]:
    """``base`` (the campaign's data for PATCH, {} otherwise) with the body's fields over it,
    date-times parsed; also the requested status and the errors found here."""
    if not isinstance(body, dict):
        raise RequestInvalid()
    data = dict(base)
    errors: list[dict[str, str]] = []
    for name in FIELDS:
        if name not in body:
            continue
        value = body[name]
        if name in ("starts_at", "ends_at") and value is not None:
            try:
                value = _DATETIME_FIELD.run_validation(value)
            except serializers.ValidationError as exc:
                detail = exc.detail[0] if isinstance(exc.detail, list) else exc.detail
                errors.append({"field": name, "code": "invalid", "message": str(detail)})
                value = None
        data[name] = value
    wanted = body.get("status")
    if wanted is not None and wanted not in Campaign.Status.values:
        errors.append(
            {
                "field": "status",
                "code": "invalid",
                "message": serializers.ChoiceField.default_error_messages["invalid_choice"].format(
                    input=str(wanted)[:40]
                ),
            }
        )
        wanted = None
    return data, wanted, errors


def _refuse(data: dict[str, Any], errors: list[dict[str, str]]) -> CampaignInvalid:
    """The errors found here together with the service's own (nothing is written)."""
    try:
        services.campaign_clean(data)
        found: list[dict[str, str]] = []
    except CampaignInvalid as exc:
        found = exc.params.get("errors", [])
    mine = {e["field"] for e in errors}
    window = bool(mine & {"starts_at", "ends_at"})
    found = [e for e in found if e["field"] not in mine and not (window and e["field"] == "ends_at")]
    return _invalid([*errors, *found])


def _check_transition(current: str, wanted: str) -> None:
    if wanted != current and wanted not in TRANSITIONS.get(Campaign.Status(current), set()):
        raise CampaignTransitionInvalid(from_status=current, to_status=wanted)


class _AdminApi(APIView):
    """Per-method permissions: ``perms`` maps a method to the permission it needs."""

    perms: ClassVar[dict[str, str]] = {}

    def get_permissions(self) -> list[BasePermission]:
        perm = self.perms.get((self.request.method or "GET").upper(), "coupons.view_campaign")
        return [HasPerm(perm)()]


class CampaignPagination(CursorPagination):
    ordering = "-id"


_WRITE_ERRORS = (RequestInvalid, CampaignInvalid, CampaignTransitionInvalid)


class AdminCampaignListCreateApi(_AdminApi):
    """``GET``: every campaign, newest first (cursor pages), optionally of one status.
    ``POST``: a new campaign, in draft unless ``status`` says ``active`` (or ``ended``)."""

    perms: ClassVar[dict[str, str]] = {"GET": "coupons.view_campaign", "POST": "coupons.add_campaign"}
    pagination_class = CampaignPagination

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=Campaign.Status.values, required=False)

    @extend_schema(
        operation_id="admin_coupon_campaigns_list",
        parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=Campaign.Status.values), *_CURSOR],
        responses={200: AdminCampaignListSerializer, **problem_responses(*_CALLER_ERRORS, RequestInvalid)},
        tags=["admin-coupons"],
    )
    def get(self, request: Request) -> Response:
        filters = _query(self.FilterSerializer(data=request.query_params))
        market, lang = _market(request), language()
        qs = selectors.campaigns_in_scope(
            selectors.campaign_list(status=filters.get("status")), _user(request)
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self) or []
        return paginator.get_paginated_response(
            [admin_campaign_json(c, market=market, lang=lang) for c in page]
        )

    @extend_schema(
        operation_id="admin_coupon_campaigns_create",
        request=CampaignInputSerializer,
        responses={201: AdminCampaignSerializer, **problem_responses(*_CALLER_ERRORS, *_WRITE_ERRORS)},
        tags=["admin-coupons"],
    )
    def post(self, request: Request) -> Response:
        actor = _user(request)
        data, wanted, errors = _campaign_input(request.data, {})
        if errors:
            raise _refuse(data, errors)
        _check_scope(actor, None, data)
        if wanted is not None:
            _check_transition(Campaign.Status.DRAFT, wanted)  # refused before anything is written
        campaign = services.campaign_create(data=data, actor=actor)
        if wanted is not None and wanted != Campaign.Status.DRAFT:
            services.campaign_transition(campaign_id=campaign.pk, to_status=wanted, actor=actor)
        body = admin_campaign_json(_campaign(campaign.pk, actor), market=_market(request), lang=language())
        return Response(body, status=status.HTTP_201_CREATED)


class AdminCampaignApi(_AdminApi):
    """One campaign. ``PUT``: every field (omitted optional ones take their defaults);
    ``PATCH``: only the fields sent. ``status`` in either moves the campaign (``{"status":
    "paused"}``); an edit and a status change in one request are checked before either is
    written. A campaign is never deleted, even without coupons (``DELETE`` answers 405
    ``request.method_not_allowed``): end it with ``{"status": "ended"}`` instead."""

    perms: ClassVar[dict[str, str]] = {
        "GET": "coupons.view_campaign",
        "PUT": "coupons.change_campaign",
        "PATCH": "coupons.change_campaign",
    }

    @extend_schema(
        operation_id="admin_coupon_campaigns_retrieve",
        parameters=[_ID],
        responses={200: AdminCampaignSerializer, **problem_responses(*_CALLER_ERRORS, CampaignNotFound)},
        tags=["admin-coupons"],
    )
    def get(self, request: Request, id: int) -> Response:
        return Response(
            admin_campaign_json(_campaign(id, _user(request)), market=_market(request), lang=language())
        )

    def _edit(self, request: Request, id: int, *, partial: bool) -> Response:
        actor = _user(request)
        campaign = _campaign(id, actor)
        current = campaign_data(campaign)
        data, wanted, errors = _campaign_input(request.data, current if partial else {})
        if errors:
            raise _refuse(data, errors)
        _check_scope(actor, campaign, data)
        if wanted is not None:
            _check_transition(campaign.status, wanted)
        if data != current or not partial:
            services.campaign_update(campaign_id=id, data=data, actor=actor)
        if wanted is not None and wanted != campaign.status:
            services.campaign_transition(campaign_id=id, to_status=wanted, actor=actor)
        return Response(admin_campaign_json(_campaign(id, actor), market=_market(request), lang=language()))

    @extend_schema(
        operation_id="admin_coupon_campaigns_update",
        parameters=[_ID],
        request=CampaignInputSerializer,
        responses={
            200: AdminCampaignSerializer,
            **problem_responses(*_CALLER_ERRORS, CampaignNotFound, *_WRITE_ERRORS),
        },
        tags=["admin-coupons"],
    )
    def put(self, request: Request, id: int) -> Response:
        return self._edit(request, id, partial=False)

    @extend_schema(
        operation_id="admin_coupon_campaigns_partial_update",
        parameters=[_ID],
        request=CampaignInputSerializer(partial=True),
        responses={
            200: AdminCampaignSerializer,
            **problem_responses(*_CALLER_ERRORS, CampaignNotFound, *_WRITE_ERRORS),
        },
        tags=["admin-coupons"],
    )
    def patch(self, request: Request, id: int) -> Response:
        return self._edit(request, id, partial=True)


class AdminCampaignStatsApi(_AdminApi):
    """Live numbers of a campaign: issued, left, used, the usage rate, refused claims by
    reason (since the cache was last cleared) and revoked coupons."""

    perms: ClassVar[dict[str, str]] = {"GET": "coupons.view_campaign"}

    @extend_schema(
        operation_id="admin_coupon_campaigns_stats",
        parameters=[_ID],
        responses={200: CampaignStatsSerializer, **problem_responses(*_CALLER_ERRORS, CampaignNotFound)},
        tags=["admin-coupons"],
    )
    def get(self, request: Request, id: int) -> Response:
        return Response(stats_json(selectors.campaign_stats(_campaign(id, _user(request)))))


class AdminCampaignRevokeApi(_AdminApi):
    """Take back (회수) unused coupons of a campaign: the listed ones, or every unused one.
    Held, used, expired and already revoked coupons are left alone (not counted)."""

    perms: ClassVar[dict[str, str]] = {"POST": "coupons.revoke_coupon"}

    class InputSerializer(serializers.Serializer):
        coupon_ids = serializers.ListField(
            child=serializers.UUIDField(),
            required=False,
            allow_empty=False,
            max_length=1000,
            help_text="The coupons (their `id`); omitted: every unused coupon of the campaign.",
        )
        reason = serializers.CharField(max_length=300, help_text="Why (kept in the audit).")

    class OutputSerializer(serializers.Serializer):
        revoked = serializers.IntegerField(help_text="Coupons revoked by this request.")

    @extend_schema(
        operation_id="admin_coupon_campaigns_revoke",
        parameters=[_ID],
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            **problem_responses(*_CALLER_ERRORS, RequestInvalid, CampaignNotFound),
        },
        tags=["admin-coupons"],
    )
    def post(self, request: Request, id: int) -> Response:
        actor = _user(request)
        _check_scope(actor, _campaign(id, actor), {})
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        revoked = services.coupons_revoke(
            campaign_id=id, actor=_user(request), reason=data["reason"], coupon_ids=data.get("coupon_ids")
        )
        return Response({"revoked": revoked})
