"""Billing's DynamoDB tables, declared once: ``manage.py create_tables`` and the tests build them from here.

Key attributes are camelCase as in the design (ADR); the outbox attributes come from oficina_common.
"""
from __future__ import annotations

from typing import Any

from oficina_common import dynamodb
from oficina_common.dynamodb import DynamoSettings, Index, TableSpec
from oficina_common.outbox import OUTBOX_INDEX

BUDGETS = TableSpec(
    name="budgets",
    hash_key=("budgetId", "S"),
    range_key=("version", "N"),
    indexes=(
        Index("ServiceOrderIndex", ("serviceOrderId", "S"), ("createdAt", "S")),
        # Range key expiresAt: the expiry job asks "PENDING_APPROVAL and expiresAt <= now".
        Index("StatusIndex", ("status", "S"), ("expiresAt", "S")),
        OUTBOX_INDEX,
    ),
)

BUDGET_ITEMS = TableSpec(
    name="budget_items",
    hash_key=("budgetId", "S"),
    range_key=("itemId", "S"),
)

PAYMENTS = TableSpec(
    name="payments",
    hash_key=("paymentId", "S"),
    range_key=("timestamp", "S"),
    indexes=(
        Index("BudgetIndex", ("budgetId", "S"), ("timestamp", "S")),
        Index("ServiceOrderIndex", ("serviceOrderId", "S"), ("timestamp", "S")),
        # Sparse: only payments Mercado Pago has given an id carry mercadopagoPaymentId.
        Index("MercadoPagoIndex", ("mercadopagoPaymentId", "S")),
        # Extra (not in the ADR): the reconciliation job's "PENDING and createdAt <= cutoff".
        Index("StatusIndex", ("status", "S"), ("createdAt", "S")),
        OUTBOX_INDEX,
    ),
)

# Extra: the approval links' tokens, keyed by SHA-256 of the token (the token itself is stored nowhere).
APPROVAL_TOKENS = TableSpec(
    name="budget_approval_tokens",
    hash_key=("tokenHash", "S"),
    ttl_attribute="ttl",
)

ALL_TABLES: tuple[TableSpec, ...] = (BUDGETS, BUDGET_ITEMS, PAYMENTS, APPROVAL_TOKENS)


def dynamo_settings() -> DynamoSettings:
    from django.conf import settings

    return DynamoSettings(endpoint_url=settings.DYNAMODB_ENDPOINT_URL or None, region=settings.AWS_REGION,
                          table_prefix=settings.DYNAMODB_TABLE_PREFIX)


def table(spec: TableSpec, dynamo: DynamoSettings | None = None) -> Any:
    """A boto3 Table handle for a spec, on the endpoint and prefix the settings name."""
    return dynamodb.table(dynamo or dynamo_settings(), spec)


def open_all() -> None:
    """Every table's handle, made as the process starts (``settings.WARM_UP``). The repositories make
    theirs on first use, and the first of all builds the boto3 resource (DynamoDB's service model
    loaded and parsed): without this, a fresh web process or worker paid that in its first budget
    request or task, inside the saga benchmark's measured window (py-spy). No call is made."""
    for spec in ALL_TABLES:
        table(spec)
