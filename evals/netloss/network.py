"""Where WebRTC host candidates can live on this machine.

aioice ignores loopback, so a caller and the service on one machine need a non-loopback address.
The host's own interface address serves (traffic to it never leaves the machine); without one,
root gets a private dummy interface, and anyone else gets an error saying so.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess

import ifaddr  # aioice's own interface enumeration

DUMMY_INTERFACE = "medvoice0"
DUMMY_ADDRESS = "10.203.77.1/24"


def host_candidate_addresses() -> list[str]:
    """Non-loopback IPv4 addresses aioice will offer as host candidates."""
    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ipaddress.ip_address(ip.ip).is_loopback:
                found.append(ip.ip)
    return found


def ensure_host_address() -> str:
    """An address for host candidates, creating a dummy interface as root when there is none."""
    addresses = host_candidate_addresses()
    if addresses:
        return addresses[0]
    if os.geteuid() != 0:
        raise RuntimeError(
            "no non-loopback IPv4 interface for WebRTC host candidates (aioice ignores 127.0.0.1); "
            "run as root so a dummy interface can be created, or bring up a network interface"
        )
    for command in (
        ["ip", "link", "add", DUMMY_INTERFACE, "type", "dummy"],
        ["ip", "addr", "add", DUMMY_ADDRESS, "dev", DUMMY_INTERFACE],
        ["ip", "link", "set", DUMMY_INTERFACE, "up"],
    ):
        subprocess.run(command, check=True, capture_output=True)
    return DUMMY_ADDRESS.split("/")[0]


def host_address_unavailable() -> str | None:
    """Why WebRTC cannot run on this machine (no host-candidate address to be had), else None."""
    try:
        ensure_host_address()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        return str(exc)
    return None
