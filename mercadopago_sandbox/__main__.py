"""``python -m mercadopago_sandbox --host 127.0.0.1 --port 8004``."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from dataclasses import replace

from werkzeug.serving import make_server

from .app import create_app
from .config import DEFAULT_HOST, DEFAULT_PORT, SandboxConfig
from .web import EXTENSION_KEY

log = logging.getLogger("mercadopago_sandbox")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="python -m mercadopago_sandbox",
        description="Mercado Pago sandbox: the REST API shape plus signed webhook delivery.",
    )
    parser.add_argument("--host", default=env.get("MERCADOPAGO_SANDBOX_HOST", DEFAULT_HOST))
    parser.add_argument("--port", type=int, default=int(env.get("MERCADOPAGO_SANDBOX_PORT", DEFAULT_PORT)))
    parser.add_argument(
        "--data-file", help="JSON file keeping state across restarts (env MERCADOPAGO_SANDBOX_DATA_FILE)"
    )
    parser.add_argument(
        "--webhook-secret",
        help="secret signing x-signature (env MERCADOPAGO_WEBHOOK_SECRET, default dev-webhook-secret)",
    )
    parser.add_argument(
        "--public-url",
        help="base URL for init_point and ticket_url links "
        "(env MERCADOPAGO_SANDBOX_PUBLIC_URL; default: the request's host)",
    )
    parser.add_argument(
        "--notification-url",
        help="webhook URL used when a payment has no notification_url (env MERCADOPAGO_SANDBOX_NOTIFICATION_URL)",
    )
    parser.add_argument(
        "--retry-base",
        type=float,
        help="first retry delay in seconds, doubled each attempt (env MERCADOPAGO_SANDBOX_RETRY_BASE_SECONDS)",
    )
    parser.add_argument(
        "--max-attempts", type=int, help="delivery attempts per notification (env MERCADOPAGO_SANDBOX_MAX_ATTEMPTS)"
    )
    parser.add_argument(
        "--no-notify-on-create", action="store_true", help="do not send payment.created for new pending payments"
    )
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> SandboxConfig:
    config = SandboxConfig.from_env()
    overrides = {
        "data_file": args.data_file,
        "webhook_secret": args.webhook_secret,
        "public_url": args.public_url,
        "default_notification_url": args.notification_url,
        "retry_base_seconds": args.retry_base,
        "max_attempts": args.max_attempts,
    }
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    if args.no_notify_on_create:
        config = replace(config, notify_on_create=False)
    return config


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = parse_args(argv)
    app = create_app(build_config(args))
    server = make_server(args.host, args.port, app, threaded=True)
    log.info("Mercado Pago sandbox on http://%s:%s (control page: /sandbox/)", args.host, server.server_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        app.extensions[EXTENSION_KEY].notifier.stop()
        server.server_close()


if __name__ == "__main__":
    main()
