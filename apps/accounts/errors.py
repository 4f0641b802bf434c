"""Account, authentication and privacy errors (stable codes; see API.md "Auth and accounts")."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from apps.core.errors import DomainError


class EmailTaken(DomainError):
    code = "account.email_taken"
    http_status = 400
    title = _("Email already registered")
    message = _("An account with this email address already exists.")


class PasswordWeak(DomainError):
    code = "account.password_weak"
    http_status = 400
    title = _("Password too weak")
    message = _("Choose a stronger password: %(reasons)s")


class ConsentRequired(DomainError):
    code = "account.consent_required"
    http_status = 400
    title = _("Consent required")
    # ``kinds`` (the missing consent kinds' codes) is a field of the problem body too.
    message = _("Please accept the required documents to continue: %(documents)s.")


class InvalidCredentials(DomainError):
    code = "auth.invalid_credentials"
    http_status = 400
    title = _("Wrong email or password")
    message = _("The email address or password is not correct.")


class SignInLocked(DomainError):
    """Too many failed sign-ins for one email address from one client address.

    Answered alike for every email, registered or not (it reveals nothing), and only to
    that client address: the account still signs in from anywhere else. Replaces
    ``auth.account_locked`` (issue 16), which locked the account everywhere and only
    for registered emails.
    """

    code = "auth.sign_in_locked"
    http_status = 429
    title = _("Too many failed sign-ins")
    message = _("Too many failed sign-in attempts with this email address. Try again in %(minutes)s minutes.")


class AccountInactive(DomainError):
    code = "auth.account_inactive"
    http_status = 403
    title = _("Account inactive")
    message = _("This account is inactive or has been deleted.")


class UnknownRole(DomainError):
    code = "account.unknown_role"
    http_status = 400
    title = _("Unknown role")
    message = _("The role %(role)s does not exist.")


class MarketScopeInvalid(DomainError):
    code = "account.market_scope_invalid"
    http_status = 400
    title = _("Invalid market scope")
    message = _("Only staff users can be limited to a market, and the market must exist.")


class PasswordIncorrect(DomainError):
    code = "account.password_incorrect"
    http_status = 400
    title = _("Password incorrect")
    message = _("The password you entered is not correct.")
