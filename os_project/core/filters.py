import copy
import functools

import django_filters
from django import forms
from django.core.exceptions import ValidationError


class FilterSet(django_filters.FilterSet):
    """django-filter's FilterSet, with its form class made once per class instead of at every
    request: the fields a form class holds are copied into each form made from it (as any Django
    form's are), and these filters' fields depend on nothing of the request. Building it (a field
    and a label per filter) was a twentieth of the CPU of a request for the order list, the one a
    screen kept in sync asks for ten times a second."""

    @classmethod
    @functools.cache
    def _form_class(cls) -> type[forms.Form]:
        # From a copy: a field left on the class's own filters would be deep-copied with them at every request.
        fields = {name: filter_.field for name, filter_ in copy.deepcopy(cls.base_filters).items()}
        return type(f"{cls.__name__}Form", (cls._meta.form,), fields)

    def get_form_class(self) -> type[forms.Form]:
        return self._form_class()


class _NotBlank:
    """A filter given with no value (``?updated_after=``) is refused, as the schema says (a date-time,
    an id, a boolean), instead of being read as no filter."""

    def clean(self, value):  # noqa: ANN001, ANN201 - Django's form field API
        if value == "":
            raise ValidationError("Give a value, or leave the filter out.", code="blank")
        return super().clean(value)


class _IdField(_NotBlank, forms.IntegerField):
    pass


class IdFilter(django_filters.Filter):
    """An integer id in the query string: ``1.5``, ``abc`` or nothing is a 400, not a near match."""

    field_class = _IdField


class _BooleanField(forms.Field):
    widget = forms.TextInput  # the text as sent: NullBooleanSelect would read "null" or "yes" as no filter

    def to_python(self, value: str | None) -> bool | None:
        if value is None:
            return None
        if value not in ("true", "false"):
            raise ValidationError("true or false.", code="invalid")
        return value == "true"


class BooleanFilter(django_filters.BooleanFilter):
    """``true`` or ``false``; anything else (``null``, ``1``, nothing) is a 400, not the whole list."""

    field_class = _BooleanField


class _IsoDateTimeField(_NotBlank, django_filters.fields.IsoDateTimeField):
    pass


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = _IsoDateTimeField
