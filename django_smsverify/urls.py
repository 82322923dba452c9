"""URLs of django-smsverify. Include them once, e.g.
``path("accounts/phone/", include("django_smsverify.urls"))``; names live in the
``smsverify`` namespace."""

from django.urls import path

from django_smsverify import views
from django_smsverify.captcha import views as captcha_views

app_name = "smsverify"

urlpatterns = [
    path("captcha/", captcha_views.new_challenge, name="captcha"),
    path("captcha/<str:key>.png", captcha_views.challenge_image, name="captcha_image"),
    path("send-code/", views.send_code, name="send_code"),
    path("status/", views.phone_status, name="phone_status"),
    path("register/", views.register, name="register"),
    path("login/", views.login, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("password/reset/", views.password_reset, name="password_reset"),
    path("change/", views.phone_change, name="phone_change"),
]
