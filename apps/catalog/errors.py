from django.utils.translation import gettext_lazy as _

from apps.core.errors import DomainError


class ProductNotFound(DomainError):
    code = "catalog.product_not_found"
    http_status = 404
    title = _("Product not found")
    message = _("The product %(product_id)s does not exist or is not sold in this market.")


class CategoryNotFound(DomainError):
    code = "catalog.category_not_found"
    http_status = 404
    title = _("Category not found")
    message = _("The category %(category)s does not exist.")


class CursorInvalid(DomainError):
    code = "catalog.cursor_invalid"
    http_status = 400
    title = _("Invalid page cursor")
    message = _(
        "The page cursor is invalid or belongs to another sort order. Start again from the first page."
    )


class SkuCodeTaken(DomainError):
    code = "catalog.sku_code_taken"
    http_status = 409
    title = _("SKU code already used")
    message = _("The SKU code %(sku)s is already used by another product.")
