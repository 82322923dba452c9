"""The user model that tutorial sites copied years ago: Django's AbstractUser
plus a required, unique, 11-character ``mobile`` holding national digits."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    mobile = models.CharField(max_length=11, unique=True, verbose_name="手机号")
