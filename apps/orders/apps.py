from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "apps.orders"
    label = "orders"
    verbose_name = _("Orders")
    #: role (group) -> permissions; the accounts app syncs its groups from these (ADR 0002).
    #: Orders, lines, payments, refunds and history are read-only for every role: status
    #: changes go through the services (``transition_order``). cs_agent may fulfil, cancel
    #: and refund within policy; ``force_transition`` (ops) may take any legal transition.
    role_grants: dict[str, list[str]] = {
        "ops_admin": [
            "orders.view_order",
            "orders.view_orderline",
            "orders.view_orderpayment",
            "orders.view_orderrefund",
            "orders.view_orderstatuschange",
            "orders.transition_order",
            "orders.force_transition",
        ],
        "cs_agent": [
            "orders.view_order",
            "orders.view_orderline",
            "orders.view_orderpayment",
            "orders.view_orderrefund",
            "orders.view_orderstatuschange",
            "orders.transition_order",
        ],
    }
