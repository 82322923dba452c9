from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from example import views

urlpatterns = [
    path("", views.home, name="home"),
    path("account/", views.account, name="account"),
    # Django's own password change, in the same look (templates in templates/registration/).
    path(
        "account/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "account/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("accounts/phone/", include("django_smsverify.urls")),
    # set_language: the header's en / 中文 buttons post here.
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
