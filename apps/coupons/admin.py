"""Coupons in the back office (issue 21, items 1 and 5): campaigns for marketing and
operations (customer service reads them), the coupons members hold and their usage
history. Inventory managers have no coupons permission: no sidebar item, 403 everywhere.

* **Campaigns** are created and edited through ``CampaignForm``, whose ``clean()`` runs
  ``services.campaign_clean`` (the service's per-field localized errors land on the form's
  fields) and which saves through ``services.campaign_create``/``campaign_update`` only.
  Amounts are typed in won or dollars and become exact minor units.
* **Status**: Activate, Pause, Resume, End on the campaign's page, only the moves legal
  from its status (``services.campaign_transition``).
* **Live stats** on the campaign's page (``selectors.campaign_stats``), read on each load.
* **Revoke (회수)** unused coupons (``coupons.revoke_coupon``): every unused one of a
  campaign from its page (reason and confirmation), or the selected ones from the coupons
  list (reason); both through ``services.coupons_revoke``, which leaves held, used and
  expired coupons alone and records who, when and why.
* Coupons and usage history are read-only for everyone; nobody deletes a campaign or a
  coupon here.
* **Market scope** (``staff_markets``), in the lists, the pages, the filters' choices and
  the exports alike: staff scoped to markets see the campaigns that run in one of them,
  and the coupons (and their usage) of such a campaign held by a member of one of them.
  Anything else is 404, like a missing row. A campaign that also runs in a market outside
  the scope is read-only to them (edit, status moves and revoke would reach that market's
  members), and the add form offers only their markets.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.filters import RelatedFieldListFilter
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import translation
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.decorators import display
from unfold.utils import display_for_label
from unfold.widgets import UnfoldAdminCheckboxSelectMultipleWidget

from apps.accounts.models import User
from apps.accounts.selectors import staff_markets
from apps.core.admin_display import ReadOnlyAdminMixin, datetime_cell, money_cell
from apps.core.admin_export import ListExportMixin, ListResource, column, utc_iso
from apps.core.errors import DomainError
from apps.coupons import errors, services
from apps.coupons.admin_forms import CampaignForm, CampaignRevokeForm, RevokeForm
from apps.coupons.models import Campaign, Coupon, CouponUse
from apps.coupons.selectors import campaign_stats, campaign_within_scope, campaigns_in_scope, coupons_in_scope
from apps.coupons.services.campaigns import TRANSITIONS
from apps.markets.models import Market

CHANGE = "coupons.change_campaign"
REVOKE = "coupons.revoke_coupon"

STATUS_BADGES = {
    Campaign.Status.DRAFT: "",
    Campaign.Status.ACTIVE: "success",
    Campaign.Status.PAUSED: "warning",
    Campaign.Status.ENDED: "danger",
}
COUPON_BADGES = {
    Coupon.Status.ISSUED: "success",
    Coupon.Status.RESERVED: "info",
    Coupon.Status.USED: "",
    Coupon.Status.EXPIRED: "warning",
    Coupon.Status.REVOKED: "danger",
}
#: The buttons on a campaign's page: (from, to) -> label.
TRANSITION_LABELS = {
    (Campaign.Status.DRAFT, Campaign.Status.ACTIVE): _("Activate"),
    (Campaign.Status.ACTIVE, Campaign.Status.PAUSED): _("Pause"),
    (Campaign.Status.PAUSED, Campaign.Status.ACTIVE): _("Resume"),
    (Campaign.Status.DRAFT, Campaign.Status.ENDED): _("End"),
    (Campaign.Status.ACTIVE, Campaign.Status.ENDED): _("End"),
    (Campaign.Status.PAUSED, Campaign.Status.ENDED): _("End"),
}
#: Rejected claims by reason (``metrics.REASONS`` and "error"): what the stats call them.
REJECTION_LABELS = {
    errors.SoldOut.code: errors.SoldOut.title,
    errors.AlreadyClaimed.code: errors.AlreadyClaimed.title,
    errors.CampaignInactive.code: errors.CampaignInactive.title,
    errors.NotStarted.code: errors.NotStarted.title,
    errors.MarketMismatch.code: errors.MarketMismatch.title,
    "error": _("Other errors"),
}


def _member(user: User) -> str:
    return f"{user.name} · {user.email}" if user.name else user.email


def _campaign_status(value: str) -> str:
    return str(Campaign.Status(value).label) if value in Campaign.Status.values else value


def _coupon_status(value: str) -> str:
    return str(Coupon.Status(value).label) if value in Coupon.Status.values else value


def discount_text(campaign: Campaign) -> str:
    """``₩3,000`` or ``10% (up to ₩5,000)``."""
    if campaign.discount_type == Campaign.DiscountType.PERCENT:
        cap = money_cell(campaign.max_discount, campaign.currency)
        percent = f"{campaign.discount_value}%"
        return gettext("%(percent)s (up to %(cap)s)") % {"percent": percent, "cap": cap} if cap else percent
    return money_cell(campaign.discount_value, campaign.currency) or str(campaign.discount_value)


def transition_targets(user: Any, campaign: Campaign) -> list[tuple[str, str]]:
    """The status moves offered on a campaign's page, as (status, label): the legal ones
    from its status, none without ``coupons.change_campaign``."""
    if not user.has_perm(CHANGE):
        return []
    legal = TRANSITIONS.get(Campaign.Status(campaign.status), set())
    order = (Campaign.Status.ACTIVE, Campaign.Status.PAUSED, Campaign.Status.ENDED)
    return [
        (to.value, str(TRANSITION_LABELS[(Campaign.Status(campaign.status), to)]))
        for to in order
        if to in legal
    ]


# --- Market scope -----------------------------------------------------------------
class _ScopedObjectMixin:
    """A row outside the staff member's markets (or none at all) is 404, as in the other
    scoped admins (``apps.payments.admin``), not Django's redirect to the index."""

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        obj = super().get_object(request, object_id, from_field)  # type: ignore[misc]
        if obj is None:
            raise Http404
        return obj


class ScopedCampaignFilter(RelatedFieldListFilter):
    """The campaign filter of the coupon lists offers only the campaigns in the staff
    member's markets (Django's offers every campaign by name)."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> Any:
        choices = campaigns_in_scope(Campaign.objects.all(), request.user).values("pk")
        return field.get_choices(
            include_blank=False,
            limit_choices_to={"pk__in": choices} if staff_markets(request.user) is not None else None,
            ordering=self.field_admin_ordering(field, request, model_admin),
        )


def _used_count() -> Subquery:
    """Coupons of the campaign used at least once (as ``campaign_stats`` counts them)."""
    return Subquery(
        Coupon.objects.filter(campaign=OuterRef("pk"))
        .filter(Q(status=Coupon.Status.USED) | Q(used_at__isnull=False))
        .order_by()
        .values("campaign")
        .annotate(n=Count("pk"))
        .values("n"),
        output_field=IntegerField(),
    )


# --- Campaigns --------------------------------------------------------------------
@admin.register(Campaign)
class CampaignAdmin(_ScopedObjectMixin, ModelAdmin):
    form = CampaignForm
    list_display = (
        "name_shown",
        "discount_shown",
        "markets_shown",
        "status_badge",
        "window",
        "issued_shown",
        "remaining_shown",
        "used_shown",
    )
    list_filter = ("status", "markets")
    list_filter_submit = True
    search_fields = ("name_ko", "name_en")
    ordering = ("-starts_at", "-pk")
    show_full_result_count = False
    actions = None
    autocomplete_fields = ("categories", "products", "excluded_products")
    change_form_outer_after_template = "admin/coupons/campaign_detail.html"
    #: The editable form, in the service's order.
    edit_fieldsets = (
        (None, {"fields": ("name_ko", "name_en", "discount_type", "discount_value", "max_discount")}),
        (
            _("Where and for what"),
            {"fields": ("markets", "min_order_amount", "categories", "products", "excluded_products")},
        ),
        (
            _("Quantity and validity"),
            {
                "fields": (
                    "total_quantity",
                    "per_user_limit",
                    "uses_per_coupon",
                    "starts_at",
                    "ends_at",
                    "valid_days",
                )
            },
        ),
    )
    #: A saved campaign's facts nobody types (and everything, for customer service).
    facts = ("status_shown", "issued_shown", "currency", "created_by", "created", "updated")
    view_fieldsets = (
        (
            None,
            {
                "fields": (
                    "name_ko",
                    "name_en",
                    "discount_type",
                    "discount_shown",
                    "min_order_shown",
                    "markets_shown",
                    "categories",
                    "products",
                    "excluded_products",
                )
            },
        ),
        (
            _("Quantity and validity"),
            {
                "fields": (
                    "total_quantity",
                    "per_user_limit",
                    "uses_per_coupon",
                    "starts",
                    "ends",
                    "valid_days",
                )
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Campaign]:
        qs = super().get_queryset(request).prefetch_related("markets")
        return campaigns_in_scope(qs, request.user).annotate(used_count=Coalesce(_used_count(), Value(0)))

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        """Read once per request (the page, its stats and its buttons share it)."""
        cache: dict[str, Campaign | None] = request.__dict__.setdefault("_coupons_admin_campaigns", {})
        if object_id not in cache:
            cache[object_id] = super().get_object(request, object_id, from_field)
        return cache[object_id]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and not campaign_within_scope(request.user, obj):
            return False
        return bool(super().has_change_permission(request, obj))

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and not self.has_change_permission(request, obj):
            return (*self.view_fieldsets, (_("Status"), {"fields": self.facts}))
        if obj is None:
            return self.edit_fieldsets
        return (*self.edit_fieldsets, (_("Status"), {"fields": self.facts}))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.facts if obj is not None else ()

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "markets":
            kwargs["widget"] = UnfoldAdminCheckboxSelectMultipleWidget
            markets = staff_markets(request.user)
            if markets is not None:  # a scoped marketer creates campaigns in their markets only
                kwargs["queryset"] = Market.objects.filter(code__in=sorted(markets))
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    # --- Cells ------------------------------------------------------------------------
    @admin.display(description=_("name"), ordering="name_en")
    def name_shown(self, obj: Campaign) -> str:
        return obj.name(translation.get_language())

    @admin.display(description=_("discount"))
    def discount_shown(self, obj: Campaign) -> str:
        return discount_text(obj)

    @admin.display(description=_("minimum order amount"))
    def min_order_shown(self, obj: Campaign) -> str | None:
        return money_cell(obj.min_order_amount, obj.currency) if obj.min_order_amount else "—"

    @admin.display(description=_("markets"))
    def markets_shown(self, obj: Campaign) -> str:
        return ", ".join(sorted(market.code for market in obj.markets.all()))

    @display(description=_("status"), ordering="status", label=STATUS_BADGES)
    def status_badge(self, obj: Campaign) -> tuple[str, str]:
        return obj.status, _campaign_status(obj.status)

    @admin.display(description=_("status"))
    def status_shown(self, obj: Campaign) -> str:
        return display_for_label((obj.status, _campaign_status(obj.status)), "-", STATUS_BADGES)

    @admin.display(description=_("window"), ordering="starts_at")
    def window(self, obj: Campaign) -> str:
        return f"{datetime_cell(obj.starts_at)} – {datetime_cell(obj.ends_at)}"

    @admin.display(description=_("starts"))
    def starts(self, obj: Campaign) -> str | None:
        return datetime_cell(obj.starts_at)

    @admin.display(description=_("ends"))
    def ends(self, obj: Campaign) -> str | None:
        return datetime_cell(obj.ends_at)

    @admin.display(description=_("issued / total"), ordering="issued_count")
    def issued_shown(self, obj: Campaign) -> str:
        total = gettext("unlimited") if obj.total_quantity is None else f"{obj.total_quantity:,}"
        return f"{obj.issued_count:,} / {total}"

    @admin.display(description=_("remaining"))
    def remaining_shown(self, obj: Campaign) -> str:
        remaining = obj.remaining
        return gettext("unlimited") if remaining is None else f"{remaining:,}"

    @admin.display(description=_("used"), ordering="used_count")
    def used_shown(self, obj: Campaign) -> str:
        return f"{getattr(obj, 'used_count', 0):,}"

    @admin.display(description=_("created at"))
    def created(self, obj: Campaign) -> str | None:
        return datetime_cell(obj.created_at)

    @admin.display(description=_("updated at"))
    def updated(self, obj: Campaign) -> str | None:
        return datetime_cell(obj.updated_at)

    # --- Create and edit through the services -------------------------------------------
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """Django wraps the whole form view in one transaction; the campaign services are
        durable use-cases that own theirs, so the view runs outside one (the log entry
        follows the service's commit)."""
        if object_id is not None:
            campaign = self.get_object(request, object_id)
            if campaign is None:
                raise Http404
            extra_context = {**(extra_context or {}), **self._page(request, campaign)}
        return self._changeform_view(request, object_id, form_url, extra_context)

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Any:
        return form.instance  # nothing is copied onto the model: the service writes

    def save_model(self, request: HttpRequest, obj: Campaign, form: Any, change: bool) -> None:
        actor = request.user
        assert isinstance(actor, User)
        data = form.service_data()
        try:
            if change:
                saved = services.campaign_update(campaign_id=obj.pk, data=data, actor=actor)
            else:
                saved = services.campaign_create(data=data, actor=actor)
        except DomainError as exc:
            # A claim landed between the form's check and the save (below what is issued):
            # nothing was written; say so instead of "changed successfully".
            request._coupons_refused = True  # type: ignore[attr-defined]
            details = [e["message"] for e in exc.params.get("errors", [])] or [exc.detail]
            self.message_user(request, " ".join(details), messages.ERROR)
            return
        form.instance = saved
        obj.pk = saved.pk
        obj.__dict__.update({k: v for k, v in saved.__dict__.items() if not k.startswith("_")})

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """The service set the markets, categories and products."""

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if getattr(request, "_coupons_refused", False):
            return None
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if getattr(request, "_coupons_refused", False):
            return None
        return super().log_change(request, obj, message)

    def response_add(self, request: HttpRequest, obj: Campaign, post_url_continue: str | None = None) -> Any:
        if getattr(request, "_coupons_refused", False):
            return HttpResponseRedirect(request.path)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: Campaign) -> HttpResponse:
        if getattr(request, "_coupons_refused", False):
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    # --- The campaign's page: stats, status, revoke --------------------------------------
    def _page(self, request: HttpRequest, campaign: Campaign) -> dict[str, Any]:
        stats = campaign_stats(campaign)
        rejected = [
            {"reason": str(REJECTION_LABELS.get(reason, reason)), "code": reason, "count": count}
            for reason, count in sorted(stats.claims_rejected.items())
        ]
        within_scope = campaign_within_scope(request.user, campaign)
        can_revoke = request.user.has_perm(REVOKE) and within_scope
        return {
            "campaign": campaign,
            "stats": stats,
            "stats_total": gettext("unlimited") if stats.total is None else stats.total,
            "stats_remaining": gettext("unlimited") if stats.remaining is None else stats.remaining,
            "stats_usage_rate": f"{stats.usage_rate * 100:.1f}%",
            "stats_rejected": rejected,
            "stats_rejected_total": sum(stats.claims_rejected.values()),
            "transitions": transition_targets(request.user, campaign) if within_scope else [],
            "transition_url": reverse("admin:coupons_campaign_transition", args=[campaign.pk]),
            "revoke_form": CampaignRevokeForm() if can_revoke else None,
            "revoke_url": reverse("admin:coupons_campaign_revoke", args=[campaign.pk]) if can_revoke else "",
            "unused_count": Coupon.objects.filter(campaign=campaign, status=Coupon.Status.ISSUED).count()
            if can_revoke
            else None,
            "coupons_url": reverse("admin:coupons_coupon_changelist") + f"?campaign__id__exact={campaign.pk}",
        }

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/transition/",
                view(self.transition_view),
                name="coupons_campaign_transition",
            ),
            path("<path:object_id>/revoke/", view(self.revoke_view), name="coupons_campaign_revoke"),
            *super().get_urls(),
        ]

    def _campaign_or_404(self, request: HttpRequest, object_id: str) -> Campaign:
        if not self.has_view_permission(request):
            raise PermissionDenied
        campaign: Campaign = self.get_object(request, object_id)  # 404 outside the scope
        return campaign

    def transition_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST ``to_status``: ``services.campaign_transition``; a move not legal from the
        campaign's status is refused with the service's message and nothing changed."""
        campaign = self._campaign_or_404(request, object_id)
        if not request.user.has_perm(CHANGE) or not campaign_within_scope(request.user, campaign):
            raise PermissionDenied
        back = reverse("admin:coupons_campaign_change", args=[campaign.pk])
        if request.method != "POST":
            return redirect(back)
        actor = request.user
        assert isinstance(actor, User)
        to_status = request.POST.get("to_status", "")
        if to_status not in Campaign.Status.values:
            self.message_user(request, gettext("Choose a status."), messages.ERROR)
            return redirect(back)
        try:
            moved = services.campaign_transition(campaign_id=campaign.pk, to_status=to_status, actor=actor)
        except DomainError as exc:
            self.message_user(request, exc.detail, messages.ERROR)
            return redirect(back)
        message = gettext("The campaign is now %(status)s.") % {"status": _campaign_status(moved.status)}
        self.log_change(request, campaign, message)
        self.message_user(request, message, messages.SUCCESS)
        return redirect(back)

    def revoke_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Revoke every unused coupon of the campaign (reason and confirmation required);
        held, used and expired ones stay. GET shows the form on a page of its own; an
        invalid POST shows it again with its errors."""
        campaign = self._campaign_or_404(request, object_id)
        if not request.user.has_perm(REVOKE) or not campaign_within_scope(request.user, campaign):
            raise PermissionDenied
        actor = request.user
        assert isinstance(actor, User)
        back = reverse("admin:coupons_campaign_change", args=[campaign.pk])
        form = CampaignRevokeForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            count = services.coupons_revoke(
                campaign_id=campaign.pk, actor=actor, reason=form.cleaned_data["reason"]
            )
            message = ngettext(
                "%(count)s unused coupon revoked.", "%(count)s unused coupons revoked.", count
            ) % {"count": count}
            self.log_change(request, campaign, message)
            self.message_user(request, message, messages.SUCCESS)
            return redirect(back)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Revoke unused coupons"),
            "opts": self.model._meta,
            "original": campaign,
            "campaign_name": campaign.name(translation.get_language()),
            "unused_count": Coupon.objects.filter(campaign=campaign, status=Coupon.Status.ISSUED).count(),
            "form": form,
            "back_url": back,
        }
        return TemplateResponse(request, "admin/coupons/campaign_revoke.html", context)


# --- Coupons ------------------------------------------------------------------------
def _campaign_name(campaign: Campaign) -> str:
    return campaign.name(translation.get_language())


class CouponExport(ListResource):
    """The coupons list as a file (``apps.core.admin_export``): times in UTC."""

    campaign = column(_("campaign"), lambda c: _campaign_name(c.campaign))
    seq = column(_("coupon number"), lambda c: c.seq)
    member = column(_("member email"), lambda c: c.user.email)
    status = column(_("status"), lambda c: _coupon_status(c.status))
    uses_left = column(_("uses left"), lambda c: c.uses_left)
    claimed = column(_("claimed at (UTC)"), lambda c: utc_iso(c.claimed_at))
    used = column(_("used at (UTC)"), lambda c: utc_iso(c.used_at))
    expires = column(_("expires at (UTC)"), lambda c: utc_iso(c.expires_at))


@admin.register(Coupon)
class CouponAdmin(ListExportMixin, _ScopedObjectMixin, ReadOnlyAdminMixin, ModelAdmin):
    """The coupons members hold; read-only (claims, checkout and revoke write them).
    "Revoke selected" takes back the unused ones among the selection."""

    resource_classes = [CouponExport]
    export_name = "coupons"

    list_display = ("member", "campaign_name", "status_badge", "uses_left", "expires", "claimed")
    list_display_links = None
    list_filter = ("status", ("campaign", ScopedCampaignFilter))
    list_filter_submit = True
    search_fields = ("user__email",)
    list_select_related = ("user", "campaign")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Coupon]:
        """Also the export's rows and the "revoke selected" action's."""
        return coupons_in_scope(super().get_queryset(request), request.user)

    ordering = ("-claimed_at", "-pk")
    show_full_result_count = False  # coupons grow with every claim: no second COUNT(*)
    actions = ["revoke_selected"]

    @admin.display(description=_("member"), ordering="user__email")
    def member(self, obj: Coupon) -> str:
        return _member(obj.user)

    @admin.display(description=_("campaign"), ordering="campaign")
    def campaign_name(self, obj: Coupon) -> str:
        return obj.campaign.name(translation.get_language())

    @display(description=_("status"), ordering="status", label=COUPON_BADGES)
    def status_badge(self, obj: Coupon) -> tuple[str, str]:
        return obj.status, _coupon_status(obj.status)

    @admin.display(description=_("expires"), ordering="expires_at")
    def expires(self, obj: Coupon) -> str | None:
        return datetime_cell(obj.expires_at)

    @admin.display(description=_("claimed at"), ordering="claimed_at")
    def claimed(self, obj: Coupon) -> str | None:
        return datetime_cell(obj.claimed_at)

    def has_revoke_coupon_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(REVOKE))

    @admin.action(description=_("Revoke the selected unused coupons"), permissions=["revoke_coupon"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[Coupon]) -> HttpResponse | None:
        """Asks for a reason first (an intermediate page), then ``services.coupons_revoke``
        per campaign; held, used, expired and already revoked coupons stay as they are."""
        actor = request.user
        assert isinstance(actor, User)
        form = RevokeForm(request.POST if "reason" in request.POST else None)
        if form.is_valid():
            by_campaign: dict[int, list[Any]] = defaultdict(list)
            for campaign_id, public_id in queryset.order_by().values_list("campaign_id", "public_id"):
                by_campaign[campaign_id].append(public_id)
            count = 0
            for campaign_id in sorted(by_campaign):
                count += services.coupons_revoke(
                    campaign_id=campaign_id,
                    actor=actor,
                    reason=form.cleaned_data["reason"],
                    coupon_ids=by_campaign[campaign_id],
                )
            message = ngettext(
                "%(count)s unused coupon revoked.", "%(count)s unused coupons revoked.", count
            ) % {"count": count}
            skipped = sum(len(ids) for ids in by_campaign.values()) - count
            if skipped:
                message += " " + ngettext(
                    "%(count)s selected coupon was not unused and stays as it is.",
                    "%(count)s selected coupons were not unused and stay as they are.",
                    skipped,
                ) % {"count": skipped}
            self.message_user(request, message, messages.SUCCESS if count else messages.WARNING)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Revoke the selected unused coupons"),
            "opts": self.model._meta,
            "form": form,
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action": "revoke_selected",
            "selected_count": queryset.count(),
            "unused_count": queryset.filter(status=Coupon.Status.ISSUED).count(),
            "back_url": reverse("admin:coupons_coupon_changelist"),
        }
        return TemplateResponse(request, "admin/coupons/coupon_revoke.html", context)


# --- Usage history ------------------------------------------------------------------
class CouponUseExport(ListResource):
    """The usage history as a file (``apps.core.admin_export``): the discount in minor
    units with its currency, the time in UTC."""

    when = column(_("time (UTC)"), lambda u: utc_iso(u.created_at))
    campaign = column(_("campaign"), lambda u: _campaign_name(u.coupon.campaign))
    seq = column(_("coupon number"), lambda u: u.coupon.seq)
    member = column(_("member email"), lambda u: u.coupon.user.email)
    order_number = column(_("order number"), lambda u: u.order_number or u.owner)
    status = column(_("status"), lambda u: u.get_status_display())
    currency = column(_("currency"), lambda u: u.currency)
    discount = column(_("discount (minor units)"), lambda u: u.discount)


@admin.register(CouponUse)
class CouponUseAdmin(ListExportMixin, _ScopedObjectMixin, ReadOnlyAdminMixin, ModelAdmin):
    """Which order held, used or released a coupon, when and for how much."""

    resource_classes = [CouponUseExport]
    export_name = "coupon-uses"

    list_display = ("coupon_shown", "member", "order_number_shown", "discount_shown", "status", "when")
    list_display_links = None
    list_filter = ("status",)
    list_filter_submit = True
    search_fields = ("order_number", "coupon__user__email")
    list_select_related = ("coupon__campaign", "coupon__user")
    ordering = ("-created_at", "-pk")
    show_full_result_count = False
    actions = None

    def get_queryset(self, request: HttpRequest) -> QuerySet[CouponUse]:
        return coupons_in_scope(super().get_queryset(request), request.user, coupon="coupon__")

    @admin.display(description=_("coupon"))
    def coupon_shown(self, obj: CouponUse) -> str:
        coupon = obj.coupon
        return f"{coupon.campaign.name(translation.get_language())} #{coupon.seq}"

    @admin.display(description=_("member"), ordering="coupon__user__email")
    def member(self, obj: CouponUse) -> str:
        return _member(obj.coupon.user)

    @admin.display(description=_("order number"), ordering="order_number")
    def order_number_shown(self, obj: CouponUse) -> str:
        return obj.order_number or obj.owner

    @admin.display(description=_("discount"), ordering="discount")
    def discount_shown(self, obj: CouponUse) -> str | None:
        return money_cell(obj.discount, obj.currency)

    @admin.display(description=_("time"), ordering="created_at")
    def when(self, obj: CouponUse) -> str | None:
        return datetime_cell(obj.created_at)
