from django.db import models
from django.utils.translation import gettext_lazy as _

from .domain import format_document


class Customer(models.Model):
    name = models.CharField(_("name"), max_length=200)
    document = models.CharField(_("document"), max_length=14, unique=True,
                                help_text=_("CPF or CNPJ (numeric or alphanumeric), upper case, no punctuation."))
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ("name", "id")

    def __str__(self) -> str:
        return f"{self.name} ({format_document(self.document)})"


class Vehicle(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="vehicles",
                                 verbose_name=_("customer"))
    plate = models.CharField(_("plate"), max_length=7, unique=True)
    brand = models.CharField(_("brand"), max_length=60)
    model = models.CharField(_("model"), max_length=80)
    year = models.PositiveSmallIntegerField(_("year"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("vehicle")
        verbose_name_plural = _("vehicles")
        ordering = ("plate",)

    def __str__(self) -> str:
        return f"{self.plate} {self.brand} {self.model}"
