"""Spreading an order-level amount over its lines so that the parts always add up.

Largest remainder (Hamilton): every line gets the floor of its exact proportional share,
then the units left over go one each to the lines with the largest fractional remainders
(ties to the earlier line). Integer arithmetic only, so the result is exact to the won or
the cent: the shares sum to the amount, always, and a refund of any line (or any unit of
a line, see ``unit_shares``) is a whole number of minor units that never exceeds it.
"""

from __future__ import annotations

from collections.abc import Sequence


def allocate(amount: int, weights: Sequence[int]) -> list[int]:
    """``amount`` (>= 0) split over ``weights`` (>= 0) proportionally; all-zero weights
    split it evenly. ``sum(allocate(a, w)) == a`` for every input."""
    if amount < 0:
        raise ValueError("amount must be >= 0")
    if not weights:
        if amount:
            raise ValueError("nothing to allocate over")
        return []
    if any(w < 0 for w in weights):
        raise ValueError("weights must be >= 0")
    total_weight = sum(weights)
    if total_weight == 0:
        weights = [1] * len(weights)
        total_weight = len(weights)
    floors = [amount * w // total_weight for w in weights]
    remainders = [amount * w % total_weight for w in weights]
    left = amount - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        floors[i] += 1
    return floors


def unit_shares(line_total: int, quantity: int) -> list[int]:
    """``line_total`` spread over the line's units: refunding units ``k..k+n`` of a line
    gives back ``sum(unit_shares(...)[k:k+n])``, and refunding every unit gives back the
    line total exactly, whatever the order of partial refunds."""
    return allocate(line_total, [1] * quantity)
