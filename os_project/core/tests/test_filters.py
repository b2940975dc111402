"""core.filters.FilterSet: the form class is made once per FilterSet class, and each request still gets
its own form, fields and errors."""
from service_orders.models import ServiceOrder
from service_orders.selectors import ServiceOrderFilter


def test_the_form_class_is_made_once_and_each_filterset_gets_its_own_form_and_fields():
    good = ServiceOrderFilter({"updated_after": "2026-01-01T00:00:00+00:00", "status": ["FINISHED"]},
                              queryset=ServiceOrder.objects.none())
    bad = ServiceOrderFilter({"updated_after": "yesterday", "customer_id": "1.5"}, queryset=ServiceOrder.objects.none())

    assert type(good.form) is type(bad.form) is ServiceOrderFilter.get_form_class(good)
    assert good.form is not bad.form
    assert good.is_valid() and not bad.is_valid()
    assert set(bad.form.errors) == {"updated_after", "customer_id"} and not good.form.errors
    assert good.form.cleaned_data["status"] == ["FINISHED"]
    # The class's own fields are never the ones a form validates with (Django copies them into each form).
    for name, field in type(good.form).base_fields.items():
        assert good.form.fields[name] is not field and bad.form.fields[name] is not good.form.fields[name]


def test_each_filterset_class_has_its_own_form_class():
    from customers.selectors import CustomerFilter

    assert set(CustomerFilter._form_class().base_fields) != set(ServiceOrderFilter._form_class().base_fields)
    assert CustomerFilter._form_class() is CustomerFilter._form_class()
