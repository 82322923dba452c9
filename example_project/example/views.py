"""A one-page demo of the engine: send a code (it prints in the terminal), then check it."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from django_smsverify import verification
from django_smsverify.exceptions import SmsVerifyError


def home(request: HttpRequest) -> HttpResponse:
    context: dict[str, object] = {"phone": request.POST.get("phone", "")}
    if request.method == "POST":
        try:
            if request.POST.get("action") == "check":
                phone = verification.check_code(
                    request.POST.get("phone", ""), request.POST.get("code", ""), "register"
                )
                context["notice"] = _("%(phone)s is verified.") % {"phone": phone}
            else:
                result = verification.send_code(
                    request.POST.get("phone", ""), "register", ip=request.META.get("REMOTE_ADDR")
                )
                context["phone"] = result.phone
                context["notice"] = _("Code sent. Look in the terminal running the server.")
        except SmsVerifyError as exc:
            context["error"] = exc.message
    return render(request, "example/home.html", context)
