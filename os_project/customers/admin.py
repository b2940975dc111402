from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from oficina_common.errors import ValidationFailed

from .domain import CNPJ_LENGTH, CPF_LENGTH, clean_document, format_document, normalize_document, normalize_plate
from .models import Customer, Vehicle


class DocumentSearchMixin:
    """The admin's search also finds a customer by a CPF/CNPJ typed with punctuation or in lower case
    (``12.abc.345/01de-35``), which the plain text search cannot match against the stored form."""

    document_lookup = "document"

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)  # type: ignore[misc]
        document = clean_document(search_term)
        if len(document) in (CPF_LENGTH, CNPJ_LENGTH) and document.isalnum():
            results |= queryset.filter(**{self.document_lookup: document})
        return results, may_have_duplicates


class CustomerAdminForm(forms.ModelForm):
    document = forms.CharField(label=_("document"), max_length=20,
                               help_text=_("CPF or CNPJ (numeric or alphanumeric), with or without punctuation."))

    class Meta:
        model = Customer
        fields = ("name", "document", "email", "phone")

    def clean_document(self) -> str:
        try:
            return normalize_document(self.cleaned_data["document"])
        except ValidationFailed as exc:
            raise forms.ValidationError(exc.message) from exc


class VehicleAdminForm(forms.ModelForm):
    plate = forms.CharField(label=_("plate"), max_length=10, help_text=_("ABC1234 or Mercosul ABC1D23."))

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
class CustomerAdmin(DocumentSearchMixin, admin.ModelAdmin):
    form = CustomerAdminForm
    list_display = ("name", "formatted_document", "email", "phone", "created_at")
    search_fields = ("name", "document", "email", "phone", "vehicles__plate")
    list_filter = ("created_at",)
    inlines = (VehicleInline,)

    @admin.display(description=_("document"), ordering="document")
    def formatted_document(self, customer: Customer) -> str:
        return format_document(customer.document)


@admin.register(Vehicle)
class VehicleAdmin(DocumentSearchMixin, admin.ModelAdmin):
    form = VehicleAdminForm
    document_lookup = "customer__document"
    list_display = ("plate", "brand", "model", "year", "customer")
    search_fields = ("plate", "brand", "model", "customer__name", "customer__document")
    list_filter = ("brand", "year")
    list_select_related = ("customer",)
    autocomplete_fields = ("customer",)
