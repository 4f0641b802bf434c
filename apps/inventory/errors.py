from django.utils.translation import gettext_lazy as _

from apps.core.errors import DomainError


class TooManySkus(DomainError):
    code = "inventory.too_many_skus"
    http_status = 400
    title = _("Too many SKUs")
    message = _("Ask for at most %(max)s SKUs at a time.")
