"""oficina_common.warmup: what the first request or task would do, done as the process starts."""
import logging
import sys

from oficina_common import warmup

CALLED = []


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
