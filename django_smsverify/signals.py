"""Signals sent by the app. Every one is sent with ``sender`` set to the class or
module that sent it and a ``request`` argument (``None`` outside a request).

They are plain ``Signal`` objects with no dependencies, so every layer may send
them.
"""

from django.dispatch import Signal

#: A code was issued and handed to delivery. Args: ``phone`` (E.164), ``purpose``, ``request``.
code_sent = Signal()

#: A code passed its check. Args: ``phone``, ``purpose``, ``request``.
code_verified = Signal()

#: A user proved they own a number (registration or phone change).
#: Args: ``user``, ``phone``, ``request``.
phone_verified = Signal()

#: A user was created by phone registration. Args: ``user``, ``phone``, ``request``.
user_registered = Signal()

#: The pumping guard refused a send (see :mod:`django_smsverify.guard`).
#: Args: ``rule`` (``"prefix_burst"``, ``"prefix_blocked"``, ``"region_cap"``,
#: ``"prefix_conversion"`` or ``"region_conversion"``), ``phone``, ``prefix``
#: (``"+86138001"``), ``region``, ``purpose``, ``retry_after`` (seconds) and
#: ``request``.
pumping_suspected = Signal()
