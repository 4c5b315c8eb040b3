"""``sipwatch check PATH...``: recorded captures in, a pass/fail verdict out (for CI).

Each capture runs through the same pipeline as ``sipwatch pcap``; a :class:`RuleEngine` reads
the records instead of a renderer, and the verdicts go to the terminal (or JSON lines) and to
the optional JUnit and Markdown reports. Exit codes (docs/check.md): 0 every rule held, 1 a
rule failed, 2 the operator must fix something (bad rules file, a path that matched no capture,
a capture that could not be read, a report that could not be written).

An unreadable capture does not stop the run: the other captures are still checked and the
reports still written (JUnit marks it as an ``<error>``), because a CI job is more useful when
it shows everything at once; the exit code is 2 all the same.
"""

from __future__ import annotations

import glob
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Final

from sipwatch.capture.readers import open_capture
from sipwatch.capture.tls_keylog import TlsPlaintext
from sipwatch.check.config import CheckConfig, RulesLookup, load_rules
from sipwatch.check.engine import RuleEngine
from sipwatch.check.verdict import CaptureVerdict, error_verdict, exit_code, judge, verdict_lines
from sipwatch.errors import CaptureFormatError, CaptureReadError, SipwatchError
from sipwatch.pipeline import Pipeline, PipelineOptions
from sipwatch.render.check_terminal import CheckTerminalReport
from sipwatch.render.jsonl import dumps
from sipwatch.render.junit import write_junit
from sipwatch.render.markdown_report import write_markdown
from sipwatch.render.output import make_console
from sipwatch.render.safe import inert

#: File names a directory walk picks up (case-insensitive); a file named explicitly is always
#: read, whatever its name, because the reader sniffs the format from its first bytes.
CAPTURE_SUFFIXES: Final[tuple[str, ...]] = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz")
_GLOB_CHARS: Final = frozenset("*?[")


def is_capture_name(name: str) -> bool:
    return name.lower().endswith(CAPTURE_SUFFIXES)


def _walk(directory: str) -> list[str]:
    """Capture files under ``directory``, recursively, sorted; symlinked directories are not
    followed (no loops), hidden directories are skipped (``.git``)."""
    found: list[str] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(root, f) for f in sorted(files) if is_capture_name(f))
    return found


def find_captures(specs: list[str]) -> list[str]:
    """Expand the PATH arguments: files as given, directories walked, globs expanded.

    Every argument must yield at least one capture: a typo in a CI script should stop the job
    (exit 2), not check nothing and pass. Duplicates are dropped, first mention wins.
    """
    found: list[str] = []
    for spec in specs:
        if spec == "-":
            found.append(spec)
            continue
        matched: list[str]
        if os.path.isdir(spec):
            matched = _walk(spec)
        elif os.path.exists(spec):
            matched = [spec]
        elif _GLOB_CHARS.intersection(spec):
            matched = []
            for hit in sorted(glob.glob(spec, recursive=True)):
                if os.path.isdir(hit):
                    matched.extend(_walk(hit))
                elif is_capture_name(hit):
                    matched.append(hit)
        else:
            raise CaptureReadError(f"{spec}: no such file or directory")
        if not matched:
            raise CaptureReadError(f"no capture matched {spec!r}")
        found.extend(matched)
    return list(dict.fromkeys(found))


def check_capture(
    path: str, config: CheckConfig, strict: bool, options: PipelineOptions
) -> CaptureVerdict:
    """Run the pipeline on one capture and judge it; an unreadable file is an error verdict."""
    started = time.perf_counter()
    name = "stdin" if path == "-" else path
    try:
        source = open_capture(path, options.engine)
    except (CaptureFormatError, CaptureReadError) as exc:
        return error_verdict(name, str(exc))
    engine = RuleEngine(config)
    keylog = options.tls_keylog or config.tls_keylog
    try:
        tls = TlsPlaintext(path, keylog) if keylog else None
    except CaptureReadError as exc:
        source.close()
        return error_verdict(name, str(exc))
    pipeline = Pipeline(options, source=name, tls=tls)
    try:
        with source:
            for record in pipeline.run(source):
                engine.feed(record)
    except (CaptureFormatError, CaptureReadError) as exc:
        return error_verdict(name, str(exc))
    engine.damaged(source.stats.truncated, source.stats.problems)
    return judge(
        name,
        engine.finish(),
        config,
        strict=strict,
        duration=time.perf_counter() - started,
        messages=pipeline.summary.messages,
    )


def run_check(
    paths: list[str],
    out: IO[str],
    *,
    rules: str | None = None,
    strict: bool = False,
    fmt: str = "terminal",
    junit: str | None = None,
    markdown: str | None = None,
    color: bool | None = None,
    cwd: Path | None = None,
    options: PipelineOptions | None = None,
    err: IO[str] | None = None,
) -> int:
    """Check every capture in ``paths``; return the exit code (0, 1 or 2).

    ``rules`` is a rules file for every capture; without it each capture is judged by the
    nearest ``sipwatch.toml`` or ``pyproject.toml`` ``[tool.sipwatch]`` upward from its own
    folder, else from ``cwd``, else the default rules (:class:`RulesLookup`). Operator errors
    found before any capture is read (bad rules file, no capture matched) raise
    ``SipwatchError``.
    """
    given = load_rules(rules) if rules else None
    lookup = RulesLookup(cwd or Path.cwd())
    captures = find_captures(paths)
    configs = {path: given or lookup.for_capture(path) for path in captures}
    options = options or PipelineOptions()
    errors = err if err is not None else sys.stderr
    terminal = (
        CheckTerminalReport(make_console(out, color), strict=strict) if fmt != "jsonl" else None
    )
    verdicts: list[CaptureVerdict] = []
    for path in captures:
        config = configs[path]
        verdict = check_capture(path, config, strict or config.strict, options)
        verdict.rules_source = config.source
        verdicts.append(verdict)
        if verdict.error is not None:
            errors.write(f"sipwatch: error: {inert(verdict.error)}\n")
        if terminal is not None:
            terminal.capture(verdict)
        else:
            for line in verdict_lines(verdict):
                out.write(dumps(line) + "\n")
            out.flush()
    used = list({config.source: config for config in configs.values()}.values())
    if terminal is not None:
        terminal.finish(verdicts, used)
    _write_report("JUnit", junit, lambda target: write_junit(verdicts, target))
    _write_report("Markdown", markdown, lambda target: write_markdown(verdicts, target, strict))
    out.flush()
    return exit_code(verdicts)


def _write_report(what: str, target: str | None, write: Callable[[str], None]) -> None:
    if target is None:
        return
    try:
        write(target)
    except OSError as exc:
        raise SipwatchError(
            f"cannot write the {what} report to {target}: {exc.strerror or exc}"
        ) from None
