"""Production: the same settings, refusing to start with DEBUG on, development secrets or no webhook secret."""
import environ

from oficina_common.django_settings import refuse_unsafe_production, with_static_files

from .settings import *  # noqa: F403
from .settings import JWT_ALGORITHM, JWT_PUBLIC_KEY, MERCADOPAGO_WEBHOOK_SECRET, SECRET_KEY

_env = environ.Env()

DEBUG = _env.bool("DEBUG", default=False)
LOGGING = logging_config("billing", level=_env("LOG_LEVEL", default="INFO"), json=True)  # noqa: F405
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_SSL_REDIRECT = _env.bool("SECURE_SSL_REDIRECT", default=False)  # the load balancer redirects
SECURE_HSTS_SECONDS = _env.int("SECURE_HSTS_SECONDS", default=31536000)
MIDDLEWARE = with_static_files(MIDDLEWARE)  # noqa: F405  (Swagger UI's files, collected at build time)

refuse_unsafe_production(debug=DEBUG, secret_key=SECRET_KEY, jwt_public_key=JWT_PUBLIC_KEY, jwt_algorithm=JWT_ALGORITHM,
                         webhook_secret=MERCADOPAGO_WEBHOOK_SECRET, require_webhook_secret=True)
