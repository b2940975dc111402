"""The project's admin site: Django's, plus the staff dashboard linked from its index."""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.urls import path
from django.utils.translation import gettext_lazy as _


class OficinaAdminSite(admin.AdminSite):
    site_header = _("Oficina administration")
    site_title = _("Oficina admin")
    index_template = "admin/oficina_index.html"

    def get_urls(self) -> list[Any]:
        from .views import dashboard_view

        return [path("dashboard/", self.admin_view(dashboard_view), name="dashboard"), *super().get_urls()]


class OficinaAdminConfig(AdminConfig):
    """Replaces ``django.contrib.admin`` in INSTALLED_APPS so ``admin.site`` is :class:`OficinaAdminSite`."""

    default_site = "dashboard.site.OficinaAdminSite"
