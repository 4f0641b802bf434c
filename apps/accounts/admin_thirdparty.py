"""The third-party screens accounts speaks for (ADR 0002), re-registered on unfold:
Celery beat schedules (ops edit them), Celery task results and JWT tokens (derived and
security records: read-only for everyone, ops_admin and superusers included).

Their own admin modules are imported first so that they have registered what is
replaced here (accounts comes before them in ``INSTALLED_APPS``).
"""

from __future__ import annotations

from typing import Any

import django_celery_beat.admin as beat_admin
import django_celery_results.admin as results_admin
import rest_framework_simplejwt.token_blacklist.admin as jwt_admin  # noqa: F401
from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from django_celery_results.models import GroupResult, TaskResult
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateTimeFilter
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from apps.core.admin_display import ReadOnlyAdminMixin, datetime_cell

for _model in (
    PeriodicTask,
    IntervalSchedule,
    CrontabSchedule,
    SolarSchedule,
    ClockedSchedule,
    TaskResult,
    GroupResult,
    OutstandingToken,
    BlacklistedToken,
):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


# --- Celery beat: schedules ops edit ------------------------------------------------
class UnfoldTaskSelectWidget(UnfoldAdminSelectWidget, beat_admin.TaskSelectWidget):
    pass


class PeriodicTaskForm(beat_admin.PeriodicTaskForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["task"].widget = UnfoldAdminTextInputWidget()
        self.fields["regtask"].widget = UnfoldTaskSelectWidget()
        # "Description" is also a product's ("상품 설명") in our catalogs.
        self.fields["description"].label = _("Task description")


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(beat_admin.PeriodicTaskAdmin, ModelAdmin):
    form = PeriodicTaskForm
    # Django's change form: beat's own template adds an inline script (CSP).
    change_form_template = None
    list_display = ("name", "task_name", "enabled", "schedule", "last_run", "total_run_count")
    list_filter = ("enabled", "one_off")
    list_filter_submit = True

    @admin.display(description=_("Task Name"), ordering="task")  # beat's label is not translatable
    def task_name(self, obj: PeriodicTask) -> str:
        return str(obj.task)

    @admin.display(description=_("Crontab in words"))
    def crontab_translation(self, obj: PeriodicTask) -> str:
        return str(obj.crontab.human_readable) if obj.crontab_id else "-"

    @admin.display(description=_("Schedule"))
    def schedule(self, obj: PeriodicTask) -> str:
        return str(obj.scheduler or "")

    @admin.display(description=_("Last run"), ordering="last_run_at")
    def last_run(self, obj: PeriodicTask) -> str | None:
        return datetime_cell(obj.last_run_at)


class PeriodicTaskInline(TabularInline):
    model = PeriodicTask
    fields = ("name", "task_name", "args", "kwargs")
    readonly_fields = fields
    can_delete = False
    extra = 0
    show_change_link = True
    verbose_name = _("Periodic task")
    verbose_name_plural = _("Periodic tasks")

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("Task Name"))
    def task_name(self, obj: PeriodicTask) -> str:
        return str(obj.task)


class ScheduleAdmin(ModelAdmin):
    inlines = (PeriodicTaskInline,)


@admin.register(IntervalSchedule)
class IntervalScheduleAdmin(ScheduleAdmin):
    list_display = ("__str__", "every", "period")


@admin.register(CrontabSchedule)
class CrontabScheduleAdmin(ScheduleAdmin):
    list_display = ("__str__", "in_words", "timezone")
    fields = ("in_words", "minute", "hour", "day_of_month", "month_of_year", "day_of_week", "timezone")
    readonly_fields = ("in_words",)

    @admin.display(description=_("Crontab in words"))
    def in_words(self, obj: CrontabSchedule) -> str:
        return str(obj.human_readable) if obj.pk else "-"


@admin.register(SolarSchedule)
class SolarScheduleAdmin(ScheduleAdmin):
    list_display = ("__str__", "event", "latitude", "longitude")


@admin.register(ClockedSchedule)
class ClockedScheduleAdmin(ScheduleAdmin):
    fields = ("clocked_time",)
    list_display = ("clocked",)

    @admin.display(description=_("Clock time"), ordering="clocked_time")
    def clocked(self, obj: ClockedSchedule) -> str | None:
        return datetime_cell(obj.clocked_time)


# --- Celery results: what the workers did (read-only) ------------------------------
@admin.register(TaskResult)
class TaskResultAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("task_name", "periodic_task_name", "status", "done", "worker", "task_id")
    list_filter = (("status", ChoicesDropdownFilter), ("date_done", RangeDateTimeFilter), "task_name")
    list_filter_submit = True
    search_fields = ("task_name", "task_id", "periodic_task_name")
    fieldsets = results_admin.TaskResultAdmin.fieldsets
    readonly_fields = [field.name for field in TaskResult._meta.local_fields]
    date_hierarchy = "date_done"

    @admin.display(description=_("Completed"), ordering="date_done")
    def done(self, obj: TaskResult) -> str | None:
        return datetime_cell(obj.date_done)


@admin.register(GroupResult)
class GroupResultAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("group_id", "done")
    search_fields = ("group_id",)
    readonly_fields = [field.name for field in GroupResult._meta.local_fields]

    @admin.display(description=_("Completed"), ordering="date_done")
    def done(self, obj: GroupResult) -> str | None:
        return datetime_cell(obj.date_done)


# --- JWTs: security records (read-only) ---------------------------------------------
@admin.register(OutstandingToken)
class OutstandingTokenAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("owner", "token_id", "created", "expires")
    search_fields = ("user__email", "jti")
    list_select_related = ("user",)
    ordering = ("-created_at",)
    readonly_fields = ("user", "jti", "token", "created_at", "expires_at")
    actions = None

    # simplejwt's fields have no translated verbose names ("User", "Jti" in a Korean list)
    @admin.display(description=_("User"), ordering="user__email")
    def owner(self, obj: OutstandingToken) -> Any:
        return obj.user

    @admin.display(description=_("Token ID"), ordering="jti")
    def token_id(self, obj: OutstandingToken) -> str:
        return obj.jti

    @admin.display(description=_("Issued"), ordering="created_at")
    def created(self, obj: OutstandingToken) -> str | None:
        return datetime_cell(obj.created_at)

    @admin.display(description=_("Expires"), ordering="expires_at")
    def expires(self, obj: OutstandingToken) -> str | None:
        return datetime_cell(obj.expires_at)


@admin.register(BlacklistedToken)
class BlacklistedTokenAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("user", "jti", "blacklisted")
    search_fields = ("token__user__email", "token__jti")
    list_select_related = ("token__user",)
    ordering = ("-blacklisted_at",)
    readonly_fields = ("token", "blacklisted_at")
    actions = None

    @admin.display(description=_("User"), ordering="token__user__email")
    def user(self, obj: BlacklistedToken) -> Any:
        return obj.token.user

    @admin.display(description=_("Token ID"), ordering="token__jti")
    def jti(self, obj: BlacklistedToken) -> str:
        return obj.token.jti

    @admin.display(description=_("Blacklisted"), ordering="blacklisted_at")
    def blacklisted(self, obj: BlacklistedToken) -> str | None:
        return datetime_cell(obj.blacklisted_at)
