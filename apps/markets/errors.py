from django.utils.translation import gettext_lazy as _

from apps.core.errors import DomainError


class UnknownMarket(DomainError):
    code = "market.unknown"
    http_status = 400
    title = _("Unknown market")
    message = _("The market %(market)s does not exist or is not open. Use KR or US.")


class FxRateUnavailable(DomainError):
    code = "market.fx_rate_unavailable"
    http_status = 503
    title = _("Exchange rate unavailable")
    message = _("No exchange rate from %(base)s to %(quote)s is configured.")
