"""The caller as a verified access token describes them (no query; see TokenPrincipal)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, eq=False)
class TokenPrincipal:
    """The caller as a verified access token describes them, read without a query.

    A token is signed by us and short-lived (``JWT_ACCESS_TOKEN_SECONDS``), and carries the
    caller's ``roles``, ``market`` and ``locale`` (``apps.accounts.tokens``). A view that must
    answer many callers cheaply (a flash-sale claim that the Redis gate refuses) may let a
    principal stand for the user and load the account only when it is about to change
    something for them (``apps.accounts.selectors.shopper_get``): what a principal is told
    without that load is only what anyone signed in could learn.
    """

    pk: int
    roles: frozenset[str] = field(default_factory=frozenset)
    market_id: str | None = None
    locale: str = ""
    is_service_account: bool = False
    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    @property
    def id(self) -> int:
        return self.pk
