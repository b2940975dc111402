import re

import pytest
from django.urls import reverse

from catalog.models import Part, StockEntry
from messaging.models import OutboxMessage
from oficina_common.html_testing import by_testid, one
from service_orders.models import ServiceOrder, StatusHistory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user("root", "", is_superuser=True, is_staff=True))
    return client


@pytest.mark.parametrize("model", ["customers/customer", "customers/vehicle", "catalog/service", "catalog/part",
                                   "catalog/stockentry", "service_orders/serviceorder",
                                   "service_orders/statushistory", "messaging/outboxmessage",
                                   "messaging/processedmessage", "accounts/user"])
def test_every_admin_list_opens_with_search(admin_client, diagnosed_order, model):
    assert admin_client.get(f"/admin/{model}/", {"q": "a"}).status_code == 200


def test_an_order_page_shows_items_and_read_only_history(admin_client, diagnosed_order):
    page = admin_client.get(reverse("admin:service_orders_serviceorder_change", args=[diagnosed_order.pk]))
    assert page.status_code == 200
    content = page.content.decode()
    assert "Filtro de óleo" in content and "IN_DIAGNOSIS" in content or "Em diagnóstico" in content
    history = StatusHistory.objects.filter(service_order=diagnosed_order).first()
    url = reverse("admin:service_orders_statushistory_change", args=[history.pk])
    response = admin_client.post(url, {"reason": "rewritten"})
    assert response.status_code == 403 or StatusHistory.objects.get(pk=history.pk).reason != "rewritten"


def test_cancelling_several_orders_in_the_admin_asks_for_the_reason_first(admin_client, diagnosed_order, order):
    changelist = reverse("admin:service_orders_serviceorder_changelist")
    first = admin_client.post(changelist, {"action": "cancel", "_selected_action": [str(diagnosed_order.pk)]})
    assert first.status_code == 200 and "Motivo" in first.content.decode()
    assert [e.text for e in by_testid(first.content)["order-to-cancel"]][0].startswith(diagnosed_order.number)
    assert ServiceOrder.objects.get(pk=diagnosed_order.pk).status == "IN_DIAGNOSIS"  # nothing yet

    blank = admin_client.post(changelist, {"action": "cancel", "_selected_action": [str(diagnosed_order.pk)],
                                           "apply": "1", "reason": "  "})
    assert "Este campo é obrigatório." in blank.content.decode()
    assert ServiceOrder.objects.get(pk=diagnosed_order.pk).status == "IN_DIAGNOSIS"

    response = admin_client.post(changelist, {"action": "cancel", "_selected_action": [str(diagnosed_order.pk)],
                                              "apply": "1", "reason": "Cliente desistiu"}, follow=True)
    assert "1 ordem cancelada." in response.content.decode()
    diagnosed_order.refresh_from_db()
    assert diagnosed_order.status == "CANCELLED"
    last = StatusHistory.objects.filter(service_order=diagnosed_order).last()
    assert (last.to_status, last.by, last.reason) == ("CANCELLED", "root", "Cliente desistiu")
    message = OutboxMessage.objects.get(type="os.OrderCancelled")
    assert message.envelope["payload"] == {"reason": "Cliente desistiu", "cancelled_by": "root"}
    assert message.saga_id == str(diagnosed_order.saga_id)


def test_the_change_page_cancels_with_a_reason(admin_client, diagnosed_order):
    change = reverse("admin:service_orders_serviceorder_change", args=[diagnosed_order.pk])
    cancel = reverse("admin:service_orders_serviceorder_cancel", args=[diagnosed_order.pk])
    assert one(admin_client.get(change).content, "cancel-order")["href"] == cancel
    form = admin_client.get(cancel)
    assert form.status_code == 200 and 'name="reason"' in form.content.decode()

    response = admin_client.post(cancel, {"reason": "Peça indisponível no fornecedor"})
    assert response.status_code == 302 and response["Location"] == change
    diagnosed_order.refresh_from_db()
    assert diagnosed_order.status == "CANCELLED"
    assert diagnosed_order.status_history.last().reason == "Peça indisponível no fornecedor"
    outbox = OutboxMessage.objects.get(type="os.OrderCancelled")
    assert outbox.envelope["payload"]["reason"] == "Peça indisponível no fornecedor"
    assert outbox.envelope["service_order_id"] == str(diagnosed_order.pk)
    assert "cancel-order" not in by_testid(admin_client.get(change).content)  # nothing left to cancel

    admin_client.post(cancel, {"reason": "de novo"}, follow=True)  # asked again: nothing changes
    assert diagnosed_order.status_history.last().reason == "Peça indisponível no fornecedor"
    assert OutboxMessage.objects.filter(type="os.OrderCancelled").count() == 1


def test_an_order_without_a_saga_is_cancelled_without_a_message(admin_client, order):
    cancel = reverse("admin:service_orders_serviceorder_cancel", args=[order.pk])
    assert admin_client.post(cancel, {"reason": "Cliente não veio"}).status_code == 302
    assert ServiceOrder.objects.get(pk=order.pk).status == "CANCELLED"
    assert not OutboxMessage.objects.filter(type="os.OrderCancelled").exists()
    missing = reverse("admin:service_orders_serviceorder_cancel", args=["00000000-0000-0000-0000-000000000000"])
    assert admin_client.get(missing).status_code == 302


def test_a_mechanic_may_not_cancel_in_the_admin(client, make_user, diagnosed_order):
    from django.contrib.auth.models import Permission

    mechanic = make_user("mario2", "mechanic", is_staff=True)
    mechanic.user_permissions.set(Permission.objects.filter(codename__in=["view_serviceorder",
                                                                           "change_serviceorder"]))
    client.force_login(mechanic)
    change = reverse("admin:service_orders_serviceorder_change", args=[diagnosed_order.pk])
    assert client.get(change).status_code == 200
    assert "cancel-order" not in by_testid(client.get(change).content)
    cancel = reverse("admin:service_orders_serviceorder_cancel", args=[diagnosed_order.pk])
    assert client.post(cancel, {"reason": "x"}).status_code == 403
    response = client.post(reverse("admin:service_orders_serviceorder_changelist"), {
        "action": "cancel", "_selected_action": [str(diagnosed_order.pk)], "apply": "1", "reason": "x"}, follow=True)
    assert "Só administradores e atendentes podem cancelar ordens." in response.content.decode()
    assert ServiceOrder.objects.get(pk=diagnosed_order.pk).status == "IN_DIAGNOSIS"


def test_the_order_page_shows_the_saga_progress_readably(admin_client, diagnosed_order):
    from service_orders.services import service_order_apply_saga_status

    change = reverse("admin:service_orders_serviceorder_change", args=[diagnosed_order.pk])
    assert "Ainda sem notícias da saga" in admin_client.get(change).content.decode()
    service_order_apply_saga_status(service_order_id=diagnosed_order.pk, to="AWAITING_APPROVAL", summary={
        "budget": {"budget_id": "bud-1", "version": 2, "status": "PENDING_APPROVAL", "total_cents": 123456},
        "payment": {"payment_id": "pay-9", "status": "PENDING", "amount_cents": 99900, "qr_code": "000201",
                    "init_point": None},
        "execution": {"execution_id": "exe-3", "status": "IN_PROGRESS", "current_step": "await_approval"}})
    html = admin_client.get(change).content.decode()
    cells = dict(re.findall(r'data-saga="([a-z-]+)">([^<]*)<', html))
    assert cells == {
        "budget-status": "PENDING_APPROVAL (Aguardando sua aprovação)", "budget-total": "R$ 1.234,56",
        "budget-version-id": "v2 · bud-1",
        "payment-status": "PENDING (Aguardando pagamento)", "payment-amount": "R$ 999,00", "payment-id": "pay-9",
        "payment-pix-code": "sim", "payment-checkout-link": "—", "payment-payment-page": "—",
        "execution-saga-status": "IN_PROGRESS", "execution-current-step": "await_approval",
        "execution-id": "exe-3"}
    assert f"/track/{diagnosed_order.tracking_code}/" in html

    service_order_apply_saga_status(service_order_id=diagnosed_order.pk, to="AWAITING_APPROVAL", summary={
        "execution": {"execution_id": "exe-3", "status": "FAILED", "current_step": "await_approval"}})
    cells = dict(re.findall(r'data-saga="([a-z-]+)">([^<]*)<', admin_client.get(change).content.decode()))
    assert "POST /api/v1/executions/exe-3/retry/" in cells["execution-what-to-do"]


def test_the_order_page_links_billings_payment_page_and_no_other_kind_of_link(admin_client, diagnosed_order):
    from service_orders.services import service_order_apply_saga_status

    change = reverse("admin:service_orders_serviceorder_change", args=[diagnosed_order.pk])
    page_url = "https://billing.test/budgets/b-1/v1/payment/?t=signed&v=1"
    service_order_apply_saga_status(service_order_id=diagnosed_order.pk, to="AWAITING_PAYMENT", summary={
        "payment": {"status": "REQUESTED", "amount_cents": 15550, "payment_url": page_url}})
    html = admin_client.get(change).content.decode()
    assert "página de pagamento" in html
    [cell] = re.findall(r'data-saga="payment-payment-page">(.*?)</td>', html)
    assert cell == ('<a href="https://billing.test/budgets/b-1/v1/payment/?t=signed&amp;v=1" target="_blank" '
                    'rel="noopener noreferrer">https://billing.test/budgets/b-1/v1/payment/?t=signed&amp;v=1</a>')
    assert "REQUESTED (Aguardando pagamento)" in html

    service_order_apply_saga_status(service_order_id=diagnosed_order.pk, to="AWAITING_PAYMENT", summary={
        "payment": {"payment_url": "javascript:alert(1)"}})
    html = admin_client.get(change).content.decode()
    assert re.findall(r'data-saga="payment-payment-page">(.*?)</td>', html) == ["—"]


def test_admin_actions_report_illegal_moves(admin_client, order):
    response = admin_client.post(reverse("admin:service_orders_serviceorder_changelist"), {
        "action": "deliver", "_selected_action": [str(order.pk)]}, follow=True)
    assert "cannot go from RECEIVED to DELIVERED" in response.content.decode()
    admin_client.post(reverse("admin:service_orders_serviceorder_changelist"), {
        "action": "start_diagnosis", "_selected_action": [str(order.pk)]})
    assert ServiceOrder.objects.get(pk=order.pk).status == "IN_DIAGNOSIS"


def test_an_order_opened_in_the_admin_gets_a_number_and_a_history(admin_client, customer, vehicle):
    response = admin_client.post(reverse("admin:service_orders_serviceorder_add"), {
        "customer": customer.pk, "vehicle": vehicle.pk, "complaint": "Barulho", "priority": 4,
        "items-TOTAL_FORMS": 0, "items-INITIAL_FORMS": 0,
        "status_history-TOTAL_FORMS": 0, "status_history-INITIAL_FORMS": 0})
    assert response.status_code == 302, response.content.decode()[:3000]
    order = ServiceOrder.objects.get()
    assert order.number.startswith("OS-") and order.priority == 4 and order.created_by == "root"
    assert order.status_history.get().to_status == "RECEIVED"


def test_editing_an_order_in_the_admin_changes_only_complaint_and_priority(admin_client, order):
    response = admin_client.post(reverse("admin:service_orders_serviceorder_change", args=[order.pk]), {
        "complaint": "Outro barulho", "priority": 5, "items-TOTAL_FORMS": 0, "items-INITIAL_FORMS": 0,
        "status_history-TOTAL_FORMS": 1, "status_history-INITIAL_FORMS": 1,
        "status_history-0-id": order.status_history.get().pk, "status_history-0-service_order": order.pk})
    assert response.status_code == 302, response.content.decode()[:3000]
    order.refresh_from_db()
    assert (order.complaint, order.priority, order.status) == ("Outro barulho", 5, "RECEIVED")


def test_low_stock_filter_in_the_admin(admin_client, oil_filter):
    Part.objects.filter(pk=oil_filter.pk).update(quantity_reserved=4)
    low = admin_client.get(reverse("admin:catalog_part_changelist"), {"stock": "low"}).content.decode()
    ok = admin_client.get(reverse("admin:catalog_part_changelist"), {"stock": "ok"}).content.decode()
    assert "FILTRO-OLEO" in low and "FILTRO-OLEO" not in ok


def test_stock_received_in_the_admin_goes_through_the_services(admin_client, oil_filter):
    response = admin_client.post(reverse("admin:catalog_stockentry_add"),
                                 {"part": oil_filter.pk, "quantity": 7, "note": "NF 9"})
    assert response.status_code == 302
    assert Part.objects.get(pk=oil_filter.pk).quantity_in_stock == 12
    assert StockEntry.objects.filter(note="NF 9", created_by="root").exists()


def test_an_invalid_document_is_refused_in_the_admin(admin_client):
    response = admin_client.post(reverse("admin:customers_customer_add"), {
        "name": "X", "document": "123", "email": "", "phone": "",
        "vehicles-TOTAL_FORMS": 1, "vehicles-INITIAL_FORMS": 0,
        "vehicles-0-plate": "bad", "vehicles-0-brand": "VW", "vehicles-0-model": "Gol", "vehicles-0-year": 2000})
    content = response.content.decode()
    assert response.status_code == 200 and "CPF (11 digits)" in content and "ABC1234" in content


def test_a_customer_is_added_in_the_admin_with_normalized_data(admin_client):
    response = admin_client.post(reverse("admin:customers_customer_add"), {
        "name": "Maria", "document": "529.982.247-25", "email": "", "phone": "",
        "vehicles-TOTAL_FORMS": 1, "vehicles-INITIAL_FORMS": 0,
        "vehicles-0-plate": "abc-1234", "vehicles-0-brand": "VW", "vehicles-0-model": "Gol", "vehicles-0-year": 2000})
    assert response.status_code == 302
    from customers.models import Customer

    customer = Customer.objects.get()
    assert customer.document == "52998224725" and customer.vehicles.get().plate == "ABC1234"


def test_the_outbox_can_be_relayed_from_the_admin(admin_client, diagnosed_order, published):
    response = admin_client.post(reverse("admin:messaging_outboxmessage_changelist"), {
        "action": "relay_now", "_selected_action": [str(OutboxMessage.objects.get().pk)]}, follow=True)
    assert "1 mensagem publicada." in response.content.decode()
    assert published.types() == ["os.DiagnosisCompleted"]
    assert admin_client.get(reverse("admin:messaging_outboxmessage_changelist"), {"published": "no"}).status_code == 200
