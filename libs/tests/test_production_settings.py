import pytest
from django.core.exceptions import ImproperlyConfigured

from oficina_common.django_settings import (
    DEV_JWT_SIGNING_KEY,
    DEV_SECRET_KEY,
    refuse_unsafe_production,
    rest_framework_settings,
    spectacular_settings,
)

SAFE = {"debug": False, "secret_key": "s" * 50, "jwt_signing_key": "j" * 50}


def test_safe_configuration_starts():
    refuse_unsafe_production(**SAFE, webhook_secret="w", require_webhook_secret=True)


@pytest.mark.parametrize("change, problem", [
    ({"debug": True}, "DEBUG must be off"),
    ({"secret_key": DEV_SECRET_KEY}, "SECRET_KEY"),
    ({"jwt_signing_key": DEV_JWT_SIGNING_KEY}, "JWT_SIGNING_KEY"),
    ({"jwt_signing_key": ""}, "JWT_SIGNING_KEY"),
])
def test_unsafe_configuration_is_refused(change, problem):
    with pytest.raises(ImproperlyConfigured, match=problem):
        refuse_unsafe_production(**(SAFE | change))


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
