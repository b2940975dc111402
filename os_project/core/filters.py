import django_filters
from django import forms


class IdFilter(django_filters.Filter):
    """An integer id in the query string: ``1.5`` or ``abc`` is a 400, not a near match."""

    field_class = forms.IntegerField
