"""oficina_common.warmup: what the first request or task would do, done as the process starts."""
import gc
import logging
import sys
import weakref
from concurrent.futures import ThreadPoolExecutor

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


def test_the_first_publish_finds_celerys_result_backend_already_looked_up(monkeypatch):
    from celery.app import backends

    looked_up = []
    real = backends.by_url
    monkeypatch.setattr(backends, "by_url", lambda *args, **kwargs: looked_up.append(args) or real(*args, **kwargs))

    def warm_then_publish():
        warmup.warm_up(web=False)
        during_warm_up = len(looked_up)
        from celery import current_app

        current_app.backend  # noqa: B018 - what each publish's AsyncResult asks for
        return during_warm_up, len(looked_up)

    # In a thread of its own: Celery keeps the app's backend per thread.
    with ThreadPoolExecutor(1) as thread:
        during_warm_up, after_first_publish = thread.submit(warm_then_publish).result()
    assert during_warm_up == 1  # the entry-point scan (9 to 12 ms) was the warm-up's
    assert after_first_publish == 1


def test_the_first_throttled_request_finds_the_caches_redis_client_connected(monkeypatch):
    import redis
    from django.core.cache import cache

    warmup.warm_up(web=False)
    connected = []
    real = redis.ConnectionPool.make_connection
    monkeypatch.setattr(redis.ConnectionPool, "make_connection",
                        lambda pool: connected.append(pool) or real(pool))
    cache.get("a-throttles-counter")
    assert connected == []


def test_the_first_e_mail_finds_its_backend_imported_and_the_host_name_looked_up(settings, monkeypatch):
    import socket

    from django.core.mail import utils

    settings.WARM_UP = ("oficina_common.warmup.mail",)
    monkeypatch.delattr(utils.DNS_NAME, "_fqdn", raising=False)  # as in a process that has just started
    looked_up = []
    real = socket.getfqdn
    monkeypatch.setattr(socket, "getfqdn", lambda *args: looked_up.append(args) or real(*args))
    warmup.warm_up(web=False)
    assert len(looked_up) == 1  # for the Message-ID: once, by the warm-up
    assert str(utils.DNS_NAME)  # what the first e-mail's Message-ID asks for
    assert len(looked_up) == 1
