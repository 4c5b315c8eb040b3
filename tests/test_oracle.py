"""sipwatch decodes every public capture as Wireshark does (the tshark oracles).

For each capture in ``../shared/captures/public`` (real captures written by others, each with a
``NAME.oracle.json`` computed by tshark 4.0.17), the pipeline's counts of SIP messages, requests
by method and responses by status must equal tshark's. Where sipwatch deliberately differs, the
difference and the reason are listed in :data:`KNOWN_DIFFERENCES`, and the test checks that the
difference is exactly that, no more.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from sipwatch.capture.readers import open_capture
from sipwatch.pipeline import Pipeline, PipelineOptions
from sipwatch.records import MalformedRecord
from tests.conftest import PUBLIC, public_oracles, require_corpus

ORACLES = sorted(PUBLIC.glob("*.oracle.json")) if PUBLIC.is_dir() else []

#: capture -> (messages sipwatch counts, {method or status: sipwatch count}, why).
#: Each entry must be checked frame by frame against ``tshark -V``. There is none at present:
#: sipwatch counts SIP quoted inside ICMP errors as tshark does (private-test-sip.pcapng), takes
#: a header line without a colon as a flaw of a message rather than a non-message (the fuzzed
#: captures), reports start lines with control characters as malformed, not as messages (tshark
#: does not take them for SIP: fuzz-2006-06-26-2594.pcap has five), and counts TLS
#: records as encrypted SIP, not as messages (sip-tls-1.3-and-rtcp.pcap: 0 and 0).
KNOWN_DIFFERENCES: dict[str, tuple[int, dict[str, int], str]] = {}


def _counts(path: Path) -> tuple[int, Counter[str], Counter[str], int]:
    pipeline = Pipeline(PipelineOptions(), source=path.name)
    malformed = 0
    with open_capture(path) as source:
        for record in pipeline.run(source):
            if isinstance(record, MalformedRecord):
                malformed += 1
    summary = pipeline.summary
    responses = Counter({str(k): v for k, v in summary.responses_by_status.items()})
    return summary.messages, Counter(summary.requests_by_method), responses, malformed


def test_the_public_corpus_is_there() -> None:
    require_corpus()
    assert len(ORACLES) == 42


@pytest.mark.shared
@pytest.mark.parametrize("oracle", public_oracles())
def test_counts_agree_with_tshark(oracle: Path) -> None:
    expected = json.loads(oracle.read_text())
    capture = oracle.with_name(oracle.name.removesuffix(".oracle.json"))
    messages, requests, responses, _ = _counts(capture)
    ours = {**requests, **responses}
    theirs = {**expected["requests_by_method"], **expected["responses_by_status"]}
    known = KNOWN_DIFFERENCES.get(capture.name)
    if known is None:
        assert messages == expected["sip_messages"]
        assert requests == Counter(expected["requests_by_method"])
        assert responses == Counter(expected["responses_by_status"])
        return
    known_messages, known_counts, _why = known
    assert messages == known_messages
    keys = set(ours) | set(theirs)
    differing = {k: ours.get(k, 0) for k in keys if ours.get(k, 0) != theirs.get(k, 0)}
    assert differing == known_counts
