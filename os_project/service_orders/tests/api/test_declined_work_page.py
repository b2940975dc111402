"""/declined/{token}/: the reminder's link shows the declined work and books it once."""
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from catalog.models import Part, Service
from oficina_common.html_testing import by_testid, one
from service_orders.models import DeclinedWork, DeclinedWorkOffer, ServiceOrder
from service_orders.services import declined_work_remind, service_order_apply_saga_status
from service_orders.tests.conftest import budget_summary

pytestmark = pytest.mark.django_db


@pytest.fixture
def link(two_jobs, settings):
    """The customer declined job 2 (alignment and wiper blades) 31 days ago and got the e-mail."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    ServiceOrder.objects.filter(pk=two_jobs.pk).update(status="AWAITING_APPROVAL")
    service_order_apply_saga_status(service_order_id=two_jobs.pk, to="AWAITING_PAYMENT", reason="",
                                    summary={"budget": budget_summary(two_jobs, declined=(3, 4))})
    assert declined_work_remind(now=timezone.now() + timedelta(days=31)) == 1
    return re.search(r"http://os\.test(/declined/[A-Za-z0-9_-]+/)", mail.outbox[-1].body).group(1)


@pytest.fixture
def browser():
    return Client(enforce_csrf_checks=True)


def book(browser, link):
    """What the customer's phone does: open the page, tap "Quero agendar" (with the form's CSRF token)."""
    html = browser.get(link).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    return browser.post(link, {"csrfmiddlewaretoken": token})


def test_the_page_shows_the_declined_work_and_the_button(browser, link, two_jobs):
    response = browser.get(link)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert [line.text.split("R$") for line in by_testid(html, "declined-line")] == [
        ["1× Alinhamento", " 90,00"], ["2× Palheta do limpador", " 90,00"]]
    assert one(html, "come-back").text == "Quero agendar"
    assert two_jobs.number in html and "Maria da Silva" not in html and two_jobs.vehicle.plate not in html
    assert response["Cache-Control"].startswith("max-age=0") or "no-cache" in response["Cache-Control"]


def test_booking_opens_one_order_pre_filled_with_the_declined_work(browser, link, two_jobs, alignment, wiper):
    Service.objects.filter(pk=alignment.pk).update(price=Decimal("99.00"))  # today's price, not the old one
    response = book(browser, link)
    assert response.status_code == 302 and response["Location"] == link

    new = ServiceOrder.objects.exclude(pk=two_jobs.pk).get()
    assert (new.status, new.customer_id, new.vehicle_id) == ("RECEIVED", two_jobs.customer_id, two_jobs.vehicle_id)
    assert new.complaint == f"Retorno de serviços recusados na OS {two_jobs.number}"
    assert new.created_by == "customer:declined-work-link"
    assert [(i.kind, i.catalog_id, i.quantity, i.unit_price_cents, i.job, i.optional, i.line_id)
            for i in new.items.order_by("line_id")] == [
        ("service", alignment.pk, 1, 9900, 2, False, 1), ("part", wiper.pk, 2, 4500, 2, True, 2)]
    assert set(DeclinedWork.objects.values_list("came_back_in", flat=True)) == {new.pk}
    assert DeclinedWorkOffer.objects.get().new_order == new

    html = browser.get(link).content.decode()
    assert new.number in one(html, "come-back-done").text
    assert one(html, "new-order-link")["href"] == f"http://os.test/track/{new.tracking_code}/"
    assert by_testid(html, "come-back-form") == []


def test_booking_again_opens_nothing_more(browser, link, two_jobs):
    book(browser, link)
    again = browser.post(link, {"csrfmiddlewaretoken": browser.cookies["csrftoken"].value})
    assert again.status_code == 302
    assert ServiceOrder.objects.count() == 2


def test_what_left_the_catalogue_is_left_out_and_named(browser, link, two_jobs, wiper):
    Part.objects.filter(pk=wiper.pk).update(active=False)
    book(browser, link)
    new = ServiceOrder.objects.exclude(pk=two_jobs.pk).get()
    assert [i.description for i in new.items.all()] == ["Alinhamento"]
    assert "Fora do catálogo hoje" in new.complaint and "Palheta do limpador" in new.complaint


def test_a_post_without_the_csrf_token_is_refused(browser, link):
    assert browser.post(link).status_code == 403
    assert ServiceOrder.objects.count() == 1


@pytest.mark.parametrize("path", ["/declined/not-a-token/", "/declined/" + "x" * 80 + "/", "/declined/a%00b/"])
def test_an_unknown_link_is_a_page_in_portuguese(browser, link, path):
    for response in (browser.get(path), Client().post(path)):
        assert response.status_code == 404
        assert "Não encontramos este link" in response.content.decode()


def test_an_expired_link_is_a_410_page_and_books_nothing(link, two_jobs):
    DeclinedWorkOffer.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    browser = Client()
    response = browser.get(link)
    assert response.status_code == 410 and "Este link expirou" in response.content.decode()
    assert browser.post(link).status_code == 410
    assert ServiceOrder.objects.count() == 1


def test_a_vehicle_that_changed_hands_is_a_page_that_sends_the_customer_to_the_workshop(browser, link, two_jobs):
    from customers.models import Vehicle
    from customers.services import customer_create

    other = customer_create(name="João Souza", document="111.444.777-35", email="joao@example.com")
    Vehicle.objects.filter(pk=two_jobs.vehicle_id).update(customer=other)
    response = book(browser, link)
    assert response.status_code == 409 and "fale com a oficina" in response.content.decode().lower()
    assert ServiceOrder.objects.count() == 1
