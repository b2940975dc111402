from django.db import models

from .domain import format_document


class Customer(models.Model):
    name = models.CharField(max_length=200)
    document = models.CharField(max_length=14, unique=True,
                                help_text="CPF or CNPJ (numeric or alphanumeric), upper case, no punctuation.")
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=30, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name", "id")

    def __str__(self) -> str:
        return f"{self.name} ({format_document(self.document)})"


class Vehicle(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="vehicles")
    plate = models.CharField(max_length=7, unique=True)
    brand = models.CharField(max_length=60)
    model = models.CharField(max_length=80)
    year = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("plate",)

    def __str__(self) -> str:
        return f"{self.plate} {self.brand} {self.model}"
