import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from oficina_common.auth import ATTENDANT, CUSTOMER, MECHANIC, issue_customer_token


def staff_token(role: str) -> str:
    token = AccessToken()
    token["user_id"] = 1
    token["role"] = role
    return str(token)


@pytest.fixture
def client():
    return APIClient(raise_request_exception=False)


def test_anonymous_gets_401_with_message(client):
    response = client.get("/whoami/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response.json()["message"]


def test_garbage_token_is_401(client):
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    response = client.get("/whoami/")
    assert response.status_code == 401
    assert set(response.json()) == {"message", "code", "extra"}
    assert response.json()["code"] == "token_not_valid"
    assert not response.json()["message"].startswith("detail:")


def test_token_signed_with_other_key_is_401(client):
    import jwt

    forged = jwt.encode({"user_id": 1, "role": "admin", "token_type": "access", "exp": 9999999999, "jti": "x"},
                        "another-key", algorithm="HS256")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert client.get("/whoami/").status_code == 401


def test_token_signed_with_another_private_key_is_401_even_with_the_right_claims(client):
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    claims = {"user_id": 1, "role": "admin", "token_type": "access", "exp": 9999999999, "jti": "x",
              "iss": "oficina-os", "aud": "oficina"}
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt.encode(claims, other, algorithm='RS256')}")
    assert client.get("/whoami/").status_code == 401


def test_a_service_that_only_verifies_cannot_mint_a_token():
    import jwt
    from rest_framework_simplejwt.backends import TokenBackend

    from oficina_common.auth import jwt_settings
    from oficina_common.dev_keys import DEV_JWT_PUBLIC_KEY

    billing = jwt_settings(public_key=DEV_JWT_PUBLIC_KEY)  # Billing and Execution in production
    backend = TokenBackend(billing["ALGORITHM"], billing["SIGNING_KEY"], billing["VERIFYING_KEY"],
                           billing["AUDIENCE"], billing["ISSUER"])
    with pytest.raises(jwt.InvalidKeyError):
        backend.encode({"user_id": 1, "role": "admin"})


@pytest.mark.parametrize("role", [ATTENDANT, MECHANIC, "admin"])
def test_staff_roles_pass(client, role):
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {staff_token(role)}")
    response = client.get("/whoami/")
    assert response.status_code == 200
    assert response.json() == {"role": role, "customer_id": None}


def test_customer_is_forbidden_from_staff_views_but_known_elsewhere(client):
    token = issue_customer_token(42, service_order_id="abc")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/whoami/").status_code == 403
    response = client.get("/anyrole/")
    assert response.json() == {"role": CUSTOMER, "customer_id": "42"}


def test_application_error_renders_code_message_extra(client):
    response = client.post("/raise/conflict/")
    assert response.status_code == 409
    assert response.json() == {"message": "Cannot move from RECEIVED to FINISHED.", "code": "invalid_transition",
                               "extra": {"from": "RECEIVED"}}


def test_http404_and_django_validation(client):
    assert client.post("/raise/missing/").status_code == 404
    response = client.post("/raise/django-validation/")
    assert response.status_code == 400
    assert response.json()["message"] == "plate: Invalid plate."


def test_serializer_errors_name_the_field(client):
    response = client.post("/raise/serializer/", {"quantity": 0}, format="json")
    assert response.status_code == 400
    assert response.json()["message"].startswith("quantity:")
    assert "quantity" in response.json()["extra"]["fields"]


def test_malformed_json_is_400(client):
    response = client.post("/raise/ok/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_unexpected_error_is_500_without_internals(client):
    response = client.post("/raise/boom/")
    assert response.status_code == 500
    assert "secret internals" not in response.content.decode()


def test_a_database_gone_under_the_request_is_503_to_try_again_not_500(client):
    """Seen in the fault run: PostgreSQL connections killed under a request answered 500."""
    response = client.post("/raise/database-gone/")
    assert response.status_code == 503 and response["Retry-After"] == "1"
    assert response.json()["code"] == "database_unavailable"
    assert "server closed" not in response.content.decode()


@pytest.mark.parametrize("kind", ["dynamodb-gone", "dynamodb-throttled"])
def test_dynamodb_gone_or_throttled_under_the_request_is_503_to_try_again_not_500(client, kind):
    """Seen in the fault run: DynamoDB's endpoint restarting under a request answered 500."""
    response = client.post(f"/raise/{kind}/")
    assert response.status_code == 503 and response["Retry-After"] == "1"
    assert response.json()["code"] == "database_unavailable"
    assert "127.0.0.1" not in response.content.decode()


def test_correlation_id_is_echoed_or_made(client):
    response = client.post("/raise/ok/", HTTP_X_CORRELATION_ID="saga-123")
    assert response["X-Correlation-ID"] == "saga-123"
    assert response.json()["correlation_id"] == "saga-123"
    made = client.post("/raise/ok/", HTTP_X_CORRELATION_ID="bad value with spaces")
    assert made["X-Correlation-ID"] != "bad value with spaces"
    assert len(made["X-Correlation-ID"]) == 36


class TestVerifiedOnce:
    """A token this process verified is not verified again (signature, claims), only its expiry."""

    @pytest.fixture
    def decodes(self, monkeypatch):
        from rest_framework_simplejwt.backends import TokenBackend

        calls = []
        decode = TokenBackend.decode
        def counted(backend, token, *args, **kwargs):
            calls.append(token)
            return decode(backend, token, *args, **kwargs)

        monkeypatch.setattr(TokenBackend, "decode", counted)
        return calls

    def test_the_same_token_again_is_not_verified_again(self, client, decodes):
        token = staff_token(ATTENDANT)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        assert [client.get("/whoami/").status_code for _ in range(3)] == [200, 200, 200]
        assert decodes == [token.encode()]

    def test_a_refused_token_is_refused_every_time(self, client, decodes):
        client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
        assert [client.get("/whoami/").status_code for _ in range(2)] == [401, 401]
        assert len(decodes) == 2  # nothing kept of it

    def test_a_kept_token_is_refused_once_it_expires(self, client, monkeypatch):
        import time

        token = AccessToken()
        token["user_id"], token["role"] = 1, ATTENDANT
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        assert client.get("/whoami/").status_code == 200
        later = token["exp"] + 1
        monkeypatch.setattr(time, "time", lambda: later)
        from datetime import UTC, datetime

        monkeypatch.setattr("rest_framework_simplejwt.tokens.aware_utcnow", lambda: datetime.fromtimestamp(later, UTC))
        monkeypatch.setattr("jwt.api_jwt.datetime", _FrozenDatetime(later), raising=False)
        response = client.get("/whoami/")
        assert response.status_code == 401 and response.json()["code"] == "token_not_valid"

    def test_the_same_claims_signed_by_another_key_are_refused_after_the_genuine_token_passed(self, client):
        import jwt
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        genuine = AccessToken()
        genuine["user_id"], genuine["role"] = 1, "admin"
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {genuine}")
        assert client.get("/whoami/").status_code == 200
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        forged = jwt.encode(dict(genuine.payload), other, algorithm="RS256")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
        assert client.get("/whoami/").status_code == 401


class _FrozenDatetime:
    """``datetime`` as PyJWT's expiry check sees it, at ``moment`` (epoch seconds)."""

    def __init__(self, moment):
        from datetime import datetime

        self._moment, self._datetime = moment, datetime

    def now(self, tz=None):
        return self._datetime.fromtimestamp(self._moment, tz)

    def __getattr__(self, name):
        return getattr(self._datetime, name)
