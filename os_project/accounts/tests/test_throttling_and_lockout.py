"""Logins under attack: throttled per address (DRF on Redis), staff accounts locked out (django-axes)."""
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessLog
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import VALID_CPF_FORMATTED

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"
CUSTOMER_TOKEN = "/api/v1/auth/customer-token/"
REFRESH = "/api/v1/auth/token/refresh/"


def _login(username, password="s3cret-pass", address="198.51.100.7"):
    return APIClient().post(TOKEN, {"username": username, "password": password}, REMOTE_ADDR=address)


def _first_429(responses):
    return next(n for n, response in enumerate(responses, start=1) if response.status_code == 429)


def _assert_throttled(response):
    assert response.status_code == 429
    wait = int(response["Retry-After"])
    assert 0 < wait <= 60
    assert response.json() == {"message": f"Request was throttled. Expected available in {wait} seconds.",
                               "code": "throttled", "extra": {"retry_after_seconds": wait}}


# --- throttling ------------------------------------------------------------------------------

def test_sixty_wrong_staff_passwords_from_one_address_are_throttled_after_ten(make_user):
    make_user("ana", "attendant")
    # One password tried against many usernames (spraying): no single account reaches its lockout.
    responses = [_login(f"user{n}", "Oficina2025") for n in range(60)]
    assert [r.status_code for r in responses[:10]] == [401] * 10
    assert _first_429(responses) == 11
    for response in responses[10:]:
        _assert_throttled(response)
    # Another address is counted apart; so is the throttle's own, and ana still logs in from her desk.
    assert _login("ana", address="203.0.113.20").status_code == 200


def test_sixty_wrong_passwords_for_one_account_are_stopped_by_the_fifth(make_user):
    make_user("ana", "attendant")
    responses = [_login("ana", f"guess-{n}") for n in range(60)]
    assert [r.status_code for r in responses[:4]] == [401] * 4
    assert _first_429(responses) == 5
    assert responses[4].json()["code"] == "login_locked_out"
    assert all(r.status_code == 429 and int(r["Retry-After"]) > 0 for r in responses[4:])
    assert {r.json()["code"] for r in responses[4:]} == {"login_locked_out", "throttled"}


def test_sixty_customer_token_guesses_are_throttled_after_ten(order):
    responses = [APIClient().post(CUSTOMER_TOKEN, {"document": VALID_CPF_FORMATTED, "tracking_code": f"{n:024d}"})
                 for n in range(60)]
    assert [r.status_code for r in responses[:10]] == [401] * 10
    assert _first_429(responses) == 11
    for response in responses[10:]:
        _assert_throttled(response)
    # Even the right pair waits: the throttle counts requests, not wrong answers.
    right = {"document": VALID_CPF_FORMATTED, "tracking_code": order.tracking_code}
    _assert_throttled(APIClient().post(CUSTOMER_TOKEN, right))
    assert APIClient().post(CUSTOMER_TOKEN, right, REMOTE_ADDR="203.0.113.20").status_code == 200


def test_token_refreshes_are_throttled_after_thirty(make_user):
    make_user("mario", "mechanic")
    refresh = _login("mario").json()["refresh"]
    responses = [APIClient().post(REFRESH, {"refresh": refresh}, REMOTE_ADDR="198.51.100.7") for _ in range(31)]
    assert [r.status_code for r in responses[:30]] == [200] * 30
    _assert_throttled(responses[30])


def test_the_load_balancers_address_is_not_the_clients(make_user, settings):
    """Behind the load balancer (NUM_PROXIES=1) each client is counted by the address it saw."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    make_user("ana", "attendant")

    def through_the_balancer(client_address, username="nobody", password="x"):
        return APIClient().post(TOKEN, {"username": username, "password": password}, REMOTE_ADDR="10.0.0.2",
                                HTTP_X_FORWARDED_FOR=f"1.2.3.4, {client_address}")

    assert _first_429([through_the_balancer("198.51.100.7", f"user{n}") for n in range(11)]) == 11
    assert through_the_balancer("203.0.113.20").status_code == 401
    # The lockout counts by the same address: ana locked at one desk logs in at another.
    assert [through_the_balancer("203.0.113.30", "ana").status_code for _ in range(5)][-1] == 429
    assert through_the_balancer("203.0.113.40", "ana", "s3cret-pass").status_code == 200


# --- lockout ---------------------------------------------------------------------------------

def _locked_out_ana(make_user):
    make_user("ana", "attendant")
    assert [_login("ana", "wrong").status_code for _ in range(5)] == [401] * 4 + [429]


def test_a_locked_out_account_is_refused_even_with_the_right_password_from_that_address(make_user):
    make_user("ana", "attendant")
    for _ in range(4):
        assert _login("ana", "wrong").status_code == 401
    locked = _login("ana", "wrong")
    assert locked.status_code == 429
    assert locked["Retry-After"] == "900"
    assert locked.json() == {
        "message": "Too many failed logins for this username from your address: try again in 15 minutes, "
                   "or ask an admin to unlock the account.",
        "code": "login_locked_out", "extra": {"retry_after_seconds": 900}}
    assert _login("ana").json()["code"] == "login_locked_out"
    # Per username and address: ana at another desk, and a colleague at this one, are not locked.
    assert _login("ana", address="203.0.113.20").status_code == 200
    make_user("mario", "mechanic")
    assert _login("mario").status_code == 200


def test_a_login_that_works_forgets_the_typos_before_it(make_user):
    make_user("ana", "attendant")
    for _ in range(4):
        _login("ana", "wrong")
    assert _login("ana").status_code == 200
    assert [_login("ana", "wrong").status_code for _ in range(4)] == [401] * 4
    assert AccessLog.objects.filter(username="ana").exists()  # the token login is in the access log


def test_the_lockout_shows_in_the_admin_and_an_admin_clears_it(make_user, client):
    _locked_out_ana(make_user)
    client.force_login(make_user("boss", "admin", is_staff=True, is_superuser=True))
    page = client.get("/admin/axes/accessattempt/").content.decode()
    assert "ana" in page and "198.51.100.7" in page
    attempt = AccessAttempt.objects.get(username="ana")
    assert attempt.failures_since_start == 5
    response = client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert _login("ana").status_code == 200


def test_axes_reset_username_clears_the_lockout(make_user):
    _locked_out_ana(make_user)
    assert _login("ana").status_code == 429
    call_command("axes_reset_username", "ana")
    assert _login("ana").status_code == 200


def test_the_lockout_lifts_after_the_cool_off(make_user):
    _locked_out_ana(make_user)
    AccessAttempt.objects.filter(username="ana").update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert _login("ana").status_code == 200


def test_the_admin_login_locks_out_too_and_says_so(make_user, client):
    make_user("boss", "admin", is_staff=True, is_superuser=True)
    for _ in range(4):
        assert client.post("/admin/login/", {"username": "boss", "password": "wrong"}).status_code == 200
    locked = client.post("/admin/login/", {"username": "boss", "password": "wrong"})
    assert locked.status_code == 429 and locked["Retry-After"] == "900"
    assert "Too many failed logins" in locked.content.decode()
    assert client.post("/admin/login/", {"username": "boss", "password": "s3cret-pass"}).status_code == 429
    # The same username and address are locked on the API as well: one count for both doors.
    assert _login("boss", address="127.0.0.1").json()["code"] == "login_locked_out"
