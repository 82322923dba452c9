"""Admin for phone numbers and SMS delivery records (records are read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from django_smsverify.models import PhoneNumber, SmsDelivery


@admin.register(PhoneNumber)
class PhoneNumberAdmin(admin.ModelAdmin):
    list_display = ("number", "user", "verified_at", "created_at")
    search_fields = ("number",)
    list_filter = ("verified_at",)
    raw_id_fields = ("user",)
    readonly_fields = ("created_at", "updated_at")


@admin.register(SmsDelivery)
class SmsDeliveryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "phone", "purpose", "status", "backend", "attempts", "error_code")
    list_filter = ("status", "purpose", "backend")
    search_fields = ("phone", "provider_message_id")
    date_hierarchy = "created_at"

    # Records are a log: nobody edits or adds them by hand.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
