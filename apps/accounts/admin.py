"""Back office for accounts: customers and staff (ops manage, CS view, market-scoped),
role-change audit, system clients, consents, roles by their localized names. Role
changes go through ``services.user_roles_set``. The third-party screens accounts speaks
for (Celery, JWTs) are in ``admin_thirdparty``."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm
from unfold.forms import UserChangeForm as UnfoldUserChangeForm
from unfold.forms import UserCreationForm as UnfoldUserCreationForm
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
)

from apps.accounts import (
    admin_thirdparty,  # noqa: F401  (Celery and JWT screens)
    errors,
    roles,
    services,
)
from apps.accounts.admin_search import PhoneSearchMixin
from apps.accounts.auth import signed_in_user
from apps.accounts.models import Consent, RoleChange, SystemClient, User
from apps.accounts.selectors import market_scoped, staff_markets
from apps.core.admin_display import ReadOnlyAdminMixin, datetime_cell
from apps.core.errors import PermissionDenied
from apps.markets.selectors import market_list


class MarketScopedAdminMixin:
    """Limit a ModelAdmin's rows to the staff user's markets (``staff_markets``).

    Set ``market_scope_field`` to the lookup path of the market code (``"market"``,
    ``"order__market"``). Reusable by every app's admin.
    """

    market_scope_field = "market"

    def get_queryset(self, request: HttpRequest) -> Any:
        return market_scoped(super().get_queryset(request), request.user, field=self.market_scope_field)  # type: ignore[misc]


__all__ = ["MarketScopedAdminMixin", "ReadOnlyAdminMixin"]  # reused by other apps' admins


class UserCreationForm(UnfoldUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "name", "market", "locale")


def _market_choices() -> list[tuple[str, str | Promise]]:
    return [("", _("All markets")), *[(m.code, str(m)) for m in market_list()]]


class RoleChoiceField(forms.ModelMultipleChoiceField):
    """Role groups by their localized names ("CS 상담원"), not their codes."""

    def label_from_instance(self, obj: Any) -> str:
        return roles.role_label(obj.name)


class UserChangeForm(UnfoldUserChangeForm):
    roles = RoleChoiceField(
        label=_("Roles"),
        queryset=Group.objects.filter(name__in=roles.ROLES).order_by("name"),
        required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
    )
    market_scope = forms.ChoiceField(
        label=_("Market scope"),
        required=False,
        choices=_market_choices,
        widget=UnfoldAdminSelectWidget,
        help_text=_("Limit this staff user to one market's customers and orders."),
    )
    role_change_reason = forms.CharField(
        label=_("Reason for role change"),
        required=False,
        max_length=200,
        widget=UnfoldAdminTextInputWidget,
    )

    class Meta:
        model = User
        fields = ("email", "password", "name", "locale", "market", "is_active", "is_staff", "is_superuser")

    #: The editing user's markets (set per request by UserAdmin.get_form); ``None``: all.
    actor_markets: set[str] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and "roles" in self.fields:
            self.fields["roles"].initial = list(self.instance.groups.all())
            markets = staff_markets(self.instance) if not self.instance.is_superuser else None
            self.fields["market_scope"].initial = next(iter(markets)) if markets else ""
            if self.actor_markets is not None:  # a scoped editor hands out only their markets
                scope_field = cast(forms.ChoiceField, self.fields["market_scope"])
                scope_field.choices = [
                    choice for choice in _market_choices() if choice[0] in self.actor_markets
                ]

    def clean(self) -> dict[str, Any]:
        """The service's scope rules as form errors (a DomainError in the admin is a 500)."""
        super().clean()
        data = self.cleaned_data
        if "market_scope" not in self.fields:
            return data
        scope = data.get("market_scope") or ""
        will_be_staff = data.get("is_staff", self.instance.is_staff)
        if scope and not will_be_staff:
            self.add_error("market_scope", str(errors.MarketScopeInvalid().detail))
        elif self.actor_markets is not None and will_be_staff and scope not in self.actor_markets:
            self.add_error("market_scope", str(PermissionDenied().detail))
        return data


class AccountTypeFilter(admin.SimpleListFilter):
    """The user list is the customer list: staff and system clients one click away."""

    title = _("account type")
    parameter_name = "account"
    CUSTOMERS, STAFF, SYSTEM, EVERYONE = "customers", "staff", "system", "all"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            (self.CUSTOMERS, _("Customers")),
            (self.STAFF, _("Staff")),
            (self.SYSTEM, _("System clients")),
            (self.EVERYONE, _("Everyone")),
        ]

    def value(self) -> str:
        return super().value() or self.CUSTOMERS

    def choices(self, changelist: Any) -> Any:
        current = self.value()
        for lookup, title in self.lookup_choices:
            yield {
                "selected": current == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> QuerySet[User]:
        value = self.value()
        if value == self.STAFF:
            return queryset.filter(Q(is_staff=True) | Q(is_superuser=True), is_service_account=False)
        if value == self.SYSTEM:
            return queryset.filter(is_service_account=True)
        if value == self.EVERYONE:
            return queryset
        return queryset.filter(is_staff=False, is_superuser=False, is_service_account=False)


class RoleFilter(admin.SimpleListFilter):
    title = _("role")
    parameter_name = "role"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(code, roles.role_label(code)) for code in roles.ROLES]

    def queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> QuerySet[User]:
        value = self.value()
        return queryset.filter(groups__name=value) if value else queryset


@admin.register(User)
class UserAdmin(PhoneSearchMixin, MarketScopedAdminMixin, DjangoUserAdmin, ModelAdmin):
    add_form = UserCreationForm
    form = UserChangeForm
    change_password_form = AdminPasswordChangeForm
    ordering = ("email",)
    list_display = ("email", "name", "market", "locale", "role_names", "is_active", "joined")
    list_filter = (AccountTypeFilter, RoleFilter, "market", "locale", "is_active")
    list_filter_submit = True
    search_fields = ("email", "name")
    readonly_fields = ("last_login", "date_joined", "deleted_at")
    add_fieldsets = (
        (
            None,
            {"classes": ("wide",), "fields": ("email", "name", "market", "locale", "password1", "password2")},
        ),
    )
    ROLE_FIELDS = ("is_staff", "is_superuser", "roles", "market_scope", "role_change_reason")

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("market").prefetch_related("groups")

    @admin.display(description=_("Roles"))
    def role_names(self, obj: User) -> str:
        return ", ".join(sorted(roles.role_label(group.name) for group in obj.groups.all()))

    @admin.display(description=_("Joined"), ordering="date_joined")
    def joined(self, obj: User) -> str | None:
        return datetime_cell(obj.date_joined)

    def get_form(
        self, request: HttpRequest, obj: User | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            return form
        return type(form.__name__, (form,), {"actor_markets": staff_markets(request.user)})

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> Any:
        if obj is None:
            return self.add_fieldsets
        # The password row carries a "reset password" button: only for who may use it.
        account = ("email", "password") if self.has_change_permission(request, obj) else ("email",)
        sets: list[Any] = [
            (None, {"fields": account}),
            (_("Profile"), {"fields": ("name", "locale", "market", "is_active")}),
        ]
        if request.user.has_perm("accounts.manage_roles"):
            sets.append((_("Roles"), {"fields": self.ROLE_FIELDS}))
        sets.append((_("Security"), {"fields": self.readonly_fields}))
        return sets

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> Any:
        fields = list(self.readonly_fields)
        if not request.user.is_superuser:
            fields.append("is_superuser")  # only superusers make superusers
        return fields

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if change and ("is_staff" in form.changed_data or "is_superuser" in form.changed_data):
            # Flags change only through the audited service (save_related below).
            original = User.objects.get(pk=obj.pk)
            obj.is_staff, obj.is_superuser = original.is_staff, original.is_superuser
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if (
            not change
            or not request.user.has_perm("accounts.manage_roles")
            or "roles" not in form.cleaned_data
        ):
            return
        data = form.cleaned_data
        services.user_roles_set(
            actor=signed_in_user(request),
            user=form.instance,
            roles_=[group.name for group in data["roles"]],
            is_staff=data.get("is_staff"),
            is_superuser=data.get("is_superuser") if request.user.is_superuser else None,
            market_scope=data.get("market_scope") or None,
            reason=data.get("role_change_reason") or "admin",
        )

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        # Only a superuser changes a superuser: otherwise an ops_admin could set a
        # superuser's password or email (the password view asks this too) and log in as them.
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return False  # accounts are anonymized (services.user_delete), never deleted


def _role_value(change: RoleChange, value: str) -> str:
    if change.kind in (RoleChange.Kind.GROUP_ADDED, RoleChange.Kind.GROUP_REMOVED):
        return roles.role_label(value)
    if value in ("True", "False"):  # staff, superuser and active flags
        return str(_("Yes") if value == "True" else _("No"))
    return value


@admin.register(RoleChange)
class RoleChangeAdmin(ReadOnlyAdminMixin, MarketScopedAdminMixin, ModelAdmin):
    market_scope_field = "target__market"
    list_display = ("when", "target", "kind", "before", "after", "actor", "reason")
    list_filter = ("kind",)
    search_fields = ("target__email", "actor__email")
    date_hierarchy = "created_at"
    list_select_related = ("target", "actor")

    @admin.display(description=_("when"), ordering="created_at")
    def when(self, obj: RoleChange) -> str | None:
        return datetime_cell(obj.created_at)

    @admin.display(description=_("before"))
    def before(self, obj: RoleChange) -> str:
        return _role_value(obj, obj.old_value)

    @admin.display(description=_("after"))
    def after(self, obj: RoleChange) -> str:
        return _role_value(obj, obj.new_value)


class SystemClientForm(forms.ModelForm):
    class Meta:
        model = SystemClient
        fields = ("name", "role", "is_active")


@admin.register(SystemClient)
class SystemClientAdmin(ModelAdmin):
    form = SystemClientForm
    list_display = ("name", "client_id", "role", "is_active", "created", "last_used")
    list_filter = ("role", "is_active")
    search_fields = ("name", "client_id")
    readonly_fields = ("client_id", "created_at", "last_used_at")

    @admin.display(description=_("created at"), ordering="created_at")
    def created(self, obj: SystemClient) -> str | None:
        return datetime_cell(obj.created_at)

    @admin.display(description=_("last used at"), ordering="last_used_at")
    def last_used(self, obj: SystemClient) -> str | None:
        return datetime_cell(obj.last_used_at)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else ()

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("name", "role")
        return ("name", "client_id", "role", "is_active", "created_at", "last_used_at")

    def save_model(self, request: HttpRequest, obj: SystemClient, form: Any, change: bool) -> None:
        if change:
            obj.save(update_fields=["name"])
            services.system_client_update(
                actor=signed_in_user(request),
                client=obj,
                role=form.cleaned_data["role"],
                is_active=form.cleaned_data["is_active"],
            )
            return
        client, secret = services.system_client_create(
            name=form.cleaned_data["name"], role=form.cleaned_data["role"], actor=signed_in_user(request)
        )
        obj.pk = client.pk
        obj.__dict__.update({k: v for k, v in client.__dict__.items() if not k.startswith("_")})
        messages.warning(
            request,
            _("Client %(client_id)s created. Its secret is shown only now: %(secret)s")
            % {"client_id": client.client_id, "secret": secret},
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate instead: the audit keeps pointing at it


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdminMixin, MarketScopedAdminMixin, ModelAdmin):
    market_scope_field = "user__market"
    list_display = ("user", "kind", "document_version", "granted", "when", "source")
    list_filter = ("kind", "granted", "document_version")
    search_fields = ("user__email",)
    list_select_related = ("user",)

    @admin.display(description=_("when"), ordering="created_at")
    def when(self, obj: Consent) -> str | None:
        return datetime_cell(obj.created_at)


if admin.site.is_registered(Group):
    admin.site.unregister(Group)


@admin.register(Group)
class RoleGroupAdmin(ReadOnlyAdminMixin, DjangoGroupAdmin, ModelAdmin):
    """Roles are read-only here: their permissions come from code (apps.accounts.roles)."""

    list_display = ("role", "name", "permission_count")
    search_fields = ("name",)

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).annotate(permission_total=Count("permissions"))

    @admin.display(description=_("role"), ordering="name")
    def role(self, obj: Group) -> str:
        return roles.role_label(obj.name)

    @admin.display(description=_("permissions"), ordering="permission_total")
    def permission_count(self, obj: Group) -> int:
        return int(getattr(obj, "permission_total", 0))
