"""Optional integrations with other packages, each behind its own extra.

Nothing here is imported by the rest of the app; a site opts in by including
an integration's URLs (see :mod:`django_smsverify.contrib.rest_framework`).
"""
