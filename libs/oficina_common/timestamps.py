"""One timestamp format for every table and message: ISO-8601 in UTC, to the millisecond, with a
"Z" (``2026-12-05T01:30:00.123Z``). Strings of one format sort as the moments do, which the
tables' sort keys and ``deadline <= :now`` conditions rely on. Free of Django and boto3, so domain
modules may use it."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


def utc(moment: datetime) -> datetime:
    """A naive moment is taken to be UTC (what the services' clocks and tests hand around)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@overload
def iso(moment: datetime) -> str: ...
@overload
def iso(moment: None) -> None: ...
def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return utc(moment).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return iso(datetime.now(UTC))


@overload
def parse_iso(value: str) -> datetime: ...
@overload
def parse_iso(value: None) -> None: ...
def parse_iso(value: str | None) -> datetime | None:
    """Reads this format and the longer ones written before it (microseconds, ``+00:00``); an
    absent value (None or "") is None."""
    if not value:
        return None
    return utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
