"""The customer's pages, at the root of Billing's address (the e-mailed link is PUBLIC_BASE_URL/budgets/review/…)."""
from django.urls import path

from . import pages

app_name = "pages"

urlpatterns = [
    path("budgets/review/<str:token>/", pages.budget_review, name="review"),
    path("budgets/<str:budget_id>/v<int:version>/payment/", pages.budget_payment, name="payment"),
    path("budgets/<str:budget_id>/v<int:version>/payment/status/", pages.budget_payment_status,
         name="payment-status"),
    path("budgets/<str:budget_id>/v<int:version>/rejected/", pages.budget_rejected, name="rejected"),
]
