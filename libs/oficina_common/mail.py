"""What every e-mail to a customer shares: where the customer's reply goes.

The e-mails come from a no-reply address (``DEFAULT_FROM_EMAIL``) and yet invite the customer to
answer ("é só responder a este e-mail"); without a Reply-To the answer would be lost.
"""
from __future__ import annotations

import os

from django.conf import settings

DEFAULT_WORKSHOP_REPLY_TO = "Oficina <atendimento@oficina.example>"


def workshop_reply_to() -> list[str]:
    """The Reply-To of a customer e-mail, ``[]`` for none.

    ``settings.WORKSHOP_REPLY_TO_EMAIL`` when the service's settings define it, else the
    environment's ``WORKSHOP_REPLY_TO_EMAIL`` (set to an empty value: no Reply-To, for a
    ``DEFAULT_FROM_EMAIL`` that is itself read), else a placeholder for development.
    """
    address = getattr(settings, "WORKSHOP_REPLY_TO_EMAIL", None)
    if address is None:
        address = os.environ.get("WORKSHOP_REPLY_TO_EMAIL", DEFAULT_WORKSHOP_REPLY_TO)
    address = address.strip()
    return [address] if address else []
