"""The example site's own pages: a home page and an account page."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def home(request: HttpRequest) -> HttpResponse:
    """A short intro with links to every flow."""
    return render(request, "example/home.html")


@login_required
def account(request: HttpRequest) -> HttpResponse:
    """The logged-in user's number and what they can do with their account."""
    return render(request, "example/account.html")
