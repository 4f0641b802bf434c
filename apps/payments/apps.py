from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "apps.payments"
    label = "payments"
    verbose_name = _("Wallet and payments")
    #: role (group) -> permissions; the accounts app syncs its groups from these (ADR 0002).
    #: The ledger, charges and payment methods are read-only for every role: rows are written
    #: by the services only. ``adjust_wallet`` lets customer service credit or debit a wallet
    #: up to the market's policy limit; ``adjust_wallet_unlimited`` lifts the limit (ops).
    #: Inventory and marketing get nothing here: they never see wallet data.
    role_grants: dict[str, list[str]] = {
        "ops_admin": [
            "payments.view_wallet",
            "payments.view_walletentry",
            "payments.view_paymentmethod",
            "payments.view_charge",
            "payments.adjust_wallet",
            "payments.adjust_wallet_unlimited",
        ],
        "cs_agent": [
            "payments.view_wallet",
            "payments.view_walletentry",
            "payments.view_paymentmethod",
            "payments.view_charge",
            "payments.adjust_wallet",
        ],
    }
