"""retry_on_conflict: a lost race is answered by reading again and deciding again, a bounded number of times."""
import pytest

from oficina_common.concurrency import MAX_ATTEMPTS, retry_on_conflict
from oficina_common.errors import AlreadyExists, ConcurrencyConflict


class Row:
    """A versioned row another writer keeps changing for the first ``races`` writes."""

    def __init__(self, races: int):
        self.version, self.races, self.reads = 1, races, 0

    def read(self) -> int:
        self.reads += 1
        return self.version

    def write(self, expected: int, error: type[Exception] = ConcurrencyConflict) -> int:
        if self.races:
            self.races -= 1
            self.version += 1  # someone else wrote first
        if expected != self.version:
            raise error("version changed")
        self.version += 1
        return self.version


def test_a_lost_race_is_decided_again_on_a_fresh_read():
    row = Row(races=2)
    assert retry_on_conflict(row.write, read=row.read, gave_up="no") == 4
    assert row.reads == 3


def test_what_was_already_read_is_tried_first():
    row = Row(races=0)
    assert retry_on_conflict(row.write, first=1, read=row.read, gave_up="no") == 2
    assert row.reads == 0


def test_it_gives_up_after_so_many_attempts():
    row = Row(races=MAX_ATTEMPTS)
    with pytest.raises(ConcurrencyConflict, match="kept changing"):
        retry_on_conflict(row.write, read=row.read, gave_up="kept changing")


def test_only_the_named_conflicts_are_retried():
    row = Row(races=1)
    assert retry_on_conflict(lambda v: row.write(v, AlreadyExists), read=row.read, conflicts=(AlreadyExists,),
                             gave_up="no") == 3
    with pytest.raises(AlreadyExists):
        retry_on_conflict(lambda v: Row(races=1).write(v, AlreadyExists), read=row.read, gave_up="no")
