from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from .models import User


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    list_display = ("username", "first_name", "last_name", "email", "role", "is_staff", "is_active")
    list_filter = ("role", "is_staff", "is_superuser", "is_active")
    fieldsets = (*UserAdmin.fieldsets, (_("Workshop"), {"fields": ("role",)}))
    add_fieldsets = (*UserAdmin.add_fieldsets, (_("Workshop"), {"fields": ("role",)}))
