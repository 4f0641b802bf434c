"""Report error codes (API.md "Reports")."""

from django.utils.translation import gettext_lazy as _

from apps.core.errors import DomainError


class ReportDateInvalid(DomainError):
    code = "reports.invalid_date"
    http_status = 400
    title = _("Invalid date")
    message = _("%(field)s must be a date written YYYY-MM-DD.")


class ReportRangeInvalid(DomainError):
    code = "reports.invalid_range"
    http_status = 400
    title = _("Invalid date range")
    message = _(
        "Choose from %(start)s to %(end)s again: from must not be after to, and a report covers at most %(max_days)s days."
    )


class ReportFormatInvalid(DomainError):
    code = "reports.invalid_format"
    http_status = 400
    title = _("Unknown report format")
    message = _("The format %(format)s is not offered here. Choose one of: %(formats)s.")
