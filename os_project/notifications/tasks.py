from __future__ import annotations

from oficina_common.consumer import ConsumerPolicy, consumer_task

from . import services

# The mail server unreachable or refusing for now (any OSError: refused, reset, DNS) is worth a retry.
POLICY = ConsumerPolicy(also_transient=(OSError,), max_retries=8)


@consumer_task(name="os.send_status_email", policy=POLICY)
def send_status_email(service_order_id: str, status: str) -> bool:
    return services.status_email_send(service_order_id=service_order_id, status=status)
