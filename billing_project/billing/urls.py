from django.urls import path

from . import api

app_name = "billing"

urlpatterns = [
    path("budgets/", api.BudgetListApi.as_view(), name="budget-list"),
    path("budgets/<str:budget_id>/", api.BudgetDetailApi.as_view(), name="budget-detail"),
    path("budgets/<str:budget_id>/versions/", api.BudgetVersionListApi.as_view(), name="budget-versions"),
    path("budgets/<str:budget_id>/approve/", api.BudgetApproveApi.as_view(), name="budget-approve"),
    path("budgets/<str:budget_id>/reject/", api.BudgetRejectApi.as_view(), name="budget-reject"),
    path("budgets/<str:budget_id>/revisions/", api.BudgetRevisionCreateApi.as_view(), name="budget-revisions"),
    path("payments/", api.PaymentListApi.as_view(), name="payment-list"),
    path("payments/<str:payment_id>/", api.PaymentDetailApi.as_view(), name="payment-detail"),
    path("webhooks/mercadopago/", api.MercadoPagoWebhookApi.as_view(), name="webhook-mercadopago"),
]
