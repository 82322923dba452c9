"""Which clients share a per-address limit.

An IPv4 address is one client. An IPv6 client is not one address: a home or
a phone gets a whole /64 (often more) and picks a new address in it at will,
so a limit keyed on the exact address is no limit at all. Every IP-keyed limit
therefore keys on :func:`client_bucket`, which groups IPv6 addresses by
``SMSVERIFY["IPV6_PREFIX"]`` (default 64).
"""

from __future__ import annotations

import ipaddress

from django_smsverify.conf import app_settings


def client_bucket(ip: str | None) -> str | None:
    """The key a per-client limit counts ``ip`` under, or None for no address.

    IPv4 addresses stand for themselves; IPv6 addresses become their network
    of ``IPV6_PREFIX`` bits (``2001:db8:1:2::/64``); IPv4-mapped IPv6
    (``::ffff:192.0.2.1``) is the IPv4 address. Text that is not an address
    is kept as it is, so a site's own ``get_client_ip`` may return any stable
    client id.
    """
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        network = ipaddress.IPv6Network((address, app_settings.IPV6_PREFIX), strict=False)
        return str(network)
    return str(address)
