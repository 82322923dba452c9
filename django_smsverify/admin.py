"""Admin for phone numbers and SMS delivery records (records are read-only),
and the *SMS traffic* page: the counters of :mod:`django_smsverify.stats` as
charts and tables."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from django_smsverify import charts, stats, traffic
from django_smsverify.adapter import get_adapter
from django_smsverify.conf import PURPOSES
from django_smsverify.exceptions import ServiceUnavailable
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

    #: The template of the *SMS traffic* page (``None``: the app's, looked up
    #: per model first, as the admin's own templates are).
    traffic_template: str | list[str] | None = None

    # Records are a log: nobody edits or adds them by hand.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        # Before the model's own URLs, whose "<path:object_id>/" would take it.
        name = f"{self.opts.app_label}_{self.opts.model_name}_stats"
        view = self.admin_site.admin_view(self.traffic_view)
        return [path("stats/", view, name=name), *super().get_urls()]

    def has_traffic_permission(self, request: HttpRequest) -> bool:
        """Who may see the *SMS traffic* page: staff (the admin checks that
        first) with the view permission on delivery records."""
        codename = get_permission_codename("view", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    def traffic_view(self, request: HttpRequest) -> TemplateResponse:
        """The *SMS traffic* page: the counters of the last 7 or 30 UTC days,
        as charts and tables, for one purpose or region when the query asks."""
        if not self.has_traffic_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("SMS traffic"),
            **traffic_context(request),
        }
        opts = self.opts
        template = self.traffic_template or [
            f"admin/{opts.app_label}/{opts.model_name}/traffic.html",
            f"admin/{opts.app_label}/traffic.html",
        ]
        status = 503 if context["unavailable"] else 200
        return TemplateResponse(request, template, context, status=status)


_REGION = re.compile(r"[A-Z]{2}")


class TrafficFilterForm(forms.Form):
    """The filters of the *SMS traffic* page (read from the query string)."""

    days = forms.TypedChoiceField(
        label=gettext_lazy("Period"),
        choices=[(7, gettext_lazy("Last 7 days")), (30, gettext_lazy("Last 30 days"))],
        coerce=int,
        required=False,
        empty_value=30,
        initial=30,
    )
    purpose = forms.ChoiceField(label=gettext_lazy("Purpose"), required=False)
    region = forms.ChoiceField(label=gettext_lazy("Region"), required=False)

    def __init__(self, *args: Any, purposes: list[str], regions: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "" is every purpose or region: counts with none of their own are
        # only in the totals.
        every = gettext_lazy("All")
        self.fields["purpose"].choices = [("", every)] + [
            (p, p) for p in dict.fromkeys([*PURPOSES, *purposes]) if p
        ]
        self.fields["region"].choices = [("", every)] + [(r, r) for r in regions if r]


def traffic_context(request: HttpRequest) -> dict[str, Any]:
    """What the *SMS traffic* template shows, for the filters in ``request.GET``."""
    days = 7 if request.GET.get("days") == "7" else 30
    context: dict[str, Any] = {"counting": stats.enabled(), "days": days, "unavailable": ""}
    query = request.GET.copy()
    if query:
        # The period shown, even when the query names none (or one not offered).
        query["days"] = str(days)
    if "region" in query:
        query["region"] = query["region"].strip().upper()
    # A region with nothing counted yet may be asked for: it then shows nothing.
    asked = [query["region"]] if _REGION.fullmatch(query.get("region", "")) else []
    try:
        periods = stats.days(days)
    except ServiceUnavailable:
        context["unavailable"] = _(
            "The verification store (SMSVERIFY['CACHE']) is not answering, so the figures "
            "cannot be read. Sends are refused while it is down; try again when it is back."
        )
        context["form"] = TrafficFilterForm(query or None, purposes=[], regions=asked)
        return context
    everything = traffic.summarise(periods)
    form = TrafficFilterForm(
        query or None,
        purposes=everything.purposes,
        regions=sorted({*everything.regions, *asked}),
    )
    purpose = region = None
    if form.is_valid():
        purpose = form.cleaned_data["purpose"] or None
        region = form.cleaned_data["region"] or None
    summary = traffic.summarise(periods, purpose=purpose, region=region)
    context.update(form=form, summary=summary, purpose=purpose, region=region)
    if summary.empty:
        return context
    context.update(_traffic_figures(summary))
    return context


def _traffic_figures(summary: traffic.Summary) -> dict[str, Any]:
    periods = summary.periods
    starts = [f.start for f in periods if f.start is not None]
    iso = [f.key for f in periods]
    total = summary.total
    description = _(
        "Codes sent and codes verified per UTC day from %(first)s to %(last)s, with the "
        "conversion (verified ÷ sent) as a line. In all: %(sent)d sent, %(verified)d "
        "verified, conversion %(conversion)s. The table below gives each day's figures."
    ) % {
        "first": iso[0],
        "last": iso[-1],
        "sent": total.sent,
        "verified": total.verified,
        "conversion": charts.percent(total.conversion),
    }
    daily_chart = charts.column_chart(
        [date_format(start, "MONTH_DAY_FORMAT") for start in starts],
        [
            charts.Series(_("Codes sent"), [f.sent for f in periods], "sent", charts.BLUE),
            charts.Series(
                _("Codes verified"), [f.verified for f in periods], "verified", charts.GREEN
            ),
        ],
        chart_id="smsverify-traffic-daily",
        title=_("SMS codes sent and verified per day"),
        description=description,
        rate=[f.conversion for f in periods],
        rate_name=_("Conversion"),
        titles=iso,
    )
    context: dict[str, Any] = {
        "daily_chart": daily_chart,
        # Newest first: the day people look for is usually today.
        "day_rows": [(f, charts.percent(f.conversion)) for f in reversed(periods)],
        "total_row": (total, charts.percent(total.conversion)),
        "purpose_rows": [(f, charts.percent(f.conversion)) for f in summary.by_purpose],
        "region_rows": [(f, charts.percent(f.conversion)) for f in summary.by_region],
    }
    if summary.refused:
        context["refused_chart"] = charts.bar_chart(
            summary.refused,
            chart_id="smsverify-traffic-refused",
            title=_("Sends refused, by limit"),
            description=_(
                "How many sends each limit refused over the period; the table below gives "
                "the same figures."
            ),
            css_class="refused",
            color=charts.PURPLE,
        )
    if summary.failed:
        context["failed_chart"] = charts.bar_chart(
            summary.failed,
            chart_id="smsverify-traffic-failed",
            title=_("Failed sends, by provider and error code"),
            description=_(
                "How many sends each provider error code failed over the period; the table "
                "below gives the same figures."
            ),
            css_class="failed",
            color=charts.VERMILION,
        )
    return context
