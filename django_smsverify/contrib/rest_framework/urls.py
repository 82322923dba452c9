"""URLs of the REST API. Include them once, e.g.
``path("api/phone/", include("django_smsverify.contrib.rest_framework.urls"))``;
names live in the ``smsverify_api`` namespace. ``schema/`` serves the OpenAPI
document (JSON) of these endpoints."""

from __future__ import annotations

from django_smsverify.contrib.rest_framework import require_drf

require_drf()

from django.urls import path  # noqa: E402
from rest_framework.permissions import AllowAny  # noqa: E402
from rest_framework.renderers import JSONOpenAPIRenderer  # noqa: E402
from rest_framework.schemas import get_schema_view  # noqa: E402

import django_smsverify  # noqa: E402
from django_smsverify.captcha import views as captcha_views  # noqa: E402
from django_smsverify.contrib.rest_framework import views  # noqa: E402
from django_smsverify.contrib.rest_framework.schema import SmsVerifySchemaGenerator  # noqa: E402

app_name = "smsverify_api"

schema_view = get_schema_view(
    title="django-smsverify API",
    version=django_smsverify.__version__,
    description="Phone sign-up, SMS login, password reset and phone change.",
    generator_class=SmsVerifySchemaGenerator,
    renderer_classes=[JSONOpenAPIRenderer],
    public=True,
    authentication_classes=[],
    permission_classes=[AllowAny],
)

urlpatterns = [
    path("captcha/", views.CaptchaView.as_view(), name="captcha"),
    # The PNG is the web flow's own view: the same image for pages and the API.
    path("captcha/<str:key>.png", captcha_views.challenge_image, name="captcha_image"),
    path("send-code/", views.SendCodeView.as_view(), name="send_code"),
    path("status/", views.PhoneStatusView.as_view(), name="phone_status"),
    path("register/", views.RegisterView.as_view(), name="register"),
    path("login/", views.SmsLoginView.as_view(), name="login"),
    path("login/password/", views.PasswordLoginView.as_view(), name="password_login"),
    path("password/reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("change/", views.PhoneChangeView.as_view(), name="phone_change"),
    path("change/current-code/", views.PhoneChangeCodeView.as_view(), name="phone_change_code"),
    path("schema/", schema_view, name="schema"),
]
