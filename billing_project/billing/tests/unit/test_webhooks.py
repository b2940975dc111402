import hashlib
import hmac

from billing.webhooks import manifest, parse_signature, sign, verify_signature

SECRET = "s3cret"


def header_for(data_id: str, request_id: str, ts: str, secret: str = SECRET) -> str:
    return f"ts={ts},v1={sign(secret, data_id, request_id, ts)}"


def test_manifest_is_mercado_pagos_template_with_the_id_lower_cased():
    assert manifest("ABC123", "req-1", "1700000000") == "id:abc123;request-id:req-1;ts:1700000000;"
    assert manifest("", "", "1") == "ts:1;"


def test_signature_is_hmac_sha256_of_the_manifest():
    expected = hmac.new(SECRET.encode(), b"id:42;request-id:r;ts:1;", hashlib.sha256).hexdigest()
    assert sign(SECRET, "42", "r", "1") == expected


def test_a_genuine_signature_is_accepted():
    header = header_for("42", "req-1", "1700000000")
    assert verify_signature(secret=SECRET, header=header, data_id="42", request_id="req-1")


def test_a_signature_with_another_secret_or_for_another_payment_is_refused():
    assert not verify_signature(secret=SECRET, header=header_for("42", "r", "1", secret="other"),
                                data_id="42", request_id="r")
    assert not verify_signature(secret=SECRET, header=header_for("42", "r", "1"), data_id="43", request_id="r")
    assert not verify_signature(secret=SECRET, header=header_for("42", "r", "1"), data_id="42", request_id="r2")


def test_missing_or_malformed_headers_are_refused():
    for header in (None, "", "v1=abc", "ts=1", "ts=abc,v1=def", "garbage"):
        assert not verify_signature(secret=SECRET, header=header, data_id="42", request_id="r")
    assert parse_signature(" ts = 1 , v1 = ABC ").v1 == "abc"


def test_no_secret_configured_accepts_nothing():
    assert not verify_signature(secret="", header=header_for("42", "r", "1", secret=""), data_id="42", request_id="r")


def test_an_old_signature_is_a_replay_when_a_tolerance_is_set():
    header = header_for("42", "r", "1700000000")
    assert verify_signature(secret=SECRET, header=header, data_id="42", request_id="r",
                            tolerance_seconds=300, now=1700000100)
    assert not verify_signature(secret=SECRET, header=header, data_id="42", request_id="r",
                                tolerance_seconds=300, now=1700009999)


def test_millisecond_timestamps_are_understood():
    header = header_for("42", "r", "1700000000000")
    assert verify_signature(secret=SECRET, header=header, data_id="42", request_id="r",
                            tolerance_seconds=300, now=1700000010)
