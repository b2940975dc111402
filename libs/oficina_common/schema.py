"""OpenAPI description of the shared JWT authentication (drf-spectacular knows only simplejwt's own).

Importing this module registers the extension: each service imports it once (urls or AppConfig.ready).
"""
from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class OficinaJWTScheme(SimpleJWTScheme):
    target_class = "oficina_common.authentication.JWTAuthentication"
    name = "jwtAuth"

    def get_security_requirement(self, auto_schema: Any) -> None:
        return None  # SPECTACULAR_SETTINGS["SECURITY"] already names jwtAuth for every operation
