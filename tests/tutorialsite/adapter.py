"""The adapter a tutorial site writes when it moves its numbers into the app's
PhoneNumber table but keeps its legacy ``mobile`` column in step: the column is
required and unique, so new users must get a value there too."""

from django_smsverify.adapter import DefaultAdapter
from django_smsverify.phone import national_number


class LegacyMobileAdapter(DefaultAdapter):
    def new_user(self, request, phone):
        user = super().new_user(request, phone)
        user.mobile = national_number(phone)
        return user

    def change_phone(self, request, user, phone):
        super().change_phone(request, user, phone)
        user.mobile = national_number(phone)
        user.save(update_fields=["mobile"])
