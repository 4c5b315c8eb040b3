"""The ``sipwatch`` command line.

Commands stay thin (DESIGN §2 rule 7): parse options, call one function of the layer that owns
the work, hand the result to one renderer. Operator errors are turned into a one-line message
and an exit code in exactly one place, :data:`EXIT_CODES` with :func:`operator_errors`, so no
traceback reaches the user and every command fails the same way::

    sipwatch: error: unknown term 'tmer' (did you mean: timer?)
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import inspect
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Final, TextIO

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from sipwatch.errors import (
    CaptureFormatError,
    CaptureReadError,
    KnowledgeError,
    LiveCaptureError,
    RulesError,
    SipwatchError,
    UnknownTermError,
)
from sipwatch.knowledge import load_knowledge
from sipwatch.knowledge.lookup import resolve_code, resolve_term
from sipwatch.render.explain import show_compare, show_explain
from sipwatch.render.output import guard_output, silence
from sipwatch.render.safe import inert

if TYPE_CHECKING:
    from sipwatch.engine import Engine
    from sipwatch.pipeline import PipelineOptions

#: Operator error -> exit code. The first class the error is an instance of wins, so list
#: subclasses before their bases. 2 is "the operator must fix something" (as in usage errors).
EXIT_CODES: Final[tuple[tuple[type[SipwatchError], int], ...]] = (
    (UnknownTermError, 2),
    (KnowledgeError, 2),
    (CaptureFormatError, 2),
    (CaptureReadError, 2),
    (RulesError, 2),
    (LiveCaptureError, 2),
    (SipwatchError, 2),
)


def exit_code(exc: SipwatchError) -> int:
    """The exit code :data:`EXIT_CODES` assigns to ``exc``."""
    return next(code for cls, code in EXIT_CODES if isinstance(exc, cls))


def error_line(exc: SipwatchError) -> str:
    """The single stderr line for an operator error (with suggestions for unknown terms).

    Messages quote what the operator typed (a term, a path) and what a capture holds, so the
    whole line goes through :func:`inert`: an escape sequence in a file name is shown as
    ``\\x1b``, neither obeyed by the terminal nor dropped, and the name shown is the name given.
    """
    message = str(exc)
    if isinstance(exc, UnknownTermError) and exc.suggestions:
        message += f" (did you mean: {', '.join(exc.suggestions)}?)"
    return f"sipwatch: error: {inert(message)}"


@contextmanager
def operator_errors() -> Iterator[None]:
    """Map any :class:`SipwatchError` raised inside to its message and exit code.

    A closed output (``sipwatch pcap x.pcap | head -1``: the reader has what it wanted) ends
    the command quietly with exit 0, as ``live`` does; see :func:`guard_output`.
    """
    try:
        yield
    except SipwatchError as exc:
        # Written directly: click's echo would strip what looks like ANSI styling when stderr is
        # not a terminal, and the line is already inert.
        sys.stderr.write(error_line(exc) + "\n")
        sys.stderr.flush()
        raise typer.Exit(exit_code(exc)) from None
    except BrokenPipeError:
        silence(sys.stdout)
        raise typer.Exit(0) from None


def stdout(keep_going: bool = False) -> TextIO:
    """Standard output, guarded: a write error is one line and exit 2, a closed pipe is quiet."""
    return guard_output(sys.stdout, keep_going)


class Lang(enum.StrEnum):
    en = "en"
    ja = "ja"


class PageFormat(enum.StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


LangOption = Annotated[
    Lang, typer.Option("--lang", "-l", help="Language of annotations, findings and pages.")
]
FormatOption = Annotated[
    PageFormat,
    typer.Option("--format", "-f", help="Write the page as terminal text, JSON or Markdown."),
]


# -- help text ---------------------------------------------------------------------------------


class _PlainOption(TyperOption):
    """An option whose help row names its value in words, never a Python type.

    typer shows each value's type (``<bool>`` on a flag, ``<list[str]>``, ``<float range>``):
    noise to an operator, and it squeezes the descriptions at 80 columns. A flag shows
    nothing, a choice its values (``text|jsonl``), anything else its ``metavar`` (``SECONDS``);
    a numeric range is said in the description instead.
    """

    def display_type_rich(self, ctx: Any) -> str | None:
        if self.metavar is not None:
            return self.metavar
        if getattr(self, "is_flag", False) or self.type_descriptor.annotation is bool:
            return None
        if self.type_descriptor.is_choice:
            return self.display_type(ctx).strip("<>")
        return "VALUE"

    def _get_number_range_help_str(self) -> str | None:
        return None


class _PlainArgument(TyperArgument):
    """An argument whose row is its name (``FILE...``) and its description, without a type.

    On the usage line it is its ``metavar`` as Unix manuals write it (``FILE...``, optional
    ones in brackets: ``[IFACE...]``), instead of typer's ``{files}...``.
    """

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        name = self.metavar or self.name or ""
        return [name if self.required else f"[{name}]"]

    def _get_number_range_help_str(self) -> str | None:
        return None


def _plain(params: list[Any]) -> list[Any]:
    for param in params:
        if type(param) is TyperOption:
            param.__class__ = _PlainOption
        elif type(param) is TyperArgument:
            param.__class__ = _PlainArgument
    return params


class _Command(TyperCommand):
    """A command whose ``--help`` is plain words (see :class:`_PlainOption`)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain(super().get_params(ctx))


class _Group(TyperGroup):
    """The ``sipwatch`` group, with the same plain ``--help`` as its commands."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain(super().get_params(ctx))


app = typer.Typer(
    name="sipwatch",
    cls=_Group,
    rich_markup_mode=None,
    help="Every SIP message, what it means, why it happened, and what to do about it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # -h everywhere, as every Unix tool (click inherits the names in every subcommand).
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if not value:
        return
    from sipwatch.commands.about import version_lines

    sys.stdout.write("\n".join(version_lines()) + "\n")
    raise typer.Exit(0)


@app.callback()
def sipwatch(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            is_eager=True,
            callback=_show_version,
            help="Print the sipwatch, engine and Python versions and the tools found, then exit.",
        ),
    ] = False,
) -> None:
    """Every SIP message, what it means, why it happened, and what to do about it."""


@app.command(
    cls=_Command, short_help="Explain a response code, option tag, cause, warning or header."
)
def explain(
    term: Annotated[
        str,
        typer.Argument(
            metavar="TERM",
            help="A response code (420) or class (4xx), option tag (timer), method (REFER), "
            "header (Require, or its compact form k), q850:17, warning:399, "
            "subscription:noresource, or a Reason header value (Q.850;cause=17).",
            show_default=False,
        ),
    ],
    lang: LangOption = Lang.en,
    fmt: FormatOption = PageFormat.text,
) -> None:
    """Explain a SIP response code or class, option tag, method, header, Q.850 cause,
    Warning code or Subscription-State reason."""
    with operator_errors():
        kb = load_knowledge()
        show_explain(kb, resolve_term(kb, term), lang=lang.value, fmt=fmt.value, stream=stdout())


@app.command(cls=_Command, short_help="Compare two response codes that are easy to confuse.")
def compare(
    a: Annotated[
        str, typer.Argument(metavar="CODE", help="First response code.", show_default=False)
    ],
    b: Annotated[
        str, typer.Argument(metavar="CODE", help="Second response code.", show_default=False)
    ],
    lang: LangOption = Lang.en,
    fmt: FormatOption = PageFormat.text,
) -> None:
    """Compare two response codes that are easy to confuse (202 and 420)."""
    with operator_errors():
        kb = load_knowledge()
        first, second = resolve_code(kb, a), resolve_code(kb, b)
        if first.code == second.code:
            raise SipwatchError(f"compare needs two different codes (got {first.code} twice)")
        show_compare(kb, first, second, lang=lang.value, fmt=fmt.value, stream=stdout())


class Explain(enum.StrEnum):
    problems = "problems"
    all = "all"
    none = "none"


class StreamFormat(enum.StrEnum):
    text = "text"
    jsonl = "jsonl"


ExplainOption = Annotated[
    Explain,
    typer.Option(
        "--explain",
        help="Which messages get an inline explanation: problems (3xx-6xx, transfers, "
        "timeouts, malformed), all, or none.",
    ),
]
StreamFormatOption = Annotated[
    StreamFormat,
    typer.Option(
        "--format", "-f", help="Print a terminal timeline, or JSON lines (docs/jsonl.md)."
    ),
]
CallIdOption = Annotated[
    list[str] | None,
    typer.Option(
        "--call-id",
        metavar="PREFIX",
        help="Only calls whose Call-ID starts with PREFIX (repeatable).",
    ),
]
MethodOption = Annotated[
    list[str] | None,
    typer.Option(
        "--method",
        metavar="METHOD",
        help="Only this method and its responses (repeatable, or INVITE,BYE).",
    ),
]
StatusOption = Annotated[
    str | None,
    typer.Option(
        "--status",
        metavar="CODES",
        help="Only responses of these codes or classes (4xx,503), each with its request.",
    ),
]
PortOption = Annotated[
    list[int] | None,
    typer.Option(
        "--port",
        metavar="PORT",
        help="Only messages to or from this port (repeatable), and the findings with such a "
        "message (docs/findings.md).",
    ),
]
NotifyTimeoutOption = Annotated[
    float,
    typer.Option(
        "--notify-timeout",
        min=0.1,
        metavar="SECONDS",
        help="Seconds of capture time (at least 0.1) an accepted REFER may wait for its "
        "first NOTIFY before the transfer is reported as no-notify.",
    ),
]


class TimeFormat(enum.StrEnum):
    abs = "abs"
    rel = "rel"
    delta = "delta"


# The options of a capture session, the same for ``live`` and ``hep``.
RingOption = Annotated[
    int,
    typer.Option(
        "--ring", min=0, metavar="N", help="With --write: a ring of N files (oldest reused)."
    ),
]
RingSizeOption = Annotated[
    float | None,
    typer.Option(
        "--ring-size", min=0.001, metavar="MB", help="Size of each ring file in MB (default 100)."
    ),
]
DurationOption = Annotated[
    float | None,
    typer.Option("--duration", min=0.0, metavar="SECONDS", help="Stop after this many seconds."),
]
CountOption = Annotated[
    int | None,
    typer.Option("--count", "-c", min=1, metavar="N", help="Stop after N SIP messages shown."),
]
StatusEveryOption = Annotated[
    float,
    typer.Option(
        "--status-every",
        min=0.0,
        metavar="SECONDS",
        help="Without a terminal status line (JSON lines, a pipe): print the status to "
        "stderr every N seconds (0: never).",
    ),
]
TimeOption = Annotated[
    TimeFormat,
    typer.Option(
        "--time",
        "-t",
        help="Time column: abs, the UTC time of day (with the date on the first line and "
        "when it changes); rel, seconds since the first message shown; delta, seconds since "
        "the previous one (as tshark -t a, r, dd).",
    ),
]
ColorOption = Annotated[
    bool | None,
    typer.Option(
        "--color/--no-color",
        help="Colour the output, or not. Default: colour on a terminal, unless NO_COLOR is "
        "set; FORCE_COLOR colours into a pipe too.",
    ),
]


class EngineName(enum.StrEnum):
    python = "python"
    native = "native"


EngineOption = Annotated[
    EngineName | None,
    typer.Option(
        "--engine",
        help="python (the reference) or native (the compiled core; the default when built). "
        "Both print the same; see sipwatch --version.",
        show_default=False,
    ),
]


def chosen_engine(requested: EngineName | None) -> Engine:
    """The engine to run (sipwatch.engine); the one-line note when native is missing."""
    from sipwatch.engine import select_engine

    choice = select_engine(requested.value if requested is not None else None)
    if choice.note:
        sys.stderr.write(choice.note + "\n")
    return choice.engine


def pipeline_options(
    lang: Lang,
    explain: Explain,
    notify_timeout: float,
    call_id: list[str] | None,
    method: list[str] | None,
    status: str | None,
    port: list[int] | None,
    with_requests: bool = False,
    engine: EngineName | None = None,
) -> PipelineOptions:
    """The options every capture-reading command shares, as one value for the pipeline.

    ``with_requests``: the terminal shows, greyed, the request each ``--status`` response
    answers. A method name no registry lists gets a note on stderr (it may still be on the
    wire: any token can be a method), a name that is not a token a usage error.
    """
    from sipwatch.filters import MessageFilter
    from sipwatch.pipeline import PipelineOptions

    message_filter = MessageFilter.build(call_id, method, status, port, with_requests)
    registered = load_knowledge().registered_methods
    for name in sorted(message_filter.methods - registered):
        close = difflib.get_close_matches(name, sorted(registered), n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        sys.stderr.write(
            f"sipwatch: note: no registered SIP method is named {inert(name)} ({hint}"
            f"registered: {', '.join(sorted(registered))}); only messages that carry it "
            "are shown\n"
        )
    return PipelineOptions(
        lang=lang.value,
        explain=explain.value,
        notify_timeout=notify_timeout,
        filter=message_filter,
        engine=chosen_engine(engine),
    )


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """The options every capture-reading command takes (``pcap`` and ``live``), as parsed.

    The fields are the command-line options themselves: :func:`stream_command` lends them to a
    command's signature, so they are declared once here instead of once per command.
    """

    fmt: StreamFormatOption = StreamFormat.text
    explain: ExplainOption = Explain.problems
    lang: LangOption = Lang.en
    call_id: CallIdOption = None
    method: MethodOption = None
    status: StatusOption = None
    port: PortOption = None
    notify_timeout: NotifyTimeoutOption = 32.0
    time: TimeOption = TimeFormat.abs
    color: ColorOption = None
    engine: EngineOption = None

    def pipeline(self) -> PipelineOptions:
        """The pipeline's options; raises an operator error for a bad filter (e.g. --status)."""
        return pipeline_options(
            self.lang,
            self.explain,
            self.notify_timeout,
            self.call_id,
            self.method,
            self.status,
            self.port,
            with_requests=self.fmt == StreamFormat.text,
            engine=self.engine,
        )


TlsKeylogOption = Annotated[
    str | None,
    typer.Option(
        "--tls-keylog",
        metavar="KEYS",
        help="Decrypt SIP over TLS with this key log (NSS format, as SSLKEYLOGFILE writes); "
        "needs tshark.",
        show_default=False,
    ),
]


def stream_command(command: Callable[..., None]) -> Callable[..., None]:
    """Let ``command`` take the :class:`StreamOptions` fields as one ``stream`` parameter.

    typer reads a command's options from its signature, so the signature it is shown is the
    command's own with ``stream`` replaced, where it stands, by the fields of
    :class:`StreamOptions` (which keeps the order ``--help`` lists them in); a call gathers those
    values back into one :class:`StreamOptions`.
    """
    own = inspect.signature(command, eval_str=True)
    shared = inspect.signature(StreamOptions, eval_str=True).parameters
    kind = own.parameters["stream"].kind
    params: list[inspect.Parameter] = []
    for param in own.parameters.values():
        if param.name == "stream":
            params += [field.replace(kind=kind) for field in shared.values()]
        else:
            params.append(param)

    @functools.wraps(command)
    def run(**kwargs: Any) -> None:
        stream = StreamOptions(**{name: kwargs.pop(name) for name in shared})
        command(**kwargs, stream=stream)

    run.__signature__ = own.replace(parameters=params)  # type: ignore[attr-defined]
    return run


@app.command(cls=_Command, short_help="Annotate capture files: every SIP message, explained.")
@stream_command
def pcap(
    files: Annotated[
        list[str],
        typer.Argument(
            metavar="FILE...",
            help="Capture files (pcap, pcapng, NetMon, gzip); - reads stdin.",
            show_default=False,
        ),
    ],
    tls_keylog: TlsKeylogOption = None,
    *,
    stream: StreamOptions,
    frame: Annotated[
        int | None,
        typer.Option(
            "--frame",
            min=1,
            help="Show the SIP message of this frame in full (start line, headers in wire "
            "order, body) instead of the timeline.",
        ),
    ] = None,
) -> None:
    """Annotate capture files: a timeline of every SIP message, explanations, a summary."""

    from sipwatch.commands.pcap import run_frame, run_pcap

    with operator_errors():
        if frame is not None:
            code = run_frame(files, frame, stdout(), stream.color, stream.fmt.value)
        else:
            code = run_pcap(
                files,
                dataclasses.replace(stream.pipeline(), tls_keylog=tls_keylog),
                stream.fmt.value,
                stdout(),
                stream.color,
                time_format=stream.time.value,
            )
    raise typer.Exit(code)


@app.command(cls=_Command, short_help="Capture live and annotate every SIP message as it happens.")
@stream_command
def live(
    interface: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="IFACE...",
            help="Interface(s) to capture on; 'any' for all (see: sipwatch interfaces).",
            show_default=False,
        ),
    ] = None,
    more: Annotated[
        list[str] | None,
        typer.Option("--interface", "-i", metavar="IFACE", help="Another interface (repeatable)."),
    ] = None,
    bpf: Annotated[
        str | None,
        typer.Option(
            "--filter",
            metavar="BPF",
            help="Capture filter (BPF). Default: all UDP, TCP, SCTP and IP fragments; SIP is "
            "found by content on any port.",
        ),
    ] = None,
    write: Annotated[
        str | None,
        typer.Option(
            "--write", "-w", metavar="FILE", help="Save every captured packet to this pcap file."
        ),
    ] = None,
    ring: RingOption = 0,
    ring_size: RingSizeOption = None,
    duration: DurationOption = None,
    count: CountOption = None,
    *,
    stream: StreamOptions,
    status_every: StatusEveryOption = 0.0,
    calls: Annotated[
        bool,
        typer.Option(
            "--calls",
            help="Follow calls: on a terminal a live call list instead of the timeline; with "
            "--format jsonl a call record as each call ends (32 s of capture time after its "
            "last message) and for the rest at the stop.",
        ),
    ] = False,
) -> None:
    """Capture live and annotate every SIP message as it happens (Ctrl-C stops)."""

    from sipwatch.commands.live import LiveOptions, run_live

    with operator_errors():
        options = stream.pipeline()
        names = [*(interface or []), *(more or [])]
        if not names:
            raise LiveCaptureError("name an interface to capture on (see: sipwatch interfaces)")
        settings = LiveOptions(
            interfaces=names,
            bpf=bpf,
            write=write,
            ring=ring,
            ring_size_mb=ring_size,
            duration=duration,
            count=count,
            status_every=status_every,
            time_format=stream.time.value,
            calls=calls,
        )
        code = run_live(settings, options, stream.fmt.value, stdout(), sys.stderr, stream.color)
    raise typer.Exit(code)


class CallSort(enum.StrEnum):
    time = "time"
    problems = "problems"


@app.command(cls=_Command, short_help="List the calls of capture files, one row per call.")
def calls(
    files: Annotated[
        list[str],
        typer.Argument(
            help="Capture files (pcap, pcapng, NetMon, gzip); - reads stdin.", show_default=False
        ),
    ],
    fmt: StreamFormatOption = StreamFormat.text,
    sort: Annotated[
        CallSort,
        typer.Option(
            "--sort", help="time: in order of start; problems: worst findings first, newest first."
        ),
    ] = CallSort.time,
    status: Annotated[
        str | None,
        typer.Option("--status", help="Only calls whose final status is one of: 4xx,503."),
    ] = None,
    from_user: Annotated[
        str | None, typer.Option("--from", help="Only calls whose From user contains this.")
    ] = None,
    to_user: Annotated[
        str | None, typer.Option("--to", help="Only calls whose To user contains this.")
    ] = None,
    ip: Annotated[
        str | None, typer.Option("--ip", help="Only calls that crossed this IP address.")
    ] = None,
    ua: Annotated[
        str | None,
        typer.Option(
            "--ua", help="Only calls with an element whose Server/User-Agent contains this."
        ),
    ] = None,
    lang: LangOption = Lang.en,
    notify_timeout: NotifyTimeoutOption = 32.0,
    color: ColorOption = None,
) -> None:
    """List the calls of capture files: one row per call, and the totals."""

    from sipwatch.calls.select import CallFilter
    from sipwatch.commands.calls import run_calls

    with operator_errors():
        options = pipeline_options(lang, Explain.problems, notify_timeout, None, None, None, None)
        selection = CallFilter.build(status, from_user, to_user, ip, ua)
        code = run_calls(files, options, selection, sort.value, fmt.value, stdout(), color)
    raise typer.Exit(code)


@app.command(cls=_Command, short_help="Draw one call as a ladder diagram.")
def ladder(
    file: Annotated[str, typer.Argument(help="A capture file; - reads stdin.", show_default=False)],
    call_id: Annotated[
        str | None,
        typer.Option("--call-id", help="The call(s) whose Call-ID starts with this."),
    ] = None,
    frame: Annotated[
        int | None, typer.Option("--frame", min=1, help="The call of this frame.")
    ] = None,
    related: Annotated[
        bool,
        typer.Option(
            "--related/--no-related",
            help="Also draw the calls linked to it (transfer, B2BUA legs), tagged A, B, ...",
        ),
    ] = True,
    lang: LangOption = Lang.en,
    notify_timeout: NotifyTimeoutOption = 32.0,
    color: ColorOption = None,
) -> None:
    """Draw a call as a ladder diagram: one column per element, one arrow per message."""

    from sipwatch.commands.ladder import run_ladder

    with operator_errors():
        options = pipeline_options(lang, Explain.problems, notify_timeout, None, None, None, None)
        code = run_ladder(file, options, call_id, frame, related, stdout(), color)
    raise typer.Exit(code)


@app.command(cls=_Command, short_help="Write a self-contained HTML report of capture files.")
def report(
    files: Annotated[
        list[str],
        typer.Argument(
            help="Capture files (pcap, pcapng, NetMon, gzip); - reads stdin.", show_default=False
        ),
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", help="The HTML file to write.", show_default=False)
    ],
    lang: LangOption = Lang.en,
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            min=1,
            help="Calls per capture given a ladder and their messages (worst problems first); "
            "every call is listed.",
        ),
    ] = 200,
    notify_timeout: NotifyTimeoutOption = 32.0,
) -> None:
    """Write one self-contained HTML report: call list, ladders, findings, messages."""

    from sipwatch.commands.report import run_report

    with operator_errors():
        options = pipeline_options(lang, Explain.problems, notify_timeout, None, None, None, None)
        code = run_report(files, output, options, limit)
    raise typer.Exit(code)


@app.command(cls=_Command, short_help="Receive SIP from capture agents over HEP and annotate it.")
@stream_command
def hep(
    listen: Annotated[
        list[str],
        typer.Option(
            "--listen",
            metavar="PROTO:HOST:PORT",
            help="Where to receive HEP: udp:HOST:PORT or tcp:HOST:PORT, IPv6 in brackets "
            "(repeatable), e.g. udp:0.0.0.0:9060.",
            show_default=False,
        ),
    ],
    allow: Annotated[
        list[str] | None,
        typer.Option(
            "--allow",
            metavar="CIDR,...",
            help="Senders accepted: addresses or CIDRs, comma-separated (repeatable). "
            "Default: loopback only.",
        ),
    ] = None,
    auth_key: Annotated[
        str | None,
        typer.Option(
            "--auth-key", metavar="KEY", help="Refuse HEP packets without this authentication key."
        ),
    ] = None,
    write: Annotated[
        str | None,
        typer.Option(
            "--write",
            "-w",
            metavar="FILE",
            help="Save every HEP packet received to this pcap file.",
        ),
    ] = None,
    ring: RingOption = 0,
    ring_size: RingSizeOption = None,
    duration: DurationOption = None,
    count: CountOption = None,
    *,
    stream: StreamOptions,
    status_every: StatusEveryOption = 0.0,
) -> None:
    """Receive SIP from capture agents over HEP (Kamailio siptrace, heplify, sngrep...) and
    annotate it as it happens, like live (Ctrl-C stops)."""

    from sipwatch.commands.hep import HepOptions, run_hep
    from sipwatch.commands.live import LiveOptions

    with operator_errors():
        options = stream.pipeline()
        settings = LiveOptions(
            interfaces=list(listen),
            write=write,
            ring=ring,
            ring_size_mb=ring_size,
            duration=duration,
            count=count,
            status_every=status_every,
            time_format=stream.time.value,
        )
        receive = HepOptions(listen=list(listen), allow=list(allow or []), auth_key=auth_key)
        code = run_hep(
            settings, receive, options, stream.fmt.value, stdout(), sys.stderr, stream.color
        )
    raise typer.Exit(code)


@app.command(cls=_Command, short_help="List the interfaces sipwatch live can capture on.")
def interfaces(fmt: StreamFormatOption = StreamFormat.text) -> None:
    """List the interfaces sipwatch live can capture on, with their state and addresses."""

    from sipwatch.capture.interfaces import list_interfaces
    from sipwatch.render.status import show_interfaces

    with operator_errors():
        show_interfaces(list_interfaces(), stdout(), fmt.value)


@app.command(cls=_Command, short_help="Check captures against rules for CI (exit 0, 1 or 2).")
def check(
    paths: Annotated[
        list[str],
        typer.Argument(
            metavar="PATH...",
            help="Capture files, directories (searched recursively) or glob patterns.",
            show_default=False,
        ),
    ],
    rules: Annotated[
        str | None,
        typer.Option(
            "--rules",
            metavar="FILE",
            help="Rules file: a sipwatch.toml, or a pyproject.toml (its tool.sipwatch table). "
            "Default: the nearest one upward from the working directory.",
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail on warnings too, not only on failed rules.")
    ] = False,
    fmt: Annotated[
        StreamFormat,
        typer.Option(
            "--format", "-f", help="Print a terminal summary, or JSON lines (docs/check.md)."
        ),
    ] = StreamFormat.text,
    junit: Annotated[
        str | None,
        typer.Option("--junit", metavar="FILE", help="Also write a JUnit XML report to FILE."),
    ] = None,
    markdown: Annotated[
        str | None,
        typer.Option(
            "--markdown",
            metavar="FILE",
            help="Also write a Markdown report to FILE (e.g. $GITHUB_STEP_SUMMARY).",
        ),
    ] = None,
    lang: LangOption = Lang.en,
    notify_timeout: NotifyTimeoutOption = 32.0,
    color: ColorOption = None,
    tls_keylog: TlsKeylogOption = None,
    engine: EngineOption = None,
) -> None:
    """Check captures against rules for CI: exit 0 if all hold, 1 if one failed, 2 on errors."""

    from sipwatch.commands.check import run_check

    with operator_errors():
        options = pipeline_options(
            lang, Explain.problems, notify_timeout, None, None, None, None, engine=engine
        )
        if tls_keylog is not None:
            from sipwatch.capture.tls_keylog import check_keylog

            check_keylog(tls_keylog)
            options = dataclasses.replace(options, tls_keylog=tls_keylog)
        code = run_check(
            paths,
            stdout(keep_going=True),
            rules=rules,
            strict=strict,
            fmt=fmt.value,
            junit=junit,
            markdown=markdown,
            color=color,
            options=options,
            err=sys.stderr,
        )
    raise typer.Exit(code)


def main() -> None:
    """Console-script entry point (``[project.scripts] sipwatch``)."""
    app(prog_name="sipwatch")
