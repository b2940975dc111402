from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from oficina_common import errors
from oficina_common.auth import IsStaff, customer_id_of, role_of
from oficina_common.correlation import get_correlation_id


class WhoAmIApi(APIView):
    permission_classes = [IsStaff]

    def get(self, request):
        return Response({"role": role_of(request.user), "customer_id": customer_id_of(request.user)})


class AnyRoleApi(APIView):
    from oficina_common.auth import IsStaffOrCustomer

    permission_classes = [IsStaffOrCustomer]

    def get(self, request):
        return Response({"role": role_of(request.user), "customer_id": customer_id_of(request.user)})


class RaiseApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    def post(self, request, kind):
        from django.core.exceptions import ValidationError
        from django.http import Http404
        from rest_framework import serializers

        if kind == "conflict":
            raise errors.InvalidTransition("Cannot move from RECEIVED to FINISHED.", extra={"from": "RECEIVED"})
        if kind == "missing":
            raise Http404
        if kind == "django-validation":
            raise ValidationError({"plate": ["Invalid plate."]})
        if kind == "serializer":
            class Input(serializers.Serializer):
                quantity = serializers.IntegerField(min_value=1)

            Input(data=request.data).is_valid(raise_exception=True)
        if kind == "boom":
            raise RuntimeError("secret internals")
        if kind == "database-gone":
            from django.db import OperationalError

            raise OperationalError("server closed the connection unexpectedly")
        if kind == "dynamodb-gone":
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:8000/")
        if kind == "dynamodb-throttled":
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "Query")
        if kind == "wait":  # a request that waits (on a database, say) without using the CPU
            import time

            time.sleep(0.3)
        return Response({"data": request.data, "correlation_id": get_correlation_id()})


class ThrottledApi(APIView):
    permission_classes = [AllowAny]
    throttle_scope = "tries"

    def post(self, request):
        return Response({"ok": True})


def token_page(request, token):
    from django.http import HttpResponse

    return HttpResponse(f'<p>ok</p><script nonce="{request.csp_nonce}">1</script>')


def throttled_page(request):
    from django.http import HttpResponse

    from oficina_common.throttling import PageThrottle

    throttle = PageThrottle("tries")
    if not throttle.allow_request(request, None):
        return HttpResponse("devagar", status=429, headers={"Retry-After": str(int(throttle.wait()))})
    return HttpResponse("ok")


urlpatterns = [
    path("throttled/", ThrottledApi.as_view()),
    path("throttled-page/", throttled_page),
    path("whoami/", WhoAmIApi.as_view()),
    path("anyrole/", AnyRoleApi.as_view()),
    path("raise/<str:kind>/", RaiseApi.as_view()),
    path("budgets/review/<str:token>/", token_page),
]
