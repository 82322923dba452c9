from django.urls import include, path

urlpatterns: list = [path("accounts/phone/", include("django_smsverify.urls"))]
