import logging
import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from rest_framework.test import APIClient

from oficina_common.django_settings import redis_cache, throttle_rates
from oficina_common.errors import TooManyRequests, exception_handler
from oficina_common.testing import free_port
from oficina_common.throttling import client_ip


@pytest.fixture
def client():
    return APIClient(raise_request_exception=False)


def test_a_scope_refuses_past_its_rate_with_retry_after_in_the_usual_body(client):
    assert [client.post("/throttled/").status_code for _ in range(3)] == [200, 200, 200]
    refused = client.post("/throttled/")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    body = refused.json()
    assert body["code"] == "throttled" and "throttled" in body["message"]
    assert body["extra"] == {"retry_after_seconds": int(refused["Retry-After"])}


def test_each_client_address_has_its_own_count(client):
    for _ in range(3):
        client.post("/throttled/", REMOTE_ADDR="10.0.0.1")
    assert client.post("/throttled/", REMOTE_ADDR="10.0.0.1").status_code == 429
    assert client.post("/throttled/", REMOTE_ADDR="10.0.0.2").status_code == 200


def test_a_plain_django_page_counts_the_same_way(client):
    assert [client.get("/throttled-page/").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_counts_do_not_outlive_the_test(client):
    """The isolated_caches fixture: the two tests above used up the scope, this one starts afresh."""
    assert client.post("/throttled/").status_code == 200


def test_an_unreachable_cache_lets_requests_through_and_says_so(client, settings, caplog):
    settings.CACHES = redis_cache(f"redis://127.0.0.1:{free_port()}/0", key_prefix="nowhere")
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="oficina_common.throttling"):
        statuses = [client.post("/throttled/").status_code for _ in range(5)]
    assert statuses == [200] * 5
    assert "the cache is unreachable" in caplog.text
    assert time.monotonic() - started < 10


def test_client_ip_trusts_only_the_configured_proxies(settings):
    from rest_framework.settings import api_settings

    request = RequestFactory().post("/", REMOTE_ADDR="10.1.1.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 200.1.2.3")
    try:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 0}
        assert client_ip(request) == "10.1.1.1"  # no proxy: the header is the client's to forge
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
        assert client_ip(request) == "200.1.2.3"  # one load balancer: what it saw, not what was sent
    finally:
        api_settings.reload()


@pytest.mark.parametrize("url", ["sqs://", "", "memory://"])
def test_the_cache_must_be_a_redis(url):
    with pytest.raises(ImproperlyConfigured, match="CACHE_URL must name a Redis"):
        redis_cache(url, key_prefix="os")


def test_rates_come_from_the_defaults_with_the_environment_on_top():
    defaults = {"staff_login": "10/min", "webhook": "300/min"}
    assert throttle_rates(defaults, {}) == defaults
    assert throttle_rates(defaults, {"staff_login": " 5/min "}) == {"staff_login": "5/min", "webhook": "300/min"}
    assert throttle_rates(defaults, {"webhook": "off"})["webhook"] is None


@pytest.mark.parametrize("overrides, problem", [
    ({"stafflogin": "5/min"}, "names ['stafflogin']"),
    ({"staff_login": "5 per minute"}, "not a rate"),
    ({"staff_login": "0/min"}, "not a rate"),
    ({"staff_login": "5/fortnight"}, "not a rate"),
])
def test_a_mistyped_rate_stops_the_service(overrides, problem):
    with pytest.raises(ImproperlyConfigured, match=problem.replace("[", r"\[").replace("]", r"\]")):
        throttle_rates({"staff_login": "10/min"}, overrides)


def test_too_many_requests_says_when_to_come_back():
    response = exception_handler(TooManyRequests("Locked.", code="locked_out", retry_after=900), {})
    assert response.status_code == 429 and response["Retry-After"] == "900"
    assert response.data == {"message": "Locked.", "code": "locked_out", "extra": {"retry_after_seconds": 900}}
