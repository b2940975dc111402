from datetime import UTC, datetime, timedelta, timezone

from oficina_common.timestamps import iso, now_iso, parse_iso


def test_one_format_utc_to_the_millisecond():
    moment = datetime(2026, 12, 5, 1, 30, 0, 123456, tzinfo=UTC)
    assert iso(moment) == "2026-12-05T01:30:00.123Z"
    assert iso(moment.astimezone(timezone(timedelta(hours=-3)))) == "2026-12-05T01:30:00.123Z"
    assert iso(datetime(2026, 12, 5, 1, 30)) == "2026-12-05T01:30:00.000Z"  # naive is UTC
    assert iso(None) is None
    assert len(now_iso()) == len("2026-12-05T01:30:00.123Z") and now_iso().endswith("Z")


def test_it_reads_its_own_format_and_the_longer_ones_written_before():
    assert parse_iso("2026-12-05T01:30:00.123Z") == datetime(2026, 12, 5, 1, 30, 0, 123000, tzinfo=UTC)
    assert parse_iso("2026-12-05T01:30:00.123456+00:00") == datetime(2026, 12, 5, 1, 30, 0, 123456, tzinfo=UTC)
    assert parse_iso("2026-12-05T01:30:00") == datetime(2026, 12, 5, 1, 30, tzinfo=UTC)
    assert parse_iso(None) is None and parse_iso("") is None


def test_strings_sort_as_the_moments_do():
    start = datetime(2026, 12, 5, 1, 30, tzinfo=UTC)
    moments = [start + timedelta(milliseconds=n * 7) for n in range(300)]
    assert sorted(iso(m) for m in reversed(moments)) == [iso(m) for m in moments]
