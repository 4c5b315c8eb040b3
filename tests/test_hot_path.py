"""The shortcuts taken for speed give the same answers as the plain code they replace.

Each test here pins one shortcut (docs/performance.md lists them): the cached fields of
:class:`SipMessage`, the memoised header facts of the correlator, the fast builder of frozen
events, the id-keyed state tables, timers that let go of their callbacks, and the garbage
collector setting of a pipeline run.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from sipwatch.capture.readers import open_capture
from sipwatch.correlate import extensions, transactions
from sipwatch.correlate.dialogs import DIALOG_TABLE, dialog_key
from sipwatch.correlate.events import Note, RequestRef, new_note, new_request_ref
from sipwatch.correlate.statetable import StateTable, Violation
from sipwatch.correlate.timers import Deadlines
from sipwatch.correlate.transactions import INVITE_TABLE, message_facts
from sipwatch.pipeline import Pipeline, PipelineOptions, collector_tuned
from sipwatch.sip import message as message_module
from sipwatch.sip.headers import header_param, parse_params, split_values
from sipwatch.sip.message import SipMessage
from sipwatch.sip.parser import parse_message
from tests.conftest import CAPTURES, PUBLIC


def _messages() -> list[SipMessage]:
    """Every SIP message of the bundled captures and the public ones (when present)."""
    paths = sorted(CAPTURES.glob("*.pcap"))
    if PUBLIC.is_dir():
        paths += sorted(p for p in PUBLIC.iterdir() if p.suffix not in (".json", ".md"))
    found: list[SipMessage] = []
    for path in paths:
        pipeline = Pipeline(PipelineOptions(correlate=False))
        try:
            source = open_capture(path)
        except Exception:
            continue
        with source:
            for frame in source:
                for segment in pipeline._decoder.feed(frame):
                    parsed = parse_message(segment.data)
                    if isinstance(parsed, SipMessage):
                        found.append(parsed)
    return found


@pytest.fixture(scope="module")
def messages() -> list[SipMessage]:
    found = _messages()
    assert len(found) > 100
    return found


def _plain_top_via(msg: SipMessage) -> str:
    for raw in msg.header_all("via"):
        values = split_values(raw)
        if values:
            return values[0]
    return ""


def _plain_cseq(msg: SipMessage) -> tuple[int, str]:
    raw = msg.header("cseq")
    parts = raw.split() if raw is not None else []
    if not parts:
        return 0, ""
    text = parts[0]
    number = int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else 0
    return number, parts[1] if len(parts) > 1 else ""


def test_cached_message_fields_equal_the_header_grammar(messages: list[SipMessage]) -> None:
    for msg in messages:
        for _ in range(2):  # computed, then cached
            assert msg.call_id == (msg.header("call-id") or "").strip()
            assert msg.cseq == _plain_cseq(msg)
            assert msg.from_tag == (header_param(msg.header("from") or "", "tag") or "")
            assert msg.to_tag == (header_param(msg.header("to") or "", "tag") or "")
            assert msg.top_via == _plain_top_via(msg)
            assert msg.branch == (header_param(_plain_top_via(msg), "branch") or "")


def test_memoised_facts_equal_a_fresh_reading(messages: list[SipMessage]) -> None:
    for msg in messages:
        facts = message_facts(msg)
        top = facts.top_via
        branch = (header_param(top, "branch") or "") if top else ""
        assert facts.branch == branch
        from_value = msg.header("from")
        to_value = msg.header("to")
        assert facts.from_tag == (header_param(from_value or "", "tag") or "")
        assert facts.to_tag == (header_param(to_value or "", "tag") or "")
        method = facts.method
        key_m = "INVITE" if method == "ACK" else method
        if branch.startswith("z9hG4bK"):
            assert facts.tx_key == f"{branch}|{transactions.via_sent_by(top)}|{key_m}"
        else:
            via = " ".join(parse_params(top)[0].split()).lower()
            assert facts.tx_key == (
                f"2543|{facts.call_id}|{facts.cseq}|{key_m}|{facts.from_tag}|{via}"
            )
        assert message_facts(msg) == facts  # a second reading, from the memo, agrees


def test_option_tag_memo_equals_msg_tokens(messages: list[SipMessage]) -> None:
    registered = frozenset({"100rel", "timer", "replaces"})
    for msg in messages:
        expected: list[tuple[str, str]] = []
        for header in extensions.OPTION_TAG_HEADERS:
            for tag in msg.tokens(header):
                if tag not in registered and (header, tag) not in expected:
                    expected.append((header, tag))
        assert extensions.unregistered_tags(msg, registered) == expected


def test_memos_stay_bounded() -> None:
    for i in range(message_module._MEMO_MAX + 10):
        message_module.tag_param(f"<sip:a@h>;tag=t{i}")
        message_module.branch_param(f"SIP/2.0/UDP h;branch=z9hG4bK{i}")
        message_module._address(f"<sip:a{i}@h>")
        transactions._via_key_prefix(f"SIP/2.0/UDP h;branch=z9hG4bK{i}", f"z9hG4bK{i}")
    assert len(message_module._TAGS) <= message_module._MEMO_MAX
    assert len(message_module._BRANCHES) <= message_module._MEMO_MAX
    assert len(message_module._ADDRESSES) <= message_module._MEMO_MAX
    assert len(transactions._VIA_KEYS) <= transactions._MEMO_MAX
    assert message_module.tag_param("<sip:a@h>;tag=again") == "again"


def test_frozen_builder_gives_the_same_frozen_object() -> None:
    assert new_note("t", "warning", "r") == Note("t", "warning", "r")
    ref = new_request_ref("INVITE", 3, 7, 1.5)
    assert ref == RequestRef("INVITE", 3, 7, 1.5) and hash(ref) == hash(
        RequestRef("INVITE", 3, 7, 1.5)
    )
    with pytest.raises(AttributeError):  # FrozenInstanceError is an AttributeError
        ref.cseq = 4  # type: ignore[misc]


def _walk(table: StateTable[Any, Any, Any]) -> int:
    listed = 0
    for state, event in table.pairs():
        step = table.step(state, event)
        if (state, event) in table.table:
            assert step is table.table[(state, event)]
            listed += 1
        else:
            assert isinstance(step, Violation) and (step.state, step.input) == (state, event)
    return listed


def test_state_table_lookup_by_id_matches_the_table() -> None:
    assert _walk(INVITE_TABLE) == len(INVITE_TABLE.table)
    assert _walk(DIALOG_TABLE) == len(DIALOG_TABLE.table)
    assert dialog_key("c", "b", "a") == dialog_key("c", "a", "b") == ("c", "a", "b")


def test_timers_let_go_of_their_callbacks() -> None:
    deadlines = Deadlines()
    fired: list[float] = []
    kept = deadlines.schedule(1.0, fired.append)
    dropped = deadlines.schedule(2.0, fired.append)
    deadlines.cancel(dropped)
    deadlines.pop_due(5.0)
    assert fired == [1.0]
    for timer in (kept, dropped):
        assert timer.cancelled and timer.callback is not fired.append
        timer.callback(9.0)  # harmless
    assert fired == [1.0]


def test_pipeline_run_restores_the_collector(tmp_path: Path) -> None:
    before = gc.get_threshold()
    with collector_tuned():
        assert gc.get_threshold()[0] >= before[0]
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    pipeline = Pipeline(PipelineOptions())
    with open_capture(CAPTURES / "auth-challenge.pcap") as source:
        records = list(pipeline.run(source))
    assert records and gc.get_threshold() == before and gc.get_freeze_count() == 0
