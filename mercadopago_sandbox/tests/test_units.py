"""Signing, Pix codes, configuration, persistence and the command line."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from decimal import Decimal

import pytest

from mercadopago_sandbox import __main__ as cli
from mercadopago_sandbox import create_app
from mercadopago_sandbox.config import SandboxConfig
from mercadopago_sandbox.notifier import RetryPolicy, notification_target
from mercadopago_sandbox.pix import crc16_ccitt, pix_copy_paste
from mercadopago_sandbox.signing import (
    build_manifest,
    sign_notification,
    signature_header,
    verify_signature,
)
from mercadopago_sandbox.store import Store
from mercadopago_sandbox.web import EXTENSION_KEY


def test_sign_notification_follows_the_documented_manifest():
    expected = hmac.new(b"s3cret", b"id:abc123;request-id:req-1;ts:1700000000;", hashlib.sha256).hexdigest()
    assert sign_notification("s3cret", "ABC123", "req-1", 1700000000) == expected
    assert build_manifest("ABC", "r", "1") == "id:abc;request-id:r;ts:1;"


def test_signature_header_round_trip():
    header = signature_header("k", "55", "rid", "1700000001")
    assert header.startswith("ts=1700000001,v1=")
    assert verify_signature("k", header, "55", "rid")
    assert not verify_signature("other", header, "55", "rid")
    assert not verify_signature("k", header, "56", "rid")
    assert not verify_signature("k", "ts=1", "55", "rid")
    assert not verify_signature("k", "garbage", "55", "rid")
    assert not verify_signature("k", "", "55", "rid")


def test_crc16_and_pix_code():
    assert crc16_ccitt(b"123456789") == 0x29B1
    code = pix_copy_paste(
        "key@example.com", Decimal("10.00"), "tx1", "A VERY LONG MERCHANT NAME THAT IS CUT", "SAO PAULO"
    )
    assert "540510.00" in code and "5802BR" in code
    assert code[-8:-4] == "6304"


def test_retry_policy_doubles_delays():
    policy = RetryPolicy(base_seconds=0.2, max_attempts=5)
    assert [policy.delay_after(n) for n in (1, 2, 3)] == [0.2, 0.4, 0.8]


def test_notification_target():
    assert notification_target("http://h/x", "7", "payment") == "http://h/x?data.id=7&type=payment"


def test_config_from_env_and_coerce():
    config = SandboxConfig.from_env(
        {
            "MERCADOPAGO_WEBHOOK_SECRET": "env-secret",
            "MERCADOPAGO_SANDBOX_DATA_FILE": "/tmp/x.json",
            "MERCADOPAGO_SANDBOX_NOTIFY_ON_CREATE": "no",
            "MERCADOPAGO_SANDBOX_RETRY_BASE_SECONDS": "0.5",
            "MERCADOPAGO_SANDBOX_MAX_ATTEMPTS": "2",
        }
    )
    assert config.webhook_secret == "env-secret"
    assert config.data_file == "/tmp/x.json"
    assert config.notify_on_create is False
    assert (config.retry_base_seconds, config.max_attempts) == (0.5, 2)
    defaults = SandboxConfig.from_env({"MERCADOPAGO_SANDBOX_NOTIFY_ON_CREATE": ""})
    assert defaults.webhook_secret == "dev-webhook-secret"
    assert defaults.notify_on_create is True and defaults.data_file is None

    assert SandboxConfig.coerce(None) == SandboxConfig()
    assert SandboxConfig.coerce(config) is config
    assert SandboxConfig.coerce({"max_attempts": 9}).max_attempts == 9
    with pytest.raises(ValueError, match="unknown"):
        SandboxConfig.coerce({"nope": 1})


def _create(client, **body):
    payload = {"transaction_amount": 10, "payment_method_id": "pix", "payer": {"email": "a@b.co"}, **body}
    return client.post(
        "/v1/payments",
        json=payload,
        headers={
            "Authorization": "Bearer t",
            "X-Idempotency-Key": body.get("external_reference", "k"),
        },
    )


def test_data_file_keeps_payments_across_restarts(tmp_path):
    data_file = tmp_path / "state" / "mp.json"
    first = create_app({"data_file": str(data_file), "notify_on_create": False})
    created = _create(first.test_client(), external_reference="keep-me").get_json()
    assert json.loads(data_file.read_text())["payments"][str(created["id"])]["status"] == "pending"

    second = create_app({"data_file": str(data_file)})
    client = second.test_client()
    fetched = client.get(f"/v1/payments/{created['id']}", headers={"Authorization": "Bearer t"})
    assert fetched.get_json() == created
    assert _create(client, external_reference="keep-me").get_json()["id"] == created["id"]
    assert _create(client, external_reference="new").get_json()["id"] > created["id"]


def test_corrupt_data_file_is_reported(tmp_path):
    data_file = tmp_path / "mp.json"
    data_file.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        Store(data_file)


def test_empty_data_file_starts_empty(tmp_path):
    data_file = tmp_path / "mp.json"
    data_file.write_text("")
    assert Store(data_file).snapshot()["payments"] == {}


def test_store_is_thread_safe_for_ids():
    store = Store()
    ids: list[int] = []

    def allocate() -> None:
        for _ in range(200):
            with store.transaction() as state:
                ids.append(Store.next_id(state, "payment"))

    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 1600


def test_cli_arguments_override_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MERCADOPAGO_WEBHOOK_SECRET", "from-env")
    monkeypatch.setenv("MERCADOPAGO_SANDBOX_PORT", "9100")
    args = cli.parse_args(
        [
            "--data-file",
            str(tmp_path / "d.json"),
            "--max-attempts",
            "3",
            "--retry-base",
            "0.1",
            "--no-notify-on-create",
            "--notification-url",
            "http://h/hook",
            "--public-url",
            "http://p",
        ]
    )
    config = cli.build_config(args)
    assert args.port == 9100 and args.host == "127.0.0.1"
    assert config.webhook_secret == "from-env"
    assert config.data_file == str(tmp_path / "d.json")
    assert (config.max_attempts, config.retry_base_seconds) == (3, 0.1)
    assert config.notify_on_create is False
    assert config.default_notification_url == "http://h/hook"
    assert config.public_url == "http://p"
    assert cli.build_config(cli.parse_args(["--webhook-secret", "cli"])).webhook_secret == "cli"


def test_cli_main_serves_until_interrupted(monkeypatch):
    served: dict[str, object] = {}

    class FakeServer:
        server_port = 8004

        def serve_forever(self) -> None:
            raise KeyboardInterrupt

        def server_close(self) -> None:
            served["closed"] = True

    def fake_make_server(host, port, app, threaded):
        served.update(host=host, port=port, app=app, threaded=threaded)
        return FakeServer()

    monkeypatch.setattr(cli, "make_server", fake_make_server)
    cli.main(["--host", "0.0.0.0", "--port", "8123"])
    assert (served["host"], served["port"], served["threaded"]) == ("0.0.0.0", 8123, True)
    assert served["closed"] is True
    assert served["app"].extensions[EXTENSION_KEY].notifier._stop.is_set()
