from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.urls import include, path
from django.utils.html import escape

from django_smsverify.adapter import get_adapter


def welcome(request: HttpRequest) -> HttpResponse:
    """Where LOGIN_REDIRECT_URL points in the tests: who is logged in, their
    number, and a logout button."""
    if not request.user.is_authenticated:
        return HttpResponse("<p id='who'>anonymous</p>")
    phone = get_adapter().get_phone(request.user) or ""
    return HttpResponse(
        f"<p id='who'>{escape(request.user.get_username())}</p>"
        f"<p id='phone'>{escape(phone)}</p>"
        "<form method='post' action='/accounts/phone/logout/'>"
        f"<input type='hidden' name='csrfmiddlewaretoken' value='{get_token(request)}'>"
        "<button id='logout'>Log out</button></form>"
    )


urlpatterns: list = [
    path("accounts/phone/", include("django_smsverify.urls")),
    path("api/phone/", include("django_smsverify.contrib.rest_framework.urls")),
    path("welcome/", welcome),
    path("admin/", admin.site.urls),
]
