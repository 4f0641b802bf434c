"""Marking what carries personal data, so it is never stored by a cache (ADR 0005).

The project middleware (``joopang.middleware.SecurityHeadersMiddleware``) already answers
``Cache-Control: no-store`` to every signed-in person, every request with an
``Authorization`` header and every API write. A view that shows personal data to someone
*not* signed in (a guest's order confirmation, a one-time link) says so::

    @personal_data
    def order_lookup(request): ...

    class GuestOrderApi(APIView):
        personal_data = True
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def personal_data(view: T) -> T:
    """Mark a view function or class: its responses are ``no-store``."""
    view.personal_data = True  # type: ignore[attr-defined]
    return view
