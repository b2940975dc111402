from __future__ import annotations

from django import forms
from django.contrib import admin

from oficina_common.errors import ValidationFailed

from .domain import normalize_document, normalize_plate
from .models import Customer, Vehicle


class CustomerAdminForm(forms.ModelForm):
    document = forms.CharField(max_length=20, help_text="CPF or CNPJ, with or without punctuation.")

    class Meta:
        model = Customer
        fields = ("name", "document", "email", "phone")

    def clean_document(self) -> str:
        try:
            return normalize_document(self.cleaned_data["document"])
        except ValidationFailed as exc:
            raise forms.ValidationError(exc.message) from exc


class VehicleAdminForm(forms.ModelForm):
    plate = forms.CharField(max_length=10, help_text="ABC1234 or Mercosul ABC1D23.")

    class Meta:
        model = Vehicle
        fields = ("customer", "plate", "brand", "model", "year")

    def clean_plate(self) -> str:
        try:
            return normalize_plate(self.cleaned_data["plate"])
        except ValidationFailed as exc:
            raise forms.ValidationError(exc.message) from exc


class VehicleInline(admin.TabularInline):
    model = Vehicle
    form = VehicleAdminForm
    extra = 0


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    form = CustomerAdminForm
    list_display = ("name", "document", "email", "phone", "created_at")
    search_fields = ("name", "document", "email", "phone", "vehicles__plate")
    list_filter = ("created_at",)
    inlines = (VehicleInline,)


@admin.register(Vehicle)
class VehicleAdmin(admin.ModelAdmin):
    form = VehicleAdminForm
    list_display = ("plate", "brand", "model", "year", "customer")
    search_fields = ("plate", "brand", "model", "customer__name", "customer__document")
    list_filter = ("brand", "year")
    list_select_related = ("customer",)
    autocomplete_fields = ("customer",)
