"""How customers read money and time: Brazilian reais and the workshop's local clock, in Portuguese.

The formats themselves live in ``oficina_common.formatting``, shared with the OS and Execution;
the clock is ``settings.CUSTOMER_TIME_ZONE``.
"""
from __future__ import annotations

from oficina_common.formatting import format_brl as brl
from oficina_common.formatting import local_time, time_zone_label

__all__ = ["brl", "first_name", "local_time", "time_zone_label"]


def first_name(full_name: str) -> str:
    return full_name.split()[0] if full_name and full_name.strip() else ""
