"""``sipwatch hep``'s source: HEP packets received on UDP and TCP sockets, as frames.

Capture agents (Kamailio's ``siptrace``, heplify, sngrep, OpenSIPS, FreeSWITCH...) send HEP to
a collector. This receiver is one: it listens on each ``--listen`` address, refuses senders
outside ``--allow`` (loopback only by default) and packets without the ``--auth-key`` when one
is given, and hands each accepted HEP packet to the pipeline as a frame, so ``hep`` and ``live``
share everything after the source (decoding, correlation, renderers, status line, ``--write``).

Each packet becomes one raw-IP frame (link type 101): an IPv4 or IPv6 header and a UDP header
from the agent to the address listened on, then the HEP packet as it arrived, stamped with the
agent's capture time (the arrival time for HEP v1, which carries none, and for packets that do
not decode). Frame times are then in the messages' time base, so the correlator's timers run on
it: an agent replaying an old capture (``sngrep -I FILE -H udp:...``) gives the same findings
as the capture itself. The decoder finds HEP in UDP by its shape (:mod:`sipwatch.capture.hep`), so
the message gets the agent's addresses, time and id exactly as from a capture file, and the
``--write`` file is an ordinary pcap that ``sipwatch pcap`` reads back to the same output and
Wireshark opens (it shows the HEP datagrams; HOMER's HEP plugin decodes them). A packet that
came over TCP is written as a datagram too: its TCP connection is not part of what the agents
saw. IP and UDP checksums are left 0 (Wireshark does not verify them by default).

Threads: one reader thread runs a selector over every socket and never waits for the analysis;
frames go through the same bounded :class:`~sipwatch.capture.live.FrameQueue` as ``live``
(full: counted as ``ours`` drops). The kernel's own drops are read per UDP socket from
``SO_RXQ_OVFL`` (Linux: a running count of datagrams dropped for a full receive buffer, sent as
ancillary data with each datagram), after asking for a large receive buffer (``SO_RCVBUFFORCE``
as root, else ``SO_RCVBUF``, which the kernel caps at ``net.core.rmem_max``).
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import selectors
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from sipwatch.capture.hep import HEP3_HEADER, HEP3_MAGIC, HepPacket, decode_hep, hep3_length
from sipwatch.capture.linktypes import LINKTYPE_RAW
from sipwatch.capture.live import QUEUE_LIMIT, FrameQueue, _Shared
from sipwatch.capture.types import Endpoint, Frame, format_endpoint
from sipwatch.capture.writer import CaptureWriter, WriterInterface
from sipwatch.errors import LiveCaptureError

#: Receive buffer asked for on each UDP socket: about 1 s of 20,000 HEP packets of 1.5 kB.
RCVBUF: Final = 32 << 20
#: Linux socket options the socket module does not name (asm-generic/socket.h).
SO_RXQ_OVFL: Final = 40
SO_RCVBUFFORCE: Final = 33
#: Datagrams read from one socket before the others get a turn.
_BURST: Final = 256
#: TCP connections open at once; more are refused (``too-many-connections``).
MAX_CONNECTIONS: Final = 1024
#: Largest UDP payload an IPv4 frame can carry (65,535 minus the IP and UDP headers).
_MAX_PAYLOAD: Final = 65_507

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: Final[tuple[Network, ...]] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """One ``--listen`` value: ``udp:HOST:PORT`` or ``tcp:HOST:PORT`` (IPv6 in brackets)."""

    transport: Literal["udp", "tcp"]
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.transport}:{format_endpoint((self.host, self.port))}"


def parse_listen(spec: str) -> ListenAddress:
    """``udp:0.0.0.0:9060``, ``tcp:[::]:9061``, ``udp:9060`` (all addresses); one-line errors."""
    transport, sep, rest = spec.partition(":")
    if not sep or transport not in ("udp", "tcp"):
        raise LiveCaptureError(f"--listen {spec!r}: expected udp:HOST:PORT or tcp:HOST:PORT")
    host, sep, port_text = rest.rpartition(":")
    if not sep:
        host, port_text = "0.0.0.0", rest
    host = host.removeprefix("[").removesuffix("]") or "0.0.0.0"
    try:
        port = int(port_text)
        ipaddress.ip_address(host)
    except ValueError:
        raise LiveCaptureError(
            f"--listen {spec!r}: expected an IP address and a port number"
        ) from None
    if not 0 <= port <= 65535:
        raise LiveCaptureError(f"--listen {spec!r}: port out of range")
    return ListenAddress("udp" if transport == "udp" else "tcp", host, port)


def parse_allow(specs: Sequence[str]) -> tuple[Network, ...]:
    """``--allow`` values (comma-separated CIDRs or addresses, repeatable); loopback if none."""
    networks: list[Network] = []
    for spec in specs:
        for raw in spec.split(","):
            item = raw.strip()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise LiveCaptureError(f"--allow {item!r}: not an address or CIDR") from None
    return tuple(networks) or LOOPBACK


def _plain(host: str) -> str:
    """An IPv4-mapped IPv6 address (a dual-stack socket's view of an IPv4 sender) as IPv4."""
    if host.startswith("::ffff:") and "." in host:
        return host[7:]
    return host


def raw_udp_frame(src: Endpoint, dst: Endpoint, payload: bytes) -> bytes:
    """An IPv4 (or IPv6) + UDP packet from ``src`` to ``dst`` carrying ``payload``.

    The two addresses must be of one family; an IPv4 sender on an IPv6 socket is given in
    its plain form and the destination is then taken as its IPv4 form or ``0.0.0.0``."""
    udp_len = 8 + len(payload)
    udp = struct.pack("!HHHH", src[1], dst[1], udp_len & 0xFFFF, 0)
    if ":" not in src[0]:
        dst_host = dst[0] if ":" not in dst[0] else "0.0.0.0"
        ip = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + udp_len,
            0,
            0x4000,
            64,
            17,
            0,
            socket.inet_aton(src[0]),
            socket.inet_aton(dst_host),
        )
        return ip + udp + payload
    dst_host = dst[0] if ":" in dst[0] else "::"
    ip6 = struct.pack(
        "!IHBB16s16s",
        0x60000000,
        udp_len,
        17,
        64,
        socket.inet_pton(socket.AF_INET6, src[0]),
        socket.inet_pton(socket.AF_INET6, dst_host),
    )
    return ip6 + udp + payload


class _Connection:
    """One agent's TCP connection: bytes waiting for the end of the current HEP packet."""

    __slots__ = ("local", "peer", "pending", "sock")

    def __init__(self, sock: socket.socket, peer: Endpoint, local: Endpoint) -> None:
        self.sock = sock
        self.peer = peer
        self.local = local
        self.pending = bytearray()


class HepReceiver:
    """Listen for HEP; frames come out of :meth:`get` in arrival order (the interface of
    :class:`~sipwatch.capture.live.LiveCapture`, so ``LiveSession`` drives either)."""

    def __init__(
        self,
        listens: Sequence[ListenAddress],
        *,
        allow: Sequence[Network] = LOOPBACK,
        auth_key: bytes | None = None,
        writer: CaptureWriter | None = None,
        queue_limit: int = QUEUE_LIMIT,
        rcvbuf: int = RCVBUF,
    ) -> None:
        if not listens:
            raise LiveCaptureError("give an address to listen on: --listen udp:0.0.0.0:9060")
        self.listens = list(dict.fromkeys(listens))
        self.interfaces = [str(listen) for listen in self.listens]
        self.allow = tuple(allow)
        self.auth_key = auth_key
        self.writer = writer
        self.queue = FrameQueue(queue_limit)
        self._shared = _Shared(writer, self.queue)
        self._rcvbuf = rcvbuf
        self.refused: Counter[str] = Counter()
        #: The addresses really listened on, in ``listens`` order (a port 0 made concrete).
        self.bound: list[ListenAddress] = []
        #: Receive buffer the kernel granted each UDP socket (bytes, as getsockopt reports).
        self.buffers: dict[str, int] = {}
        self._kernel_drops: dict[int, int] = {}
        self._selector = selectors.DefaultSelector()
        self._sockets: list[socket.socket] = []
        self._connections: dict[int, _Connection] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._error: str | None = None
        self.stopped = False
        self.started = False

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self.writer is not None:
            self.writer.check_writable()
        try:
            for listen in self.listens:
                self._open(listen)
        except BaseException:
            self.close()
            raise
        if self.writer is not None:
            self.writer.start([WriterInterface("hep", LINKTYPE_RAW)])
        self._thread = threading.Thread(target=self._run, name="sipwatch-hep", daemon=True)
        self._thread.start()
        self.started = True

    def _open(self, listen: ListenAddress) -> None:
        family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
        kind = socket.SOCK_DGRAM if listen.transport == "udp" else socket.SOCK_STREAM
        sock = socket.socket(family, kind)
        self._sockets.append(sock)
        try:
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            else:
                self._tune_udp(sock, listen)
            sock.bind((listen.host, listen.port))
            if kind == socket.SOCK_STREAM:
                sock.listen(128)
        except OSError as exc:
            raise LiveCaptureError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
        sock.setblocking(False)
        host, port = sock.getsockname()[:2]
        bound = ListenAddress(listen.transport, host, port)
        self.bound.append(bound)
        self._selector.register(sock, selectors.EVENT_READ, bound)

    def _tune_udp(self, sock: socket.socket, listen: ListenAddress) -> None:
        """A large receive buffer and the kernel's drop counter (best effort, both)."""
        for option in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
            try:
                sock.setsockopt(socket.SOL_SOCKET, option, self._rcvbuf)
                break
            except OSError:
                continue
        self.buffers[str(listen)] = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
            self._kernel_drops[sock.fileno()] = 0
        except OSError:
            pass

    def get(self, timeout: float) -> list[Frame]:
        """Frames received since the last call (waits up to ``timeout`` s when there are none)."""
        return self.queue.get(timeout)

    @property
    def running(self) -> bool:
        return len(self.queue) > 0 or not self._done.is_set()

    def stop(self) -> None:
        """Stop receiving; frames already received stay queued for :meth:`get`."""
        if self.stopped:
            return
        self.stopped = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        self._close_sockets()
        if self.writer is not None:
            with self._shared.lock:
                self.writer.close()

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> HepReceiver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _close_sockets(self) -> None:
        for conn in list(self._connections.values()):
            self._drop(conn)
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()
        self._selector.close()

    # -- the reader thread ----------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                frames: list[Frame] = []
                for key, _ in self._selector.select(0.1):
                    data = key.data
                    if isinstance(data, _Connection):
                        self._read_tcp(data, frames)
                    elif data.transport == "udp":
                        self._read_udp(key.fileobj, data, frames)  # type: ignore[arg-type]
                    else:
                        self._accept(key.fileobj)  # type: ignore[arg-type]
                if frames:
                    self._shared.deliver(0, frames)
        except Exception as exc:  # a bug must not leave the session waiting forever
            self._error = f"HEP receiver stopped: {type(exc).__name__}: {exc}"
        finally:
            self._done.set()
            self.queue.wake()

    def _accepts(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.allow)

    def _take(self, data: bytes, peer: Endpoint, local: Endpoint, frames: list[Frame]) -> None:
        """One HEP packet from ``peer``: checked against the auth key, then framed."""
        packet = decode_hep(data)
        if self.auth_key is not None:
            key = packet.auth_key if isinstance(packet, HepPacket) else None
            if key is None or not hmac.compare_digest(key, self.auth_key):
                self.refused["auth-key"] += 1
                return
        if len(data) > _MAX_PAYLOAD:
            self.refused["too-large"] += 1
            return
        frame = raw_udp_frame(peer, local, data)
        # The agent's time where it gives one, so the timers run in the time base of the
        # messages (an agent replaying a capture, as ``sngrep -I F -H`` does, sends times long
        # past); the arrival time for v1 and for packets the decoder will count as bad.
        when = packet.ts if isinstance(packet, HepPacket) else None
        frames.append(
            Frame(
                round(time.time(), 6) if when is None else when, LINKTYPE_RAW, frame, 0, len(frame)
            )
        )

    def _read_udp(self, sock: socket.socket, listen: ListenAddress, frames: list[Frame]) -> None:
        fd = sock.fileno()
        local = (_plain(listen.host), listen.port)
        for _ in range(_BURST):
            try:
                data, ancillary, _flags, address = sock.recvmsg(65535, 64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. an ICMP error reported on the socket: nothing to read
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(value) >= 4:
                    self._kernel_drops[fd] = struct.unpack("=I", value[:4])[0]
            peer = (_plain(address[0]), address[1])
            if not self._accepts(peer[0]):
                self.refused["not-allowed"] += 1
                continue
            self._take(data, peer, local, frames)

    def _accept(self, server: socket.socket) -> None:
        try:
            sock, address = server.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        peer = (_plain(address[0]), address[1])
        if not self._accepts(peer[0]):
            self.refused["not-allowed"] += 1
            sock.close()
            return
        if len(self._connections) >= MAX_CONNECTIONS:
            self.refused["too-many-connections"] += 1
            sock.close()
            return
        here = sock.getsockname()
        sock.setblocking(False)
        conn = _Connection(sock, peer, (_plain(here[0]), here[1]))
        self._connections[sock.fileno()] = conn
        self._selector.register(sock, selectors.EVENT_READ, conn)

    def _drop(self, conn: _Connection) -> None:
        self._connections.pop(conn.sock.fileno(), None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(conn.sock)
        conn.sock.close()

    def _read_tcp(self, conn: _Connection, frames: list[Frame]) -> None:
        """HEP over TCP: v3 packets back to back, each framed by its total length."""
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            if conn.pending:
                self.refused["tcp-incomplete"] += 1
            self._drop(conn)
            return
        buf = conn.pending
        buf += data
        while buf:
            total = hep3_length(buf)
            if total is None and len(buf) < HEP3_HEADER and HEP3_MAGIC.startswith(bytes(buf[:4])):
                return
            if total is None or total < HEP3_HEADER:
                # Not HEP, or the framing is lost: nothing later on this connection can be cut.
                self.refused["tcp-not-hep"] += 1
                self._drop(conn)
                return
            if len(buf) < total:
                return  # at most one packet (64 KiB, the length is 16 bits) waits
            packet = bytes(buf[:total])
            del buf[:total]
            self._take(packet, conn.peer, conn.local, frames)

    # -- what happened --------------------------------------------------------------------

    def flush_file(self) -> None:
        if self.writer is not None:
            with self._shared.lock:
                self.writer.flush()

    @property
    def frames(self) -> int:
        return self._shared.frames

    def drops(self) -> dict[str, int]:
        """``kernel`` (SO_RXQ_OVFL, summed over the UDP sockets) and ``ours`` (queue full)."""
        result: dict[str, int] = {}
        if self._kernel_drops:
            result["kernel"] = sum(self._kernel_drops.values())
        result["ours"] = self.queue.dropped
        return result

    def refusals(self) -> dict[str, int]:
        """Packets and connections refused, by reason (``not-allowed``, ``auth-key``...)."""
        return dict(self.refused)

    def failures(self) -> list[str]:
        return [self._error] if self._error else []

    def problems(self) -> list[str]:
        if self.writer is not None and self.writer.problem:
            return [self.writer.problem]
        return []


__all__ = [
    "LOOPBACK",
    "HepReceiver",
    "ListenAddress",
    "parse_allow",
    "parse_listen",
    "raw_udp_frame",
]
