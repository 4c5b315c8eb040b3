"""Write pre-built rich Segments to a console with one file write, not one ``print`` per line.

``Console.print`` does a lot of work per call that a timeline line does not need: it measures
the terminal (several ``ioctl``\\ s), rebuilds the console options, collects and joins the
renderables, renders them through the Text layout engine and flushes the file. At thousands of
SIP messages per second that dominated the whole run, four times the cost of the analysis.

The terminal renderer therefore builds the Segments of a record itself and hands them here.
rich stays the single source of styling truth: every styled Segment is turned into text by
``Style.render`` with the console's own colour system, exactly as ``Console._render_buffer``
does (colours dropped first when the console has ``no_color``), so the bytes written are the
ones ``Console.print`` would have written for the same Segments.

The direct write is taken only when nothing else is listening to the console's output: no
render hook (a ``rich.live.Live`` display positions the cursor around every print), no
capture or ``with console:`` block buffering it, no recording, no console-wide style, no
legacy Windows console or Jupyter. rich has no public query for the first two; when its private
state is not there to read, the Segments go through ``Console.print``, which is always right.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import COLOR_SYSTEMS, Console
from rich.segment import Segment, Segments
from rich.style import Style


class SegmentWriter:
    """Turns Segments into the text a console would write and writes it to the console."""

    def __init__(self, console: Console) -> None:
        self.console = console
        name = console.color_system  # fixed when the console is made
        self._color_system = COLOR_SYSTEMS[name] if name else None
        self._without_color: dict[Style, Style] = {}

    def direct(self) -> bool:
        """True when writing to ``console.file`` ourselves is what ``print`` would do."""
        console = self.console
        return (
            console.style is None
            and not console.record
            and not console.is_jupyter
            and not console.legacy_windows
            and getattr(console, "_buffer_index", 1) == 0
            and not getattr(console, "_render_hooks", (None,))
        )

    def text(self, segments: Iterable[Segment]) -> str:
        """The text ``Console._render_buffer`` makes of ``segments`` for this console."""
        console = self.console
        system = self._color_system
        legacy = console.legacy_windows
        strip_colour = console.no_color and system is not None
        without_color = self._without_color
        not_terminal: bool | None = None
        parts: list[str] = []
        append = parts.append
        for text, style, control in segments:
            if style:
                if strip_colour:
                    colourless = without_color.get(style)
                    if colourless is None:
                        colourless = without_color[style] = style.without_color
                    append(colourless.render(text, color_system=system, legacy_windows=legacy))
                else:
                    append(style.render(text, color_system=system, legacy_windows=legacy))
            elif control:
                if not_terminal is None:
                    not_terminal = not console.is_terminal
                if not not_terminal:
                    append(text)
            else:
                append(text)
        return "".join(parts)

    def write(self, segments: list[Segment], flush: bool = True) -> None:
        """Write ``segments`` (whole lines, newlines included) and optionally flush the file.

        A broken pipe goes to ``console.on_broken_pipe`` as it would from ``print``.
        """
        console = self.console
        if not self.direct():
            if segments:
                # soft_wrap: the Segments are final (cropped already where print would crop).
                console.print(Segments(segments), end="", soft_wrap=True)
            return
        if console.quiet:
            return
        text = self.text(segments) if segments else ""
        try:
            file = console.file
            if text:
                try:
                    file.write(text)
                except UnicodeEncodeError as error:  # the same hint rich gives
                    error.reason = (
                        f"{error.reason}\n*** You may need to add PYTHONIOENCODING=utf-8 "
                        "to your environment ***"
                    )
                    raise
            if flush:
                file.flush()
        except BrokenPipeError:
            console.on_broken_pipe()
