import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from conftest import VALID_CPF_FORMATTED

pytestmark = pytest.mark.django_db


def _login(username, password="s3cret-pass"):
    return APIClient().post("/api/v1/auth/token/", {"username": username, "password": password}, format="json")


def test_staff_log_in_and_the_token_carries_role_and_username(make_user):
    make_user("ana", "attendant")
    response = _login("ana")
    assert response.status_code == 200
    access = AccessToken(response.json()["access"])
    assert access["role"] == "attendant" and access["username"] == "ana"
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert api.get("/api/v1/customers/").status_code == 200


def test_a_superuser_without_a_role_is_an_admin(make_user):
    make_user("root", "", is_superuser=True)
    assert AccessToken(_login("root").json()["access"])["role"] == "admin"


def test_refreshing_keeps_the_claims(make_user):
    make_user("mario", "mechanic")
    refresh = _login("mario").json()["refresh"]
    response = APIClient().post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json")
    assert response.status_code == 200
    assert AccessToken(response.json()["access"])["role"] == "mechanic"
    assert APIClient().post("/api/v1/auth/token/refresh/", {"refresh": "junk"}, format="json").status_code == 401


def test_a_wrong_password_is_401_in_the_error_shape(make_user):
    make_user("ana", "attendant")
    response = _login("ana", "wrong")
    assert response.status_code == 401
    assert set(response.json()) == {"message", "code", "extra"}


def test_an_account_without_a_role_gets_no_token(make_user):
    make_user("visitor", "")
    response = _login("visitor")
    assert response.status_code == 403 and "no staff role" in response.json()["message"]


def test_a_customer_gets_a_token_from_document_and_tracking_code(order):
    response = APIClient().post("/api/v1/auth/customer-token/",
                                {"document": VALID_CPF_FORMATTED, "tracking_code": order.tracking_code}, format="json")
    assert response.status_code == 200
    access = AccessToken(response.json()["access"])
    assert access["role"] == "customer" and access["customer_id"] == str(order.customer_id)
    assert access["service_order_id"] == str(order.pk)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert api.get(f"/api/v1/service-orders/{order.pk}/").json()["number"] == order.number


@pytest.mark.parametrize("document, code", [
    ("111.444.777-35", "right"),   # someone else's valid CPF
    ("529.982.247-25", "wrong"),   # the right CPF, a wrong code
    ("123", "right"),              # not even a document
    ("529.982.247-25", "weird"),   # not even a tracking code
])
def test_a_wrong_pair_is_401_without_saying_which_half(order, document, code):
    tracking_code = {"right": order.tracking_code, "wrong": "x" * 24, "weird": "<script>"}[code]
    response = APIClient().post("/api/v1/auth/customer-token/", {"document": document, "tracking_code": tracking_code},
                                format="json")
    assert response.status_code == 401
    assert response.json() == {"message": "No service order matches this document and tracking code.",
                               "code": "invalid_credentials", "extra": {}}


def test_a_customer_token_request_needs_both_fields(db):
    assert APIClient().post("/api/v1/auth/customer-token/", {"document": "1"}, format="json").status_code == 400


def test_a_session_user_of_the_admin_uses_the_api_with_their_role(client, make_user, order):
    client.force_login(make_user("ana", "attendant"))
    assert client.get("/api/v1/service-orders/").json()["count"] == 1
    client.force_login(make_user("mario", "mechanic"))
    assert client.get("/api/v1/customers/").status_code == 403


# --- tokens only the OS can sign (RS256, iss, aud) and refreshes that read the user again -------------

def _refresh(refresh):
    return APIClient().post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json")


def test_tokens_are_signed_with_the_private_key_and_name_issuer_and_audience(make_user, settings):
    import jwt

    make_user("ana", "attendant")
    access = _login("ana").json()["access"]
    assert jwt.get_unverified_header(access)["alg"] == "RS256"
    claims = jwt.decode(access, settings.JWT_PUBLIC_KEY, algorithms=["RS256"], audience="oficina", issuer="oficina-os")
    assert claims["role"] == "attendant"


def test_a_token_for_another_audience_or_issuer_or_signed_with_a_shared_secret_is_refused(make_user, settings):
    import jwt

    make_user("ana", "attendant")
    claims = jwt.decode(_login("ana").json()["access"], options={"verify_signature": False})
    forged = {
        "audience": jwt.encode({**claims, "aud": "someone-else"}, settings.JWT_PRIVATE_KEY, algorithm="RS256"),
        "issuer": jwt.encode({**claims, "iss": "billing"}, settings.JWT_PRIVATE_KEY, algorithm="RS256"),
        "no issuer": jwt.encode({k: v for k, v in claims.items() if k != "iss"}, settings.JWT_PRIVATE_KEY,
                                algorithm="RS256"),
        # the old HS256 trick: the public key used as a shared secret
        "hs256": jwt.encode(claims, "a-shared-secret", algorithm="HS256"),
    }
    for why, token in forged.items():
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        assert api.get("/api/v1/customers/").status_code == 401, why


def test_a_refresh_gives_the_role_the_user_has_now(make_user):
    boss = make_user("boss", "admin")
    refresh = _login("boss").json()["refresh"]
    boss.role = "mechanic"
    boss.save()
    response = _refresh(refresh)
    assert response.status_code == 200
    assert AccessToken(response.json()["access"])["role"] == "mechanic"
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert api.get("/api/v1/customers/").status_code == 403  # customers are the front desk's, not a mechanic's


@pytest.mark.parametrize("change", ["deactivated", "deleted", "role taken away"])
def test_a_refresh_for_a_user_who_may_no_longer_log_in_is_401(make_user, change):
    ana = make_user("ana", "attendant")
    refresh = _login("ana").json()["refresh"]
    if change == "deactivated":
        ana.is_active = False
        ana.save()
    elif change == "deleted":
        ana.delete()
    else:
        ana.role = ""
        ana.save()
    response = _refresh(refresh)
    assert response.status_code == 401
    assert response.json()["code"] == "no_active_account"


def test_a_customer_token_is_no_refresh_token(order):
    access = APIClient().post("/api/v1/auth/customer-token/",
                              {"document": VALID_CPF_FORMATTED, "tracking_code": order.tracking_code},
                              format="json").json()["access"]
    assert _refresh(access).status_code == 401
