"""Validators for identifiers and codes a client sends (ADR 0005).

Every identifier a request carries has a length and a format, checked before it reaches
a query or is echoed back: a 10,000-character ``sku`` or an ``XX`` country is a field
error (``request.invalid``), never a database error or a reflected blob.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

#: ISO 3166-1 alpha-2: the 249 officially assigned country codes.
ISO_3166_ALPHA2 = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
    """.split()  # noqa: SIM905 - 249 codes read better as a block
)
assert len(ISO_3166_ALPHA2) == 249

#: A code such as a SKU: visible ASCII, no spaces (they are typed, printed and scanned).
_CODE = re.compile(r"[!-~]+")


def validate_country_code(value: Any) -> None:
    """An ISO 3166-1 alpha-2 country code in capitals (``KR``, ``US``)."""
    if not isinstance(value, str) or value not in ISO_3166_ALPHA2:
        raise ValidationError(
            _("Enter an ISO 3166-1 country code of two capital letters, such as KR or US."),
            code="invalid_country",
        )


def code_error(max_length: int) -> ValidationError:
    return ValidationError(
        _("Enter a code of 1 to %(max)s visible ASCII characters without spaces."),
        code="invalid",
        params={"max": max_length},
    )


def is_valid_code(value: Any, max_length: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= max_length and bool(_CODE.fullmatch(value))


def validate_code(value: Any, max_length: int = 64) -> None:
    if not is_valid_code(value, max_length):
        raise code_error(max_length)
