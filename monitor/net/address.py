"""Which IP addresses the guarded client may connect to.

An address is allowed when it is globally routable unicast, or when it falls in the operator's
``allow_private`` list. The special ranges are written out here rather than trusted to
``ipaddress.is_global``, whose answers differ between Python versions (3.11 calls 192.0.0.8,
224.0.0.1, 3fff::1 and ::7f00:1 global). Addresses that embed an IPv4 address (IPv4-mapped,
NAT64, 6to4, Teredo) are judged by the embedded address too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from monitor.errors import ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_V4_BLOCKED = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host on Linux
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # carrier-grade NAT (RFC 6598)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata endpoints
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation (TEST-NET-1)
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation (TEST-NET-2)
        "203.0.113.0/24",  # documentation (TEST-NET-3)
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and 255.255.255.255
    )
)
# IANA hands out global unicast only from 2000::/3; everything outside it (::, ::1, IPv4-compatible
# ::a.b.c.d, 100::/64, 5f00::/16, fc00::/7, fe80::/10, fec0::/10, ff00::/8 …) is refused, except
# the two prefixes that embed an IPv4 address and are unwrapped first.
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_V6_BLOCKED = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "2001::/23",  # IETF protocol assignments: Teredo 2001::/32, benchmarking, ORCHID
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
    )
)
_V4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def parse_allowlist(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse ``allow_private`` entries (IPs or CIDRs); a bad entry is a ConfigError."""
    networks: list[IPNetwork] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as e:
            raise ConfigError(f"allow_private: not an IP address or CIDR: {entry!r}") from e
    return tuple(networks)


def address_allowed(
    address: str | IPAddress, allow_private: Iterable[str | IPNetwork] = ()
) -> bool:
    """True if the client may connect to ``address``. A string that is not an IP is refused."""
    if isinstance(address, str):
        try:
            address = ipaddress.ip_address(address)
        except ValueError:
            return False
    allow = tuple(
        parse_allowlist([net])[0] if isinstance(net, str) else net for net in allow_private
    )
    return ip_allowed(address, allow)


def _listed(ip: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    # `in` does not compare versions: IPv4Address("0.0.0.1") in IPv6Network("::/96") is True.
    return any(ip.version == net.version and ip in net for net in networks)


def ip_allowed(ip: IPAddress, allow: tuple[IPNetwork, ...]) -> bool:
    """``address_allowed`` for an already parsed address and allowlist."""
    if _listed(ip, allow):
        return True
    if isinstance(ip, ipaddress.IPv4Address):
        return ip.is_global and not ip.is_multicast and not _listed(ip, _V4_BLOCKED)
    if ip in _V4_MAPPED:
        return ip_allowed(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), allow)
    if ip in _NAT64:
        return ip_allowed(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), allow)
    if (
        not ip.is_global
        or ip.is_multicast
        or ip not in _V6_GLOBAL_UNICAST
        or _listed(ip, _V6_BLOCKED)
    ):
        return False
    embedded = [ip.sixtofour, *(ip.teredo or ())]
    return all(ip_allowed(v4, allow) for v4 in embedded if v4 is not None)
