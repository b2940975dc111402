"""Production: the development settings, hardened, refusing to start with unsafe values."""
from oficina_common.django_settings import refuse_unsafe_production, with_static_files

from .settings import *  # noqa: F403
from .settings import env

DJANGO_ENV = "production"
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
# Health probes and Prometheus' scrapes come over plain HTTP from inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
MIDDLEWARE = with_static_files(MIDDLEWARE)  # noqa: F405
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
LOG_JSON = True
LOGGING = logging_config("os", level=env("LOG_LEVEL", default="INFO"), json=True)  # noqa: F405

refuse_unsafe_production(debug=DEBUG, secret_key=SECRET_KEY, jwt_public_key=JWT_PUBLIC_KEY,  # noqa: F405
                         jwt_private_key=JWT_PRIVATE_KEY, signs_tokens=True, jwt_algorithm=JWT_ALGORITHM)  # noqa: F405
