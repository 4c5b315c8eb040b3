"""The network interfaces ``sipwatch live`` can capture on (``sipwatch interfaces``).

Names come from ``socket.if_nameindex()``, which asks the kernel about the *current* network
namespace. ``/sys/class/net`` is only a fallback for the up/down state: sysfs shows the namespace
that mounted it, so inside ``unshare --net`` (how the tests and benchmarks run) it still lists
the host's interfaces. Addresses and flags come from ``ip -j addr`` (netlink, namespace-aware)
when iproute2 is installed; without it the list simply has no addresses.

``any`` is libpcap's pseudo-interface (Linux cooked capture of every interface) and is always
listed first, since it is the usual answer to "where does the SIP traffic go?".
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

ANY: Final = "any"
SYS_NET: Final = Path("/sys/class/net")
#: ``IFF_UP`` (administratively up) and ``IFF_LOOPBACK`` from <linux/if.h>.
_IFF_UP: Final = 0x1
_IFF_LOOPBACK: Final = 0x8


#: Kernel operational states (RFC 2863 ifOperStatus, as ``ip`` and sysfs spell them) in which an
#: interface passes packets. ``unknown`` is what drivers that do not track a carrier report (lo,
#: tun, many virtual devices): they pass packets whenever they are administratively up.
_PASSING: Final = frozenset({"up", "unknown"})


def link_state(up: bool, operstate: str) -> str:
    """``up`` or ``down``: whether the interface passes packets now.

    The kernel's operstate alone misleads: lo says ``unknown`` while it carries traffic. So an
    interface is ``up`` when it is administratively up (IFF_UP) and its operstate is ``up`` or
    ``unknown``; anything else (no carrier, ``lowerlayerdown``, ``dormant``, ``notpresent``, an
    unreadable state) is ``down``. ``sipwatch interfaces`` shows ``up`` for (up, ``up``),
    ``up, no carrier`` for (up, ``down``) and ``down`` otherwise, from the same two values as
    the JSON lines (docs/jsonl.md).
    """
    return "up" if up and operstate.lower() in _PASSING else "down"


@dataclass(frozen=True, slots=True)
class Interface:
    """One capturable interface: its name, whether it is up, and its addresses."""

    name: str
    #: Administratively up (IFF_UP).
    up: bool
    addresses: tuple[str, ...] = ()
    loopback: bool = False
    #: Whether it passes packets now, ``up`` or ``down`` (:func:`link_state`).
    state: str = ""
    description: str = ""


def interface_exists(name: str) -> bool:
    """True when ``name`` can be captured in this network namespace (``any`` always can)."""
    if name == ANY:
        return True
    try:
        socket.if_nametoindex(name)
    except OSError:
        return False
    return True


def interface_names() -> list[str]:
    """Every interface of the current network namespace, in kernel index order."""
    try:
        return [name for _, name in sorted(socket.if_nameindex())]
    except OSError:
        return sorted(p.name for p in SYS_NET.iterdir()) if SYS_NET.is_dir() else []


def _ip_addr_json() -> list[dict[str, Any]]:
    """``ip -j addr`` parsed, or an empty list when iproute2 is missing or says nothing useful."""
    ip = shutil.which("ip")
    if ip is None:
        return []
    try:
        proc = subprocess.run(
            [ip, "-j", "addr"], capture_output=True, text=True, timeout=5, check=False
        )
        data = json.loads(proc.stdout) if proc.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return []
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def _sysfs_flags(name: str) -> tuple[bool, bool, str]:
    """(up, loopback, operstate) from /sys/class/net; (False, False, "") when unreadable."""
    base = SYS_NET / name
    try:
        flags = int((base / "flags").read_text().strip(), 16)
        state = (base / "operstate").read_text().strip()
    except (OSError, ValueError):
        return False, False, ""
    return bool(flags & _IFF_UP), bool(flags & _IFF_LOOPBACK), state


def _from_ip(item: dict[str, Any]) -> Interface | None:
    name = item.get("ifname")
    if not isinstance(name, str):
        return None
    flags = item.get("flags") or []
    addresses = []
    for info in item.get("addr_info") or []:
        local, prefix = info.get("local"), info.get("prefixlen")
        if isinstance(local, str):
            addresses.append(f"{local}/{prefix}" if prefix is not None else local)
    up = "UP" in flags
    return Interface(
        name=name,
        up=up,
        addresses=tuple(addresses),
        loopback="LOOPBACK" in flags,
        state=link_state(up, str(item.get("operstate", ""))),
    )


def list_interfaces() -> list[Interface]:
    """``any`` first, then every interface of this namespace with its state and addresses."""
    result = [
        Interface(ANY, up=True, state="up", description="every interface (Linux cooked capture)")
    ]
    by_name = {iface.name: iface for item in _ip_addr_json() if (iface := _from_ip(item))}
    for name in interface_names():
        known = by_name.get(name)
        if known is not None:
            result.append(known)
            continue
        up, loopback, state = _sysfs_flags(name)
        result.append(Interface(name, up=up, loopback=loopback, state=link_state(up, state)))
    return result


__all__ = [
    "ANY",
    "Interface",
    "interface_exists",
    "interface_names",
    "link_state",
    "list_interfaces",
]
