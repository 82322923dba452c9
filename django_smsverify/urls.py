"""URLs of django-smsverify. Include them once, e.g.
``path("accounts/phone/", include("django_smsverify.urls"))``; names live in the
``smsverify`` namespace."""

from django.urls import path

from django_smsverify.captcha import views as captcha_views

app_name = "smsverify"

urlpatterns = [
    path("captcha/", captcha_views.new_challenge, name="captcha"),
    path("captcha/<str:key>.png", captcha_views.challenge_image, name="captcha_image"),
]
