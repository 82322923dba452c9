"""The OpenAPI schema of the API, from REST framework's own generator.

Only this package's views are listed (a site's other views are its own
business), each with every status it can answer: the success, 400 for bad
input, 429 with ``Retry-After`` when limited, 503 when the store or the SMS
provider is down, and 401/403/404 where they apply.
"""

from __future__ import annotations

from django_smsverify.contrib.rest_framework import require_drf

require_drf()

from typing import Any  # noqa: E402

from rest_framework.schemas.generators import EndpointEnumerator  # noqa: E402
from rest_framework.schemas.openapi import AutoSchema, SchemaGenerator  # noqa: E402

_ERROR = {
    "type": "object",
    "description": 'REST framework errors: {"field": ["message"]}, "non_field_errors" or "detail".',
}
_DESCRIPTIONS = {
    "400": "Invalid input; field errors.",
    "401": "Not authenticated.",
    "403": "Not allowed, or CSRF check failed.",
    "404": "Not available with these settings.",
    "429": "Limited; Retry-After gives the seconds to wait (also retry_after in the body).",
    "503": "The verification store or the SMS provider is down; nothing was done.",
}


class SmsVerifySchema(AutoSchema):
    """Describes one of this package's views.

    Views set ``operation_id``, ``response_serializer_class``,
    ``success_status``, ``error_statuses``, for GET endpoints
    ``query_parameters`` (``[(name, description, required)]``), and
    ``takes_body = False`` for a POST without a request body.
    """

    def get_operation_id(self, path: str, method: str) -> str:
        return str(self.view.operation_id)

    def get_request_serializer(self, path: str, method: str) -> Any:
        if method == "GET":
            return None
        return super().get_request_serializer(path, method)

    def get_response_serializer(self, path: str, method: str) -> Any:
        return self.view.response_serializer_class()

    def get_request_body(self, path: str, method: str) -> dict[str, Any]:
        if not getattr(self.view, "takes_body", True):
            return {}
        body = super().get_request_body(path, method)
        if body:
            body["required"] = True
        return body

    def get_filter_parameters(self, path: str, method: str) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "in": "query",
                "required": required,
                "description": description,
                "schema": {"type": "string"},
            }
            for name, description, required in getattr(self.view, "query_parameters", ())
        ]

    def get_responses(self, path: str, method: str) -> dict[str, Any]:
        self.response_media_types = self.map_renderers(path, method)
        reference = self.get_reference(self.get_response_serializer(path, method))
        responses: dict[str, Any] = {
            str(self.view.success_status): {
                "content": {ct: {"schema": reference} for ct in self.response_media_types},
                "description": "",
            }
        }
        for status in self.view.error_statuses:
            responses[str(status)] = {
                "content": {ct: {"schema": _ERROR} for ct in self.response_media_types},
                "description": _DESCRIPTIONS[str(status)],
            }
            if status in (429, 503):
                responses[str(status)]["headers"] = {
                    "Retry-After": {
                        "description": "Seconds to wait before trying again.",
                        "schema": {"type": "integer"},
                    }
                }
        return responses

    def get_tags(self, path: str, method: str) -> list[str]:
        return ["smsverify"]


class _OwnEndpoints(EndpointEnumerator):
    def should_include_endpoint(self, path: str, callback: Any) -> bool:
        from django_smsverify.contrib.rest_framework.views import SmsVerifyAPIView

        cls = getattr(callback, "cls", None)
        return (
            isinstance(cls, type)
            and issubclass(cls, SmsVerifyAPIView)
            and super().should_include_endpoint(path, callback)
        )


class SmsVerifySchemaGenerator(SchemaGenerator):
    """REST framework's OpenAPI generator, limited to this package's views."""

    endpoint_inspector_cls = _OwnEndpoints
