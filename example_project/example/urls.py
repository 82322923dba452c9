from django.contrib import admin
from django.urls import include, path

from example import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/phone/", include("django_smsverify.urls")),
    path("admin/", admin.site.urls),
]
