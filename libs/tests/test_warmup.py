"""oficina_common.warmup: what the first request or task would do, done as the process starts."""
import gc
import logging
import sys
import weakref

import pytest

from oficina_common import warmup

CALLED = []


@pytest.fixture(autouse=True)
def _unfreeze():
    """warm_up freezes what the process holds; the test process gives it back to the collector."""
    yield
    gc.unfreeze()


def a_step():
    CALLED.append("a")


def a_broken_step():
    raise ConnectionError("DynamoDB is not up yet")


def test_a_web_process_imports_its_urlconf_and_token_backend_and_runs_its_own_steps(settings):
    settings.WARM_UP = ("tests.test_warmup.a_step",)
    CALLED.clear()
    sys.modules.pop("rest_framework_simplejwt.state", None)
    assert warmup.warm_up(web=True) >= 0
    assert CALLED == ["a"]
    assert "rest_framework_simplejwt.state" in sys.modules  # imported by checking a token, refused
    assert settings.ROOT_URLCONF in sys.modules


def test_a_step_that_fails_is_logged_and_left_to_the_first_request(settings, caplog):
    settings.WARM_UP = ("tests.test_warmup.a_broken_step", "tests.test_warmup.a_step")
    CALLED.clear()
    with caplog.at_level(logging.WARNING, logger="oficina_common.warmup"):
        warmup.warm_up(web=False)
    assert CALLED == ["a"]  # the next steps still run
    assert "first request will do it" in caplog.text and "DynamoDB is not up yet" in caplog.text


def test_what_startup_built_is_left_out_of_every_later_collection_and_new_garbage_is_not():
    warmup.warm_up(web=False)
    frozen = gc.get_freeze_count()
    assert frozen > 10_000  # Django, the settings, the Celery app: walked by no collection from now on

    class Node:
        pass

    cycle = Node()
    cycle.itself = cycle  # garbage only the cyclic collector can free
    gone = weakref.ref(cycle)
    del cycle
    gc.collect()
    assert gone() is None
    assert gc.get_freeze_count() == frozen
