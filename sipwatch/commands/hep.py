"""``sipwatch hep --listen udp:0.0.0.0:9060``: SIP reported by capture agents over HEP.

The ``live`` session with another source: :class:`~sipwatch.capture.hep_listen.HepReceiver`
instead of tcpdump. Everything else is ``live``'s (pipeline, renderers, status line, timers
run from the clock while idle, orderly stop on Ctrl-C with the summary, ``--write``), so the
two cannot drift apart. Each message's time is the agent's, its ``agent`` the agent's id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from sipwatch.calls import Call, CallTracker
from sipwatch.capture.hep_listen import HepReceiver, parse_allow, parse_listen
from sipwatch.commands.live import LiveOptions, LiveSession, _make_writer, run_live
from sipwatch.pipeline import PipelineOptions
from sipwatch.records import Summary
from sipwatch.render.output import Renderer
from sipwatch.render.status import StatusDisplay


@dataclass(slots=True)
class HepOptions:
    """What only ``sipwatch hep`` has."""

    listen: list[str]
    #: ``--allow`` values (CIDRs, comma-separated); empty: loopback only.
    allow: list[str] = field(default_factory=list)
    auth_key: str | None = None


class HepSession(LiveSession):
    """A live session fed by a HEP receiver; refusals join the summary's skipped packets."""

    receiver: HepReceiver

    def account(self, summary: Summary) -> None:
        for reason, count in self.receiver.refusals().items():
            summary.skipped[f"hep-refused-{reason}"] += count


def run_hep(
    live: LiveOptions,
    hep: HepOptions,
    options: PipelineOptions,
    fmt: str,
    out: IO[str],
    err: IO[str] | None = None,
    color: bool | None = None,
) -> int:
    """Receive, annotate and render until stopped; the exit codes of :func:`run_live`.

    Raises :class:`~sipwatch.errors.LiveCaptureError` (exit 2, one line) for a bad
    ``--listen``/``--allow`` value or an address that cannot be listened on.
    """
    listens = [parse_listen(spec) for spec in hep.listen]
    allow = parse_allow(hep.allow)
    auth_key = hep.auth_key.encode() if hep.auth_key is not None else None

    def make_session(
        live: LiveOptions,
        options: PipelineOptions,
        renderer: Renderer,
        status: StatusDisplay,
        flush: Callable[[], None],
        call_list: Callable[[list[Call]], None] | None = None,
        tracker: CallTracker | None = None,
    ) -> LiveSession:
        receiver = HepReceiver(listens, allow=allow, auth_key=auth_key, writer=_make_writer(live))
        session = HepSession(
            live,
            options,
            renderer,
            status,
            flush,
            call_list,
            tracker,
            capture=receiver,
            kind="hep",
        )
        session.receiver = receiver
        return session

    return run_live(live, options, fmt, out, err, color, make_session=make_session)
