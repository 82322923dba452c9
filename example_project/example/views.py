"""The example site's only view of its own: a home page with links to every flow."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "example/home.html")
