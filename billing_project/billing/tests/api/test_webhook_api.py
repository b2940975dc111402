"""The webhook endpoint alone: it checks, queues and answers; it never changes state itself."""
import json
import threading
import time
import uuid

import pytest

from billing.dependencies import CreatedPayments
from billing.tests.support import WEBHOOK_SECRET
from billing.webhooks import sign

URL = "/api/v1/webhooks/mercadopago/"


def post(client, data_id="12345", *, secret=WEBHOOK_SECRET, request_id=None, topic="payment", body=None,
         signature=None, signed_id=None):
    request_id = request_id or str(uuid.uuid4())
    ts = str(int(time.time()))
    if signature is None:
        signature = f"ts={ts},v1={sign(secret, signed_id or data_id, request_id, ts)}"
    raw = body if body is not None else json.dumps({"action": "payment.updated", "data": {"id": data_id}})
    return client.generic("POST", f"{URL}?data.id={data_id}&type={topic}", raw, content_type="application/json",
                          HTTP_X_SIGNATURE=signature, HTTP_X_REQUEST_ID=request_id)


def test_a_signed_notification_is_queued_and_answered_at_once(client, real):
    response = post(client, "12345", request_id="req-1")
    assert response.status_code == 200 and response.json() == {"status": "accepted"}
    assert real.notifications == [("12345", "req-1")]


def test_the_signed_id_is_the_query_strings_and_case_does_not_matter(client, real):
    assert post(client, "ABC123", signed_id="abc123").status_code == 200


@pytest.mark.parametrize("kwargs", [
    {"secret": "wrong-secret"},
    {"signature": ""},
    {"signature": "ts=1700000000"},
    {"signature": "v1=abcdef"},
    {"signature": "garbage"},
    {"signed_id": "99999"},
])
def test_forged_or_missing_signatures_are_401_and_nothing_is_queued(client, real, kwargs):
    response = post(client, "12345", **kwargs)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_signature"
    assert real.notifications == []


def test_a_replayed_signature_is_refused(client, real):
    request_id, ts = "req-old", str(int(time.time()) - 7200)
    header = f"ts={ts},v1={sign(WEBHOOK_SECRET, '12345', request_id, ts)}"
    assert post(client, "12345", request_id=request_id, signature=header).status_code == 401
    assert real.notifications == []


def test_other_topics_are_ignored(client, real):
    response = post(client, "12345", topic="merchant_order", signature="")
    assert response.status_code == 200 and response.json() == {"status": "ignored"}
    assert real.notifications == []


def test_the_id_may_come_only_in_the_body(client, real):
    request_id, ts = "req-2", str(int(time.time()))
    response = client.post(URL, {"type": "payment", "data": {"id": "777"}}, format="json",
                           HTTP_X_SIGNATURE=f"ts={ts},v1={sign(WEBHOOK_SECRET, '777', request_id, ts)}",
                           HTTP_X_REQUEST_ID=request_id)
    assert response.status_code == 200 and real.notifications == [("777", "req-2")]


def test_malformed_notifications_are_400(client, real):
    assert post(client, "../../etc").status_code == 400  # well signed, but no Mercado Pago id
    assert post(client, "1", body="{not json").status_code == 400
    assert real.notifications == []


def test_a_jwt_is_not_needed_and_a_bad_one_does_not_matter(client, real):
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    assert post(client, "12345").status_code == 200


def test_when_the_broker_is_down_mercado_pago_is_told_to_retry(client, real):
    def broken(mp_id, request_id):
        raise ConnectionError("redis down")

    real.deps.enqueue_notification = broken
    response = post(client, "12345")
    assert response.status_code == 503 and response.json()["code"] == "upstream_unavailable"


def created(client, data_id, request_id="req-c"):
    return post(client, data_id, request_id=request_id,
                body=json.dumps({"action": "payment.created", "type": "payment", "data": {"id": data_id}}))


def test_the_creation_of_a_payment_billing_created_and_recorded_queues_nothing(client, real):
    real.deps.created_payments.remember("555")
    response = created(client, "555")
    assert response.status_code == 200 and response.json() == {"status": "accepted"}
    assert real.notifications == []
    # Every later change of it comes as payment.updated: read, as always.
    assert post(client, "555", request_id="req-u").status_code == 200
    assert real.notifications == [("555", "req-u")]


def test_the_creation_of_a_payment_billing_did_not_create_is_read(client, real):
    """A checkout payment is created at Mercado Pago by the customer: its creation is news."""
    assert created(client, "556").status_code == 200
    assert real.notifications == [("556", "req-c")]


def test_a_forged_creation_notice_is_refused_even_for_a_marked_payment(client, real):
    real.deps.created_payments.remember("557")
    response = post(client, "557", secret="wrong-secret",
                    body=json.dumps({"action": "payment.created", "data": {"id": "557"}}))
    assert response.status_code == 401 and real.notifications == []


def test_without_the_cache_every_creation_notice_is_read(client, real):
    class Down:
        def get(self, *args, **kwargs):
            raise ConnectionError("redis down")

        set = get

    real.deps.created_payments = CreatedPayments(cache=Down())
    real.deps.created_payments.remember("558")  # lost, and said so in the log
    assert created(client, "558").status_code == 200
    assert real.notifications == [("558", "req-c")]


def test_a_creation_notice_that_overtakes_its_creators_marker_waits_a_moment_for_it(client, real):
    """Mercado Pago notifies the creation as it answers the worker that asked: the marker follows."""
    marker = threading.Timer(0.05, real.deps.created_payments.remember, args=["559"])
    marker.start()
    assert created(client, "559").status_code == 200
    marker.join()
    assert real.notifications == []
