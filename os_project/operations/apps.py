from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OperationsConfig(AppConfig):
    """What the operators watch: the messages every service's workers gave up on (dead letters)."""

    name = "operations"
    verbose_name = _("Operations")
