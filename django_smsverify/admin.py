"""Admin for phone numbers and SMS delivery records (records are read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from django_smsverify.adapter import get_adapter
from django_smsverify.models import PhoneNumber, SmsDelivery


@admin.register(PhoneNumber)
class PhoneNumberAdmin(admin.ModelAdmin):
    list_display = ("number", "user", "verified_at", "created_at")
    search_fields = ("number",)
    list_filter = ("verified_at",)
    raw_id_fields = ("user",)
    readonly_fields = ("created_at", "updated_at")

    # Registered always (settings may change after the admin is loaded, as in
    # tests), but shown only while the adapter's storage is this table: with
    # USER_PHONE_FIELD the numbers live on the user, and rows here would be
    # read by nothing.
    def has_module_permission(self, request: HttpRequest) -> bool:
        return _uses_table() and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _uses_table() and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _uses_table() and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _uses_table() and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _uses_table() and super().has_delete_permission(request, obj)


def _uses_table() -> bool:
    return get_adapter().get_phone_storage().uses_phone_model


@admin.register(SmsDelivery)
class SmsDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "phone",
        "purpose",
        "status",
        "provider",
        "providers_tried",
        "attempts",
        "error_code",
    )
    list_filter = ("status", "purpose", "provider", "backend")
    search_fields = ("phone", "provider_message_id")
    date_hierarchy = "created_at"

    # Records are a log: nobody edits or adds them by hand.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
