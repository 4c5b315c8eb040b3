"""``sipwatch report``: one self-contained HTML file to share a capture's calls.

No external script, font or style: the CSS is inline, and a small inline script adds sorting,
filtering and opening a message when its arrow is clicked. Without the script everything is
still there (the messages are ``<details>`` a click opens). Every string from the wire goes
through :func:`sipwatch.render.report_svg.text` (inert, then HTML-escaped, quotes too).

A large capture stays bounded: every call has a row in the list, but only the first
``limit`` calls of the list (worst problems first) get a section with a ladder and their
messages; the page says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Any, Final

from sipwatch.calls.ladder import build_ladder
from sipwatch.calls.model import Call, CallMessage
from sipwatch.records import Summary
from sipwatch.render.calls_table import day
from sipwatch.render.message_view import wire_lines
from sipwatch.render.report_svg import ladder_svg, text
from sipwatch.render.report_words import words
from sipwatch.render.terminal import clock

#: Calls given a full section (ladder, findings, messages) per capture by default.
DETAIL_LIMIT: Final = 200
#: Rows of a capture's call list laid out at once; the rest are in a collapsed list, so a
#: 10,000-call capture opens fast (a browser lays out a closed ``<details>`` only when opened).
LIST_LIMIT: Final = 1000
#: Bytes of one message's text shown in full; the rest is cut, and the cut said.
MESSAGE_TEXT_MAX: Final = 16384

_STYLE: Final = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.4em}h2{font-size:1.2em;border-bottom:1px solid #ccc}h3{font-size:1.05em}
table.calls{border-collapse:collapse;font-size:13px;display:block;overflow-x:auto}
table.calls th,table.calls td{border-bottom:1px solid #e4e4e4;padding:2px 8px;text-align:left;
white-space:nowrap;max-width:22em;overflow:hidden;text-overflow:ellipsis}
table.calls th{cursor:pointer;background:#f4f4f4}
tr.sev-error td.sev{color:#b00;font-weight:bold}tr.sev-warning td.sev{color:#a60}
tr.sev-info td.sev{color:#06c}
.state-failed{color:#b00}.state-answered{color:#070}.state-in-progress{color:#808}
section.call{margin:1.5em 0;padding:.5em 1em;border:1px solid #ddd;border-radius:6px}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 12px}
dl.facts dt{color:#666}dl.facts dd{margin:0}
svg.ladder{font:12px monospace;display:block;margin:1em 0}
svg.ladder .lane line{stroke:#999;stroke-dasharray:3 3}
svg.ladder text{text-anchor:middle;fill:#222}svg.ladder .addr{font-weight:bold}
svg.ladder .role{fill:#666;font-size:11px}svg.ladder .time{fill:#888}
svg.ladder .time,svg.ladder .pin,svg.ladder .self{text-anchor:start}
svg.ladder .arrow line{stroke:#333;stroke-width:1.4}svg.ladder .head{fill:#333}
svg.ladder .req line{stroke:#036}svg.ladder .ok line{stroke:#070}
svg.ladder .fail line{stroke:#b00}svg.ladder .fail text.lbl{fill:#b00}
svg.ladder .prov line{stroke:#999}svg.ladder .pin{fill:#a60;font-weight:bold}
ol.findings li{margin:.4em 0}.kind{font-weight:bold}.remedy{color:#050}
.severity-error{color:#b00}.severity-warning{color:#a60}.severity-info{color:#06c}
details{margin:2px 0}details pre{background:#f7f7f7;padding:6px;overflow-x:auto;
white-space:pre-wrap;word-break:break-all}
summary{cursor:pointer;font-family:monospace}p.limit{background:#fff4d6;padding:6px}
"""

_SCRIPT: Final = """
document.documentElement.setAttribute('data-script','ran');
addEventListener('load',()=>document.documentElement.setAttribute('data-load-ms',
  String(Math.round(performance.now()))));
for(const input of document.querySelectorAll('input.filter')){
  const rows=document.querySelectorAll('table.'+input.dataset.table+' tbody tr');
  input.addEventListener('input',()=>{const q=input.value.toLowerCase();
    for(const r of rows){r.hidden=q!==''&&!r.textContent.toLowerCase().includes(q);}});}
for(const th of document.querySelectorAll('table.calls th')){
  th.addEventListener('click',()=>{const body=th.closest('table').tBodies[0];
    const i=th.cellIndex,dir=th.dataset.dir==='asc'?-1:1;th.dataset.dir=dir>0?'asc':'desc';
    const key=r=>{const c=r.cells[i];return c.dataset.sort??c.textContent;};
    const rows=[...body.rows].sort((a,b)=>{const x=key(a),y=key(b);
      const nx=parseFloat(x),ny=parseFloat(y);
      return dir*(isNaN(nx)||isNaN(ny)?x.localeCompare(y):nx-ny);});
    body.append(...rows);});}
function openTarget(){const el=document.getElementById(location.hash.slice(1));
  if(el&&el.tagName==='DETAILS'){el.open=true;}}
addEventListener('hashchange',openTarget);openTarget();
"""


@dataclass(slots=True)
class CaptureReport:
    """One capture's part of the report."""

    source: str
    summary: Summary
    calls: list[Call]
    evicted: int = 0


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.0f} ms"


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} s"


def _counts(counter: Any) -> str:
    return ", ".join(f"{text(str(k), 80)} {v}" for k, v in sorted(counter.items())) or "0"


def _summary(report: CaptureReport, w: dict[str, str]) -> str:
    s = report.summary
    items = [
        (w["frames"], str(s.frames)),
        (w["messages"], str(s.messages)),
        (w["calls"], str(len(report.calls) + report.evicted)),
        (w["findings"], _counts(s.findings_by_kind)),
        (w["malformed"], _counts(s.malformed)),
    ]
    if s.evictions:
        items.append((w["evictions"], _counts(s.evictions)))
    states: dict[str, int] = {"answered": 0, "failed": 0, "in-progress": 0}
    for call in report.calls:
        states[call.state] += 1
    items.append((w["states"], ", ".join(f"{n} {w[state]}" for state, n in states.items())))
    facts = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in items)
    return f'<dl class="facts summary">{facts}</dl>'


def _row(call: Call, anchor: str | None, w: dict[str, str]) -> str:
    status = "" if call.final_status is None else str(call.final_status)
    link = text(call.call_id, 200)
    if anchor is not None:
        link = f'<a href="#{anchor}">{link}</a>'
    related = ", ".join(
        f"{text(r.relation)}{' (' + w['guess'] + ')' if r.guess else ''}: {text(r.call_id, 80)}"
        for r in call.related
    )
    kinds = ", ".join(sorted({text(f.kind, 60) for f in call.findings}))
    rank = {"none": 0, "info": 1, "warning": 2, "error": 3}.get(call.severity, 1)
    return (
        f'<tr class="call-row sev-{text(call.severity)}" data-call-id="{text(call.call_id, 200)}">'
        f'<td data-sort="{call.start_ts!r}">{day(call.start_ts)} {clock(call.start_ts)}</td>'
        f"<td>{link}</td><td>{text(call.from_party.text(), 120)}</td>"
        f"<td>{text(call.to_party.text(), 120)}</td><td>{text(call.method, 30)}</td>"
        f'<td class="state-{call.state}" data-sort="{status or 0}">{status or "…"}</td>'
        f'<td data-sort="{call.pdd_ms if call.pdd_ms is not None else -1}">'
        f"{_ms(call.pdd_ms)}</td>"
        f'<td data-sort="{call.duration_s if call.duration_s is not None else -1}">'
        f"{_seconds(call.duration_s)}</td>"
        f'<td class="sev" data-sort="{rank}">{text(call.severity)}</td>'
        f"<td>{kinds}</td><td>{related}</td></tr>"
    )


def _message_text(message: CallMessage) -> str:
    if message.msg is None:
        return ""
    raw = message.msg.raw
    start, headers, body = wire_lines(raw[:MESSAGE_TEXT_MAX])
    lines = [start, *headers]
    if body:
        lines += ["", body.decode("utf-8", "replace").replace("\r\n", "\n").rstrip("\n")]
    if len(raw) > MESSAGE_TEXT_MAX:
        lines.append(f"… ({len(raw) - MESSAGE_TEXT_MAX} more bytes)")
    return "\n".join(text(line) for line in "\n".join(lines).split("\n"))


def _call_link(call_id: str, links: dict[str, str]) -> str:
    """A related call's Call-ID, linked to its section when the page has one."""
    anchor = links.get(call_id)
    shown = text(call_id, 200)
    return f'<a href="#{anchor}">{shown}</a>' if anchor else shown


def _section(
    call: Call,
    anchor: str,
    calls: dict[str, Call],
    w: dict[str, str],
    links: dict[str, str],
) -> str:
    ladder = build_ladder(call, calls, related=False, fold=False)
    facts = [
        (w["start"], f"{day(call.start_ts)} {clock(call.start_ts)} UTC"),
        (w["from"], text(call.from_party.text(), 200)),
        (w["to"], text(call.to_party.text(), 200)),
        (w["method"], text(call.method, 30)),
        (
            w["status"],
            f'<span class="state-{call.state}">'
            + (
                f"{call.final_status} {text(call.final_reason, 120)}"
                if call.final_status is not None
                else w["in-progress"]
            )
            + "</span>",
        ),
        (w["pdd"], _ms(call.pdd_ms)),
        (w["duration"], _seconds(call.duration_s)),
    ]
    if call.final_by:
        agent = f" ({text(call.final_agent, 120)})" if call.final_agent else ""
        facts.append((w["final_by"], text(call.final_by) + agent))
    if call.ended_with:
        facts.append((w["ended"], f"{text(call.ended_with)} {text(call.ended_by)}"))
    elements = "; ".join(
        f"{text(e.address)} {text(e.role)}" + (f" ({text(e.agent, 120)})" if e.agent else "")
        for e in call.elements.values()
    )
    facts.append((w["elements"], elements))
    if call.related:
        facts.append(
            (
                w["related"],
                "; ".join(
                    f"{text(r.relation)}: {_call_link(r.call_id, links)} ({text(r.evidence, 200)}"
                    + (f", {w['guess']}" if r.guess else "")
                    + ")"
                    for r in call.related
                ),
            )
        )
    parts = [
        f'<section class="call" id="{anchor}"><h3>{text(call.call_id, 300)}</h3>',
        '<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>",
        ladder_svg(ladder, anchor),
    ]
    if ladder.findings:
        items = []
        for finding in ladder.findings:
            remedy = (
                f'<div class="remedy">{w["remedy"]}: {text(finding.remedy, 4000)}</div>'
                if finding.remedy
                else ""
            )
            items.append(
                f'<li class="finding severity-{text(finding.severity)}">'
                f'<span class="kind">{text(finding.severity)} {text(finding.kind, 80)}</span>: '
                f'<span class="text">{text(finding.text, 4000)}</span>{remedy}</li>'
            )
        parts.append(f'<h4>{w["findings"]}</h4><ol class="findings">{"".join(items)}</ol>')
    explained = _explanations(call.messages)
    if explained:
        parts.append(f'<h4>{w["explanations"]}</h4><dl class="facts explanations">{explained}</dl>')
    parts.append(f"<h4>{w['message_text']}</h4>")
    for message in call.messages:
        parts.append(
            f'<details class="message" id="{anchor}-f{message.frame}"><summary>'
            f"{message.frame} {clock(message.ts)} {text(message.src)} → {text(message.dst)} "
            f"{text(message.label, 200)}</summary><pre>{_message_text(message)}</pre></details>"
        )
    if call.dropped_messages:
        parts.append(f"<p>{w['dropped'].format(n=call.dropped_messages)}</p>")
    parts.append("</section>")
    return "".join(parts)


def _explanations(messages: Iterable[CallMessage]) -> str:
    """The knowledge base's words for each distinct annotated status of the call, once."""
    seen: set[object] = set()
    out = []
    for message in messages:
        annotation = message.annotation
        if not annotation or annotation.get("code") in seen:
            continue
        seen.add(annotation.get("code"))
        words_of = [str(annotation.get(key) or "") for key in ("summary", "diagnosis", "remedy")]
        body = " ".join(text(part, 2000) for part in words_of if part)
        code = annotation.get("code")
        title = text(str(annotation.get("title") or ""), 200)
        head = f"{text(str(code))} {title}" if code is not None else title
        out.append(f"<dt>{head}</dt><dd>{body}</dd>")
    return "".join(out)


def write_report(
    reports: Sequence[CaptureReport],
    out: IO[str],
    lang: str = "en",
    limit: int = DETAIL_LIMIT,
) -> None:
    """Write the whole page to ``out``."""
    w = words(lang)
    out.write(
        f'<!DOCTYPE html><html lang="{text(lang)}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width"><title>{w["title"]}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{w['title']}</h1>"
    )
    for c, report in enumerate(reports):
        out.write(
            f'<section class="capture" id="capture-{c}"><h2>{w["source"]}: '
            f"{text(report.source, 500)}</h2>{_summary(report, w)}"
        )
        if not report.calls:
            out.write(f"<p>{w['no_calls']}</p></section>")
            continue
        anchors = {call.call_id: f"c{c}-{n}" for n, call in enumerate(report.calls)}
        detailed = {call.call_id for call in report.calls[:limit]}
        table = f"calls-{c}"
        heads = ("start", "call_id", "from", "to", "method", "status", "pdd", "duration")
        titles = [*(w[k] for k in heads), w["severity"], w["findings"], w["related"]]
        head = "<thead><tr>" + "".join(f"<th>{t}</th>" for t in titles) + "</tr></thead>"
        out.write(
            f'<h3>{w["call_list"]}</h3><p><input class="filter" data-table="{table}" '
            f'placeholder="{w["filter"]}" aria-label="{w["filter"]}"> {w["sort_hint"]}</p>'
            f'<table class="calls {table}" id="{table}">{head}<tbody>'
        )
        for n, call in enumerate(report.calls):
            if n == LIST_LIMIT:
                more = len(report.calls) - LIST_LIMIT
                out.write(
                    f'</tbody></table><details class="more-calls"><summary>'
                    f"{w['more_calls'].format(n=more, limit=LIST_LIMIT)}</summary>"
                    f'<table class="calls {table}" id="{table}-more">{head}<tbody>'
                )
            anchor = anchors[call.call_id] if call.call_id in detailed else None
            out.write(_row(call, anchor, w))
        out.write("</tbody></table>")
        if len(report.calls) > LIST_LIMIT:
            out.write("</details>")
        if len(report.calls) > limit:
            more = len(report.calls) - limit
            out.write(f'<p class="limit">{w["limit"].format(limit=limit, more=more)}</p>')
        by_id = {call.call_id: call for call in report.calls}
        sections = {cid: anchors[cid] for cid in detailed}
        for call in report.calls[:limit]:
            out.write(_section(call, anchors[call.call_id], by_id, w, sections))
        out.write("</section>")
    out.write(f"<script>{_SCRIPT}</script></body></html>\n")
