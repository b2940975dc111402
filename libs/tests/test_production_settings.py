import environ
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from django.core.exceptions import ImproperlyConfigured

from oficina_common.dev_keys import DEV_JWT_PRIVATE_KEY, DEV_JWT_PUBLIC_KEY
from oficina_common.django_settings import (
    DEV_SECRET_KEY,
    jwt_key_pair,
    refuse_unsafe_production,
    rest_framework_settings,
    spectacular_settings,
)


def key_pair(kind: str = "rsa", bits: int = 2048) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits) if kind == "rsa" \
        else ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


PRIVATE, PUBLIC = key_pair()
SAFE = {"debug": False, "secret_key": "s" * 50, "jwt_public_key": PUBLIC, "environ": {}}
SIGNING = SAFE | {"jwt_private_key": PRIVATE, "signs_tokens": True}


def test_safe_configuration_starts():
    refuse_unsafe_production(**SAFE, webhook_secret="w", require_webhook_secret=True)
    refuse_unsafe_production(**SIGNING)


def test_an_eddsa_pair_starts_with_eddsa():
    private, public = key_pair("ed25519")
    refuse_unsafe_production(**SIGNING | {"jwt_private_key": private, "jwt_public_key": public,
                                          "jwt_algorithm": "EdDSA"})
    with pytest.raises(ImproperlyConfigured, match="not a key for RS256"):
        refuse_unsafe_production(**SAFE | {"jwt_public_key": public})


@pytest.mark.parametrize("change, problem", [
    ({"debug": True}, "DEBUG must be off"),
    ({"secret_key": DEV_SECRET_KEY}, "SECRET_KEY"),
    ({"jwt_public_key": ""}, "JWT_PUBLIC_KEY must be set"),
    ({"jwt_public_key": DEV_JWT_PUBLIC_KEY}, "JWT_PUBLIC_KEY is the development key"),
    ({"jwt_public_key": "-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----\n"}, "not a PEM key"),
    ({"jwt_public_key": key_pair(bits=1024)[1]}, "RSA key of 1024 bits; at least 2048"),
    # Billing and Execution only verify: a private key in their environment is refused.
    ({"environ": {"JWT_PRIVATE_KEY": PRIVATE}}, "JWT_PRIVATE_KEY must not reach this service"),
])
def test_unsafe_configuration_is_refused(change, problem):
    with pytest.raises(ImproperlyConfigured, match=problem):
        refuse_unsafe_production(**(SAFE | change))


@pytest.mark.parametrize("change, problem", [
    ({"jwt_private_key": ""}, "JWT_PRIVATE_KEY must be set"),
    ({"jwt_private_key": DEV_JWT_PRIVATE_KEY}, "JWT_PRIVATE_KEY is the development key"),
    ({"jwt_private_key": key_pair()[0]}, "not one pair"),
    ({"jwt_private_key": key_pair(bits=1024)[0]}, "JWT_PRIVATE_KEY is an RSA key of 1024 bits"),
])
def test_the_signing_service_needs_its_own_strong_private_key(change, problem):
    with pytest.raises(ImproperlyConfigured, match=problem):
        refuse_unsafe_production(**(SIGNING | change))


def test_only_the_signing_service_reads_the_private_key(monkeypatch):
    monkeypatch.setenv("JWT_PRIVATE_KEY", PRIVATE.replace("\n", "\\n"))  # one line, as some tools keep it
    monkeypatch.setenv("JWT_PUBLIC_KEY", PUBLIC)
    env = environ.Env()
    assert jwt_key_pair(env, signs_tokens=True) == (PRIVATE, PUBLIC)
    assert jwt_key_pair(env, signs_tokens=False) == ("", PUBLIC)


def test_development_uses_the_published_pair(monkeypatch):
    monkeypatch.delenv("JWT_PRIVATE_KEY", raising=False)
    monkeypatch.delenv("JWT_PUBLIC_KEY", raising=False)
    assert jwt_key_pair(environ.Env(), signs_tokens=False) == (DEV_JWT_PRIVATE_KEY, DEV_JWT_PUBLIC_KEY)


def test_missing_webhook_secret_is_refused_where_required():
    with pytest.raises(ImproperlyConfigured, match="MERCADOPAGO_WEBHOOK_SECRET"):
        refuse_unsafe_production(**SAFE, webhook_secret="", require_webhook_secret=True)


def test_settings_pieces():
    assert "rest_framework.authentication.SessionAuthentication" in \
        rest_framework_settings(session_auth=True)["DEFAULT_AUTHENTICATION_CLASSES"]
    assert spectacular_settings("OS", "d")["TITLE"] == "OS"


def test_static_files_are_served_right_after_the_security_middleware():
    from oficina_common.django_settings import with_static_files

    middleware = ["a.Correlation", "django.middleware.security.SecurityMiddleware", "b.Common"]
    served = with_static_files(middleware)
    assert served == ["a.Correlation", "django.middleware.security.SecurityMiddleware",
                      "whitenoise.middleware.WhiteNoiseMiddleware", "b.Common"]
    assert with_static_files(served) == served
