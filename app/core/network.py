"""This machine's names and addresses, for a server's Host allow-list."""

from __future__ import annotations

import contextlib
import logging
import socket

log = logging.getLogger(__name__)

WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", "[::]", ""})
"""Bind addresses that listen on every interface."""


def network_names() -> tuple[set[str], str]:
    """This machine's host names and addresses (for the Host allow-list), and the
    address to show people on the local network."""
    names = {socket.gethostname().lower()}
    with contextlib.suppress(OSError):
        names.add(socket.getfqdn().lower())
    try:
        import psutil

        for addresses in psutil.net_if_addrs().values():
            for address in addresses:
                if address.family == socket.AF_INET:
                    names.add(address.address)
    except Exception:  # psutil missing an interface table: the host names still work
        log.debug("could not list the network interfaces", exc_info=True)
    shown = ""
    with (
        contextlib.suppress(OSError),
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe,
    ):
        probe.connect(("10.255.255.255", 1))  # picks the outgoing interface; sends nothing
        shown = probe.getsockname()[0]
    if not shown or shown.startswith("127."):
        shown = socket.gethostname()
    names.add(shown.lower())
    return names, shown
