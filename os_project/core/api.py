"""A CRUD viewset whose writes go through the services layer, with split input/output serializers."""
from __future__ import annotations

from typing import Any

from django.db.models import Model
from rest_framework import serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

WRITE_METHODS = ("POST", "PUT", "PATCH")


class ServiceCrudViewSet(viewsets.GenericViewSet):
    """list / retrieve / create / update / partial_update / destroy.

    Subclasses name ``InputSerializer`` and ``OutputSerializer`` and implement ``perform_create``,
    ``perform_update`` and ``perform_destroy`` by calling a service.
    """

    InputSerializer: type[serializers.Serializer]
    OutputSerializer: type[serializers.Serializer]

    def get_serializer_class(self) -> type[serializers.Serializer]:
        # The browsable API builds its forms with a cloned request whose method is the form's.
        if self.request is not None and self.request.method in WRITE_METHODS:
            return self.InputSerializer
        return self.OutputSerializer

    def _validated(self, request: Request, *, partial: bool = False) -> dict[str, Any]:
        serializer = self.InputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def list(self, request: Request) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.OutputSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response(self.OutputSerializer(self.get_object()).data)

    def create(self, request: Request) -> Response:
        instance = self.perform_create(self._validated(request))
        return Response(self.OutputSerializer(instance).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, pk: str | None = None) -> Response:
        instance = self.get_object()
        instance = self.perform_update(instance, self._validated(request))
        return Response(self.OutputSerializer(instance).data)

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        instance = self.get_object()
        instance = self.perform_update(instance, self._validated(request, partial=True))
        return Response(self.OutputSerializer(instance).data)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        self.perform_destroy(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    def perform_create(self, data: dict[str, Any]) -> Model:
        raise NotImplementedError

    def perform_update(self, instance: Model, data: dict[str, Any]) -> Model:
        raise NotImplementedError

    def perform_destroy(self, instance: Model) -> None:
        raise NotImplementedError


def crud_schema(input_serializer: type[serializers.Serializer], output_serializer: type[serializers.Serializer],
                *, tag: str) -> Any:
    """Document a :class:`ServiceCrudViewSet`: writes take the input serializer, answer the output one."""
    from drf_spectacular.utils import extend_schema, extend_schema_view

    return extend_schema_view(
        list=extend_schema(tags=[tag]),
        retrieve=extend_schema(tags=[tag]),
        create=extend_schema(tags=[tag], request=input_serializer, responses={201: output_serializer}),
        update=extend_schema(tags=[tag], request=input_serializer, responses={200: output_serializer}),
        partial_update=extend_schema(tags=[tag], request=input_serializer, responses={200: output_serializer}),
        destroy=extend_schema(tags=[tag], responses={204: None}),
    )
