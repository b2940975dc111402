"""The unit tests' saga world: a clock that stands still until a test moves it, and the service's
dependencies on in-memory fakes."""
from __future__ import annotations

import pytest

from ..fakes import T0, Clock, fake_dependencies


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def deps(clock):
    return fake_dependencies(clock)
