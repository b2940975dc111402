from django.urls import path

from . import api

urlpatterns = [
    path("executions/", api.ExecutionListApi.as_view(), name="execution-list"),
    path("executions/<str:execution_id>/", api.ExecutionDetailApi.as_view(), name="execution-detail"),
    path("executions/<str:execution_id>/retry/", api.ExecutionRetryApi.as_view(), name="execution-retry"),
    path("work-queue/", api.WorkQueueListApi.as_view(), name="work-queue-list"),
    path("work-queue/claim/", api.WorkQueueClaimApi.as_view(), name="work-queue-claim"),
    path("work-queue/<str:queue_id>/", api.WorkQueueDetailApi.as_view(), name="work-queue-detail"),
    path("work-queue/<str:queue_id>/start/", api.WorkQueueStartApi.as_view(), name="work-queue-start"),
    path("work-queue/<str:queue_id>/complete/", api.WorkQueueCompleteApi.as_view(), name="work-queue-complete"),
    path("work-queue/<str:queue_id>/fail/", api.WorkQueueFailApi.as_view(), name="work-queue-fail"),
    path("work-queue/<str:queue_id>/additional-repairs/", api.WorkQueueAdditionalRepairsApi.as_view(),
         name="work-queue-additional-repairs"),
]
