"""The annotator against the real knowledge base."""

from __future__ import annotations

import pytest

from sipwatch.annotate import Annotator, annotation_json
from sipwatch.correlate.events import Finding, MessageInfo
from sipwatch.knowledge import load_knowledge
from tests.test_correlate_factory import PROXY, UAC, UAS, Run, request, response


@pytest.fixture(scope="module")
def kb():  # type: ignore[no-untyped-def]
    return load_knowledge()


def _420_run() -> tuple[Run, MessageInfo]:
    run = Run()
    invite = request("INVITE", 1, extra=[("Proxy-Require", "foo")])
    run.send(0.0, UAC, PROXY, invite)
    info = run.send(
        0.012, PROXY, UAC, response(invite, 420, to_tag=None, extra=[("Unsupported", "foo")])
    )
    return run, info


def test_420_annotation_joins_knowledge_and_diagnosis(kb) -> None:  # type: ignore[no-untyped-def]
    _, info = _420_run()
    ann = Annotator(kb).annotate_message(info.msg, info)
    assert ann is not None
    data = ann.to_json()
    assert list(data) == ["code", "title", "class", "summary", "remedy", "diagnosis"]
    assert data["code"] == 420 and data["title"] == "Bad Extension"
    assert data["class"] == kb.class_label(420, "en")
    assert data["summary"] == kb.response(420).text("en").summary
    assert "'foo'" in data["diagnosis"] and "12 ms earlier" in data["diagnosis"]
    assert data["remedy"].startswith("Drop 'foo' from the request or enable it at 10.0.0.2:5060")


def test_japanese_takes_titles_from_the_knowledge_base(kb) -> None:  # type: ignore[no-untyped-def]
    _, info = _420_run()
    ann = Annotator(kb, lang="ja").annotate_message(info.msg, info)
    assert ann is not None
    assert ann.title == kb.response(420).text("ja").reason
    assert (
        ann.klass == kb.class_label(420, "ja")
        and ann.summary == kb.response(420).text("ja").summary
    )


def test_explain_modes(kb) -> None:  # type: ignore[no-untyped-def]
    run = Run()
    invite = request("INVITE", 1)
    run.send(0.0, UAC, UAS, invite)
    ok = run.send(0.1, UAS, UAC, response(invite, 200))
    assert Annotator(kb).annotate_message(ok.msg, ok) is None
    every = Annotator(kb, explain="all").annotate_message(ok.msg, ok)
    assert every is not None and every.code == 200 and every.remedy is None
    assert every.diagnosis == "Answers INVITE CSeq 1 (frame 1, 100 ms earlier)."
    assert Annotator(kb, explain="none").annotate_message(ok.msg, ok) is None
    with pytest.raises(ValueError, match="explain"):
        Annotator(kb, explain="some")


def test_failure_without_correlation_gets_the_knowledge_remedy(kb) -> None:  # type: ignore[no-untyped-def]
    busy = response(request("INVITE", 1), 486)
    ann = Annotator(kb).annotate_message(busy)
    assert ann is not None and ann.code == 486 and ann.diagnosis is None
    assert ann.remedy == kb.response(486).text("en").fix[0]
    assert annotation_json(None) is None and annotation_json(ann) == ann.to_json()


def test_unregistered_code_is_annotated_with_its_class_rule(kb) -> None:  # type: ignore[no-untyped-def]
    odd = response(request("INVITE", 1), 299, "Strange")
    ann = Annotator(kb).annotate_message(odd)
    assert ann is not None and ann.code == 299 and ann.diagnosis is not None
    assert "299" in ann.diagnosis


def test_retransmitted_failure_is_not_annotated_twice(kb) -> None:  # type: ignore[no-untyped-def]
    run = Run()
    invite = request("INVITE", 1)
    run.send(0.0, UAC, UAS, invite)
    busy = response(invite, 486)
    first = run.send(0.1, UAS, UAC, busy)
    again = run.send(0.6, UAS, UAC, busy)
    annotator = Annotator(kb)
    assert annotator.annotate_message(first.msg, first) is not None
    assert annotator.annotate_message(again.msg, again) is None


def test_flagged_request_is_annotated(kb) -> None:  # type: ignore[no-untyped-def]
    run = Run()
    info = run.send(0.0, UAC, UAS, request("INVITE", 1, extra=[("Require", "precondtion")]))
    ann = Annotator(kb).annotate_message(info.msg, info)
    assert ann is not None and ann.code is None and ann.klass == "request" and ann.title == "INVITE"
    assert "precondtion" in ann.summary


def test_finding_remedy_filled_from_knowledge_only_when_needed(kb) -> None:  # type: ignore[no-untyped-def]
    run = Run()
    invite = request("INVITE", 1)
    run.send(0.0, UAC, UAS, invite)
    run.send(0.1, UAS, UAC, response(invite, 486))
    run.finish(5.0)
    failed = run.only("request-failed")
    assert failed.remedy == ""
    annotator = Annotator(kb)
    enriched = annotator.annotate_finding(failed)
    assert enriched.remedy == kb.response(486).text("en").fix[0]
    assert enriched.text == failed.text and enriched.get("status") == 486
    info = Finding("auth-challenge", "info", 0.0, "c", (1,), "ok", "", {"status": 401})
    assert annotator.annotate_finding(info) is info


def test_reason_and_warning_findings_explained(kb) -> None:  # type: ignore[no-untyped-def]
    run = Run()
    bye = request("BYE", 2, to_tag="b1", extra=[("Reason", "Q.850;cause=16")])
    run.send(0.0, UAC, UAS, bye)
    run.send(0.01, UAS, UAC, response(bye, 200, extra=[("Warning", '399 pbx "Call ended"')]))
    run.finish(5.0)
    annotator = Annotator(kb)
    reason = annotator.annotate_finding(run.only("reason"))
    assert reason.get("cause_name") == kb.q850(16).name
    assert kb.q850(16).name in reason.text and reason.remedy == ""  # info: nothing to fix
    warning = annotator.annotate_finding(run.only("warning-header"))
    assert warning.get("meaning") == kb.warning(399).text("en").summary
    assert warning.remedy == kb.warning(399).text("en").fix[0]


def test_notes_are_shown_once(kb) -> None:  # type: ignore[no-untyped-def]
    run = Run()
    invite = request("INVITE", 1)
    info = run.send(0.0, UAC, UAS, invite)
    again = run.send(0.5, UAC, UAS, invite)
    note = again.notes[0]
    assert Annotator(kb).shows_note(note)
    assert not Annotator(kb).shows_note(note, annotated=True)
    assert not Annotator(kb, explain="none").shows_note(note)
    assert info.notes == ()
