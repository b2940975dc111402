from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from oficina_common.auth import ADMIN, ATTENDANT, MECHANIC


class User(AbstractUser):
    """A member of the workshop's staff (a superuser without a role counts as admin).

    Customers have no user: they get tokens from their document and an order's tracking code.
    """

    class Role(models.TextChoices):
        ADMIN = ADMIN, "Administrador"
        ATTENDANT = ATTENDANT, "Atendente"
        MECHANIC = MECHANIC, "Mecânico"

    role = models.CharField(_("role"), max_length=20, choices=Role.choices, blank=True)
