"""Ties SDP to RTP: streams found by the addresses each party announced, and their verdicts.

Fed in capture order with SIP messages (:meth:`MediaTracker.sip`) and the UDP payloads that were
not SIP (:meth:`MediaTracker.packet`), it keeps per call the offer/answer state
(:mod:`sipwatch.media.negotiation`) and per UDP flow the RTP streams
(:class:`~sipwatch.media.rtp.StreamStats`). A flow belongs to a call when its destination (or,
with symmetric RTP, its source) is an address and port an SDP body announced; otherwise an RTP
v2 header alone makes it a stream labelled ``guess``.

Streams are closed when idle for :data:`STREAM_IDLE` seconds of capture time, or at the end of
the capture; a call's media findings are worked out once its streams are closed and the call
ended (or the capture did). Sans-I/O: its only clock is the timestamps it is given.
"""

from __future__ import annotations

import ipaddress
import struct
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final

from sipwatch.media.findings import call_findings, rejection_findings, sdp_findings
from sipwatch.media.model import MediaFinding, StreamOrigin, StreamReport
from sipwatch.media.mos import mos_estimate
from sipwatch.media.negotiation import Announced, CallMedia, Party, other
from sipwatch.media.rtp import StreamStats, is_rtcp, rtcp_report_blocks
from sipwatch.media.sdp import STATIC_PAYLOAD_TYPES, parse_sdp, sdp_bodies
from sipwatch.media.thresholds import MediaThresholds
from sipwatch.sip.message import SipMessage

#: The methods whose messages change a call's media state even without a body.
CALL_METHODS: Final = frozenset({"INVITE", "BYE", "CANCEL"})
#: Capture seconds without a packet after which a stream is closed and reported.
STREAM_IDLE: Final = 30.0
#: Bounds (docs/limits.md): flows and calls tracked at once, SSRCs per flow, RTCP reports kept.
MAX_FLOWS: Final = 4096
MAX_CALLS: Final = 4096
MAX_SSRCS_PER_FLOW: Final = 8
MAX_REPORTS: Final = 4096
#: A guessed stream is reported only with this many packets (a stray datagram is no stream).
GUESS_MIN_PACKETS: Final = 10

_HEADER: Final = struct.Struct("!HII")


@dataclass(frozen=True, slots=True)
class _Binding:
    """What an announced (address, port) belongs to."""

    call_id: str
    party: Party


@dataclass(slots=True)
class _Flow:
    """One UDP 4-tuple carrying RTP; SSRCs within it are separate streams."""

    src: str  # "ip:port"
    dst: str
    call_id: str
    origin: StreamOrigin
    receiver: Party | None
    last_ts: float
    streams: dict[int, StreamStats] = field(default_factory=dict)
    rtcp: bool = False


def _plausible(flow: _Flow, stats: StreamStats) -> bool:
    """Whether a stream no SDP announced still looks like RTP, not a protocol whose first byte
    happens to read as version 2 (NetBIOS, DNS answers...): enough packets, an assigned or
    dynamic payload type (RFC 3551 §6), ports outside the well-known range (RFC 3550 §11 uses
    dynamic ports), and sequence numbers that mostly count up by one."""
    if stats.packets < GUESS_MIN_PACKETS:
        return False
    payload_type = stats.payload_type
    if payload_type not in STATIC_PAYLOAD_TYPES and not 96 <= payload_type <= 127:
        return False
    ports = (flow.src.rsplit(":", 1)[1], flow.dst.rsplit(":", 1)[1])
    if any(int(port) < 1024 for port in ports):
        return False
    return 4 * (stats.sequence_errors + stats.duplicates) < stats.packets


def _text(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@lru_cache(maxsize=4096)
def _canonical(address: str) -> str:
    """An SDP address in the form the decoder writes (RFC 5952 for IPv6); names stay as given."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


class MediaTracker:
    """See the module docstring; one per pipeline run."""

    def __init__(self, thresholds: MediaThresholds | None = None, *, guess: bool = True) -> None:
        self.thresholds = thresholds or MediaThresholds()
        self.guess = guess
        self._calls: dict[str, CallMedia] = {}
        self._bindings: dict[tuple[str, int], _Binding] = {}
        self._flows: dict[tuple[str, int, str, int], _Flow] = {}
        self._closed: dict[str, list[StreamReport]] = {}
        self._reports: dict[int, tuple[int, int]] = {}  # ssrc -> (cumulative lost, jitter)
        self.rtp_packets = 0
        self.rtcp_packets = 0
        self.streams_reported = 0
        self.flows_over_limit = 0
        self._guesses = 0  # open flows labelled "guess" (an SDP body may explain them later)
        self._last_ts = 0.0
        #: Streams closed lately, whichever call they belong to (see ``call_findings``).
        self._recent: deque[StreamReport] = deque(maxlen=MAX_FLOWS)

    @property
    def calls(self) -> dict[str, CallMedia]:
        """Calls with SDP seen so far (the pipeline asks before handing a bodiless message)."""
        return self._calls

    # -- SIP ---------------------------------------------------------------------------------

    def sip(self, ts: float, frame: int, src_ip: str, msg: SipMessage) -> list[MediaFinding]:
        """One SIP message: its SDP bodies, and the call state it changes.

        The pipeline hands only messages with a body and those of INVITE, BYE and CANCEL
        (:data:`CALL_METHODS`): nothing else changes media state.
        """
        call_id = msg.call_id
        if not call_id:
            return []
        call = self._calls.get(call_id)
        is_request = msg.kind == "request"
        method = msg.method if is_request else msg.cseq_method
        if call is None:
            if method != "INVITE":
                return []
            if len(self._calls) >= MAX_CALLS:
                self._calls.pop(next(iter(self._calls)))
            call = self._calls[call_id] = CallMedia(call_id)
        findings: list[MediaFinding] = []
        if is_request:
            if method in {"BYE", "CANCEL"} and call.ended_ts is None:
                call.ended_ts = ts
        elif method == "INVITE" and call.answered_ts is None:
            if 200 <= msg.status < 300:
                call.answered_ts, call.answered_frame = ts, frame
            elif msg.status >= 300:
                call.ended_ts = ts
        if not is_request and msg.status in (488, 606) and call.pending_offer:
            # RFC 3261 §21.4.26: a 488 may carry the SDP the rejecting party would accept.
            own = [
                parse_sdp(part) for part in sdp_bodies(msg.header("content-type") or "", msg.body)
            ]
            theirs = next((sdp for sdp in own if sdp.media), None)
            findings.extend(rejection_findings(call, call.pending_offer, msg, frame, ts, theirs))
            call.pending_offer = None
            return findings
        body = msg.body
        if not body:
            return findings
        party = call.party_of(msg)
        if call.last_body.get(party) == body:
            # A retransmission or a copy on another hop: the same SDP again, no new offer.
            return findings
        call.last_body[party] = body
        label = msg.method if is_request else f"{msg.status} {method}"
        for part in sdp_bodies(msg.header("content-type") or "", body):
            sdp = parse_sdp(part)
            if not sdp.media:
                continue
            announced = Announced(
                party=party,
                sdp=sdp,
                frame=frame,
                ts=ts,
                signalling=src_ip,
                role="offer",
                message=label,
            )
            offer, recorded = call.add(announced)
            self._bind(call_id, recorded)
            findings.extend(sdp_findings(call, offer, recorded, msg))
        return findings

    def _bind(self, call_id: str, announced: Announced) -> None:
        for media in announced.sdp.media:
            if media.rejected or not media.address or media.hold_address:
                continue
            host = _canonical(media.address)
            binding = _Binding(call_id, announced.party)
            keys = [(host, media.port)]
            if media.rtcp_port and media.rtcp_port != media.port:
                keys.append((_canonical(media.rtcp_address or host), media.rtcp_port))
            for key in keys:
                if len(self._bindings) >= MAX_FLOWS and key not in self._bindings:
                    self._bindings.pop(next(iter(self._bindings)))
                self._bindings[key] = binding
            if self._guesses:
                self._adopt(host, media.port, binding)

    def _adopt(self, host: str, port: int, binding: _Binding) -> None:
        """A flow first seen as a guess that an SDP body now explains joins the call."""
        for (src_ip, sport, dst_ip, dport), flow in self._flows.items():
            if flow.origin != "guess":
                continue
            if (dst_ip, dport) == (host, port):
                self._guesses -= 1
                flow.call_id, flow.origin, flow.receiver = binding.call_id, "sdp", binding.party
            elif (src_ip, sport) == (host, port):
                self._guesses -= 1
                flow.call_id, flow.origin = binding.call_id, "sdp"
                flow.receiver = other(binding.party)

    # -- RTP / RTCP ----------------------------------------------------------------------------

    def packet(
        self,
        ts: float,
        frame: int,
        src_ip: str,
        sport: int,
        dst_ip: str,
        dport: int,
        data: bytes,
        off: int,
        end: int,
    ) -> None:
        """One UDP payload ``data[off:end]`` that was not SIP."""
        if end - off < 8 or data[off] & 0xC0 != 0x80:
            return
        key = (src_ip, sport, dst_ip, dport)
        flow = self._flows.get(key)
        second = data[off + 1]
        if 192 <= second <= 223:
            # RFC 5761 §4: RTCP (also when multiplexed on the RTP port).
            if flow is not None or is_rtcp(data, off):
                self.rtcp_packets += 1
                self._rtcp(data[off:end])
            return
        if end - off < 12:
            return
        if flow is None:
            flow = self._new_flow(key)
            if flow is None:
                return
        self.rtp_packets += 1
        flow.last_ts = ts
        seq, rtp_ts, ssrc = _HEADER.unpack_from(data, off + 2)
        stats = flow.streams.get(ssrc)
        payload_type = second & 0x7F
        if stats is None:
            if len(flow.streams) >= MAX_SSRCS_PER_FLOW:
                return
            stats = flow.streams[ssrc] = StreamStats(
                ssrc=ssrc,
                first_ts=ts,
                first_frame=frame,
                clock_rate=self._clock_rate(flow, payload_type),
                comfort_noise=self._payload_types(flow, "CN") | {13},
                events=self._payload_types(flow, "TELEPHONE-EVENT"),
            )
        stats.add(ts, frame, seq, rtp_ts, payload_type, second & 0x80 != 0)

    def _new_flow(self, key: tuple[str, int, str, int]) -> _Flow | None:
        src_ip, sport, dst_ip, dport = key
        if len(self._flows) >= MAX_FLOWS:
            self.flows_over_limit += 1
            return None
        binding = self._bindings.get((dst_ip, dport))
        receiver: Party | None = None
        if binding is not None:
            receiver = binding.party
        else:
            binding = self._bindings.get((src_ip, sport))
            if binding is not None:
                receiver = other(binding.party)
        if binding is None and not self.guess:
            return None
        flow = _Flow(
            src=_text(src_ip, sport),
            dst=_text(dst_ip, dport),
            call_id=binding.call_id if binding else "",
            origin="sdp" if binding else "guess",
            receiver=receiver,
            last_ts=0.0,
        )
        self._flows[key] = flow
        if binding is None:
            self._guesses += 1
        return flow

    def _payload(self, flow: _Flow, payload_type: int) -> tuple[str, int]:
        """(codec name, clock rate) of a payload type: the receiver's SDP, the sender's, then
        the static table of RFC 3551."""
        call = self._calls.get(flow.call_id) if flow.call_id else None
        if call is not None and flow.receiver is not None:
            for party in (flow.receiver, other(flow.receiver)):
                announced = call.latest.get(party)
                if announced is None:
                    continue
                for media in announced.sdp.media:
                    pt = media.payload(payload_type)
                    if pt is not None and pt.encoding:
                        return pt.name, pt.clock_rate
        static = STATIC_PAYLOAD_TYPES.get(payload_type)
        if static is not None:
            return f"{static[0]}/{static[1]}", static[1]
        return "", 0

    def _payload_types(self, flow: _Flow, encoding: str) -> frozenset[int]:
        """The payload types the call's SDP maps to ``encoding`` (upper case): ``CN`` (RFC
        3389) or ``TELEPHONE-EVENT`` (RFC 4733)."""
        call = self._calls.get(flow.call_id) if flow.call_id else None
        types: set[int] = set()
        for announced in call.latest.values() if call is not None else ():
            for media in announced.sdp.media:
                types.update(
                    pt.number for pt in media.payload_types if pt.encoding.upper() == encoding
                )
        return frozenset(types)

    def _clock_rate(self, flow: _Flow, payload_type: int) -> int:
        return self._payload(flow, payload_type)[1]

    def _rtcp(self, packet: bytes) -> None:
        for block in rtcp_report_blocks(packet):
            if len(self._reports) >= MAX_REPORTS and block.ssrc not in self._reports:
                self._reports.pop(next(iter(self._reports)))
            self._reports[block.ssrc] = (block.cumulative_lost, block.jitter)

    # -- closing -------------------------------------------------------------------------------

    def expire(self, ts: float) -> list[StreamReport | MediaFinding]:
        """Close the streams idle for :data:`STREAM_IDLE`, and judge the calls that ended."""
        self._last_ts = max(self._last_ts, ts)
        idle = [key for key, flow in self._flows.items() if ts - flow.last_ts > STREAM_IDLE]
        out: list[StreamReport | MediaFinding] = []
        for key in idle:
            out.extend(self._close(self._flows.pop(key)))
        for call_id, call in list(self._calls.items()):
            ended = call.ended_ts is not None and ts - call.ended_ts > STREAM_IDLE
            if ended and not any(flow.call_id == call_id for flow in self._flows.values()):
                out.extend(self._judge(self._calls.pop(call_id), ts))
        return out

    def finish(self, ts: float) -> list[StreamReport | MediaFinding]:
        """End of capture: every stream is reported, every call judged."""
        self._last_ts = max(self._last_ts, ts)
        out: list[StreamReport | MediaFinding] = []
        for flow in self._flows.values():
            out.extend(self._close(flow))
        self._flows.clear()
        for call in self._calls.values():
            out.extend(self._judge(call, self._last_ts))
        self._calls.clear()
        return out

    def _close(self, flow: _Flow) -> Iterable[StreamReport]:
        reports: list[StreamReport] = []
        for stats in flow.streams.values():
            if flow.origin == "guess" and not _plausible(flow, stats):
                continue
            reports.append(self._report(flow, stats))
        reports.sort(key=lambda r: (r.first_ts, r.first_frame))
        if flow.call_id:
            calls = self._closed.setdefault(flow.call_id, [])
            if len(calls) < 4 * MAX_SSRCS_PER_FLOW:
                calls.extend(reports)
        self.streams_reported += len(reports)
        self._recent.extend(reports)
        return reports

    def _report(self, flow: _Flow, stats: StreamStats) -> StreamReport:
        codec, _rate = self._payload(flow, stats.payload_type)
        expected = stats.expected
        lost = stats.lost
        mos = None
        if stats.clock_rate and codec and expected > 0:
            encoding = codec.split("/", 1)[0]
            mos = mos_estimate(encoding, max(lost, 0) / expected, stats.jitter_mean_ms)
        rtcp = self._reports.get(stats.ssrc)
        return StreamReport(
            call_id=flow.call_id,
            origin=flow.origin,
            src=flow.src,
            dst=flow.dst,
            ssrc=stats.ssrc,
            payload_type=stats.payload_type,
            codec=codec,
            clock_rate=stats.clock_rate,
            packets=stats.packets,
            expected=expected,
            lost=lost,
            duplicates=stats.duplicates,
            sequence_errors=stats.sequence_errors,
            jitter_max_ms=round(stats.jitter_max_ms, 3),
            jitter_mean_ms=round(stats.jitter_mean_ms, 3),
            longest_gap_ms=round(stats.longest_gap * 1000.0, 3),
            mos_estimate=mos,
            first_ts=stats.first_ts,
            last_ts=stats.last_ts,
            first_frame=stats.first_frame,
            last_frame=stats.last_frame,
            rtcp_lost=rtcp[0] if rtcp else None,
            rtcp_jitter_ms=(
                round(rtcp[1] * 1000.0 / stats.clock_rate, 3) if rtcp and stats.clock_rate else None
            ),
        )

    def _judge(self, call: CallMedia, ts: float) -> list[MediaFinding]:
        streams = self._closed.pop(call.call_id, [])
        return call_findings(
            call,
            streams,
            end_ts=call.ended_ts if call.ended_ts is not None else ts,
            capture_has_rtp=self.rtp_packets > 0,
            thresholds=self.thresholds,
            nearby=list(self._recent),
        )
