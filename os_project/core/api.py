"""A CRUD viewset whose writes go through the services layer, with split input/output serializers."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured
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

    # Each concrete viewset names the services-layer function behind each write.
    def perform_create(self, data: dict[str, Any]) -> Model:
        raise ImproperlyConfigured(f"{type(self).__name__} must define perform_create (a services.py call)")

    def perform_update(self, instance: Model, data: dict[str, Any]) -> Model:
        raise ImproperlyConfigured(f"{type(self).__name__} must define perform_update (a services.py call)")

    def perform_destroy(self, instance: Model) -> None:
        raise ImproperlyConfigured(f"{type(self).__name__} must define perform_destroy (a services.py call)")


def crud_schema(input_serializer: type[serializers.Serializer], output_serializer: type[serializers.Serializer],
                *, tag: str, request_example: dict[str, Any] | None = None,
                response_example: dict[str, Any] | None = None, write_errors: Sequence[Any] = ()) -> Any:
    """Document a :class:`ServiceCrudViewSet`: writes take the input serializer, answer the output one.

    With examples, each operation shows them (lists wrap the response example in a page) together with
    the errors it can answer; ``write_errors`` are the resource's own refusals (bad document, duplicate…).
    """
    from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view

    from .openapi import NOT_AUTHENTICATED, WRONG_ROLE, error_example, error_responses

    entity = output_serializer.__name__.removesuffix("OutputSerializer").lower()

    def examples(*, request: bool, code: int | None, errors: Sequence[Any] = ()) -> list[Any]:
        found = []
        if request and request_example is not None:
            found.append(OpenApiExample(f"A {entity}", value=request_example, request_only=True))
        if code and response_example is not None:
            found.append(OpenApiExample(f"The {entity}", value=response_example, response_only=True,
                                        status_codes=[str(code)]))
        return [*found, *errors]

    not_found = error_example(404, "not_found", "No such record.")
    read_errors, write = (NOT_AUTHENTICATED, WRONG_ROLE), (NOT_AUTHENTICATED, WRONG_ROLE, *write_errors)
    return extend_schema_view(
        list=extend_schema(tags=[tag], responses={200: output_serializer(many=True), **error_responses(401, 403)},
                           examples=examples(request=False, code=200, errors=read_errors)),
        retrieve=extend_schema(tags=[tag], responses={200: output_serializer, **error_responses(401, 403, 404)},
                               examples=examples(request=False, code=200, errors=(*read_errors, not_found))),
        create=extend_schema(tags=[tag], request=input_serializer,
                             responses={201: output_serializer, **error_responses(400, 401, 403, 409)},
                             examples=examples(request=True, code=201, errors=write)),
        update=extend_schema(tags=[tag], request=input_serializer,
                             responses={200: output_serializer, **error_responses(400, 401, 403, 404, 409)},
                             examples=examples(request=True, code=200, errors=(*write, not_found))),
        partial_update=extend_schema(tags=[tag], request=input_serializer,
                                     responses={200: output_serializer, **error_responses(400, 401, 403, 404, 409)},
                                     examples=examples(request=True, code=200, errors=(*write, not_found))),
        destroy=extend_schema(tags=[tag], responses={204: None, **error_responses(401, 403, 404, 409)},
                              examples=[*read_errors, not_found]),
    )
