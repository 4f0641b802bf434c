"""Accounts: the custom user (email login, profile, encrypted PII), system clients for
the client-credentials grant, the role-change audit log, privacy consents, and the
sliding-window logs of the sign-in rate limits (when the cache is not Redis).

Failed sign-ins and lockouts live in django-axes' table (``axes.AccessAttempt``);
docs/adr/0004-sign-in-policy.md explains both."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.accounts.fields import EncryptedJSONField, EncryptedTextField


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> User:
        # Emails are unique case-insensitively (see the constraint below).
        return self.get(email__iexact=username)

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("email is required")
        user = self.model(email=self.normalize_email(email).strip(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    class Locale(models.TextChoices):
        KO = "ko", "한국어"
        EN = "en", "English"

    email = models.EmailField(_("email address"), max_length=254, unique=True)
    name = models.CharField(_("name"), max_length=150, blank=True)
    locale = models.CharField(_("language"), max_length=5, choices=Locale.choices, default=Locale.KO)
    market = models.ForeignKey(
        "markets.Market",
        verbose_name=_("market"),
        on_delete=models.PROTECT,
        related_name="users",
        default="KR",
    )
    is_staff = models.BooleanField(_("staff status"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    # PII, encrypted at rest (apps.accounts.fields); never filter or log these.
    phone = EncryptedTextField(_("phone number"), blank=True, default="")
    #: ``crypto.phone_index(phone)``: staff find a member by phone without decrypting rows.
    phone_index = models.CharField(_("phone index"), max_length=64, blank=True, default="", editable=False)
    default_address = EncryptedJSONField(_("default address"), blank=True, null=True)
    # The service account behind a SystemClient: it can never log in or shop.
    is_service_account = models.BooleanField(_("service account"), default=False)
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        permissions = [
            ("shop", _("Can shop as a member (cart, orders, coupons, wallet)")),
            ("manage_roles", _("Can change roles, staff status and market scope of users")),
        ]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_uniq"),
        ]
        indexes = [
            models.Index(
                fields=["phone_index"], condition=~Q(phone_index=""), name="accounts_user_phone_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name or self.email.split("@")[0]


class SystemClient(models.Model):
    """A machine caller (the external data platform) using the client-credentials grant.

    The secret is stored hashed (Django's password hashers), shown once at creation.
    Each client acts through its own service user (``user``), which carries the role's
    group, so Django permissions answer for clients exactly as for people.
    """

    class Role(models.TextChoices):
        DATA_PLATFORM = "data_platform", _("Data platform")

    name = models.CharField(_("name"), max_length=100, unique=True)
    client_id = models.CharField(_("client id"), max_length=64, unique=True)
    secret_hash = models.CharField(_("secret hash"), max_length=256)
    role = models.CharField(_("role"), max_length=32, choices=Role.choices, default=Role.DATA_PLATFORM)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("service user"),
        on_delete=models.PROTECT,
        related_name="system_client",
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("system client")
        verbose_name_plural = _("system clients")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"


class RoleChange(models.Model):
    """Append-only audit of role changes: who changed whom, what, and when."""

    class Kind(models.TextChoices):
        GROUP_ADDED = "group_added", _("Role granted")
        GROUP_REMOVED = "group_removed", _("Role revoked")
        STAFF = "staff", _("Staff status changed")
        SUPERUSER = "superuser", _("Superuser status changed")
        MARKET_SCOPE = "market_scope", _("Market scope changed")
        ACTIVE = "active", _("Account activation changed")

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("changed by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="role_changes_made",
    )
    target = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.PROTECT,
        related_name="role_changes",
    )
    kind = models.CharField(_("change"), max_length=32, choices=Kind.choices)
    old_value = models.CharField(_("before"), max_length=200, blank=True)
    new_value = models.CharField(_("after"), max_length=200, blank=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("role change")
        verbose_name_plural = _("role changes")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.target_id}: {self.kind} {self.old_value!s} -> {self.new_value!s}"


class Consent(models.Model):
    """One consent decision (granted or withdrawn) of a user for a document version.

    Append-only: the newest row per kind is the current state; history is evidence.
    """

    class Kind(models.TextChoices):
        TERMS = "terms", _("Terms of service")
        PRIVACY = "privacy", _("Privacy policy")
        MARKETING = "marketing", _("Marketing messages")
        CROSS_BORDER_TRANSFER = "cross_border_transfer", _("Cross-border transfer of personal data")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="consents"
    )
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    document_version = models.CharField(_("document version"), max_length=32)
    granted = models.BooleanField(_("granted"))
    created_at = models.DateTimeField(_("when"), default=timezone.now)
    source = models.CharField(_("source"), max_length=16, default="web")

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        ordering = ["user_id", "kind", "-created_at", "-pk"]
        indexes = [models.Index(fields=["user", "kind", "-created_at"], name="accounts_consent_user_kind")]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["terms", "privacy", "marketing", "cross_border_transfer"]),
                name="accounts_consent_kind_valid",
            )
        ]

    def __str__(self) -> str:
        state = "granted" if self.granted else "withdrawn"
        return f"{self.kind} v{self.document_version} {state}"


class RateLimitWindow(models.Model):
    """The recent requests of one rate-limited key (scope + client address), for the
    sliding windows of ``apps.accounts.throttling`` when the cache is not shared (no Redis).

    ``hits``: ascending request times (epoch seconds) inside the scope's longest window.
    Read and written only under a row lock. Rows past ``expires_at`` are dead and purged.
    """

    key = models.CharField(_("key"), max_length=200, primary_key=True)
    hits = models.JSONField(_("requests"), default=list)
    expires_at = models.DateTimeField(_("expires at"), db_index=True)

    class Meta:
        verbose_name = _("rate limit window")
        verbose_name_plural = _("rate limit windows")

    def __str__(self) -> str:
        return self.key
