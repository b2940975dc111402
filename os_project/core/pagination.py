from typing import Any

from django.core.paginator import Page, Paginator
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination

from oficina_common.errors import ValidationFailed


class FirstPageCountingPaginator(Paginator):
    """Django's paginator, less the COUNT query when the first page is not full: its rows are then
    all there is. A screen kept in sync (``?updated_after=``) asks ten times a second and gets a
    few orders; the COUNT was about a fifth of such a request's CPU. (No orphans: DRF uses none.)"""

    def page(self, number: Any) -> Page:
        if str(number) != "1":
            return super().page(number)
        rows = list(self.object_list[:self.per_page])
        if len(rows) < self.per_page:
            self.__dict__["count"] = len(rows)  # the cached_property, known without asking
        return self._get_page(rows, 1, self)


class PageNumberWithSizePagination(PageNumberPagination):
    """``?page=`` and, up to 100, ``?page_size=``: a page size that is not a whole number from 1 to
    100 is refused (400), as the schema says, never quietly replaced by the default."""

    django_paginator_class = FirstPageCountingPaginator
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Any) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationFailed(f"page_size: a whole number from 1 to {self.max_page_size}.",
                                   extra={"fields": {"page_size": [f"From 1 to {self.max_page_size}."]}})
        return size

    def get_page_number(self, request: Any, paginator: Any) -> str:
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and not raw.isdecimal():
            raise NotFound("Invalid page.")  # what DRF answers a page past the last
        return super().get_page_number(request, paginator)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
            elif parameter["name"] == self.page_query_param:
                parameter["schema"].update(minimum=1)
        return parameters
