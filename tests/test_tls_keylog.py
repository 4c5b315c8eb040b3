"""SIP over TLS read with a key log (``--tls-keylog``), on the bundled ``tls-call`` capture.

The capture (captures/record_tls.py) holds two calls over TLS between Python ``ssl`` peers:
TLS 1.3 on port 5061 and TLS 1.2 on port 5071, with the key log the client wrote. tshark is the
oracle for where the SIP is: on 5061, its own SIP-over-TLS dissector finds each message and its
frame; sipwatch must find the same messages in the same frames on both ports.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sipwatch.capture.readers import open_capture
from sipwatch.capture.tls_keylog import TlsPlaintext
from sipwatch.cli import app
from sipwatch.commands.pcap import run_pcap
from sipwatch.pipeline import Pipeline, PipelineOptions
from tests.conftest import CAPTURES

CAPTURE = CAPTURES / "tls-call.pcap"
KEYS = CAPTURES / "tls-call.keys"

pytestmark = pytest.mark.tshark


@pytest.fixture(autouse=True)
def _need_tshark() -> None:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (apt-get install tshark)")


def _jsonl(options: PipelineOptions, path: Path = CAPTURE) -> list[dict[str, object]]:
    out = io.StringIO()
    run_pcap([str(path)], options, "jsonl", out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _messages(lines: list[dict[str, object]]) -> list[dict[str, object]]:
    return [line for line in lines if line["type"] == "message"]


def test_without_keys_tls_is_counted_as_encrypted() -> None:
    lines = _jsonl(PipelineOptions())
    assert _messages(lines) == []
    summary = lines[-1]
    assert summary["skipped"] == {"tls-encrypted": 25}
    assert summary["notes"] == {"tls-streams": 4}


def test_with_keys_both_tls_versions_decrypt_on_any_port() -> None:
    messages = _messages(_jsonl(PipelineOptions(tls_keylog=str(KEYS))))
    assert {m["transport"] for m in messages} == {"tls"}
    ladder = [(m["dst"].split(":")[1], m["method"], m["status"]) for m in messages]  # type: ignore[union-attr]
    one_call = [
        ("5061", "OPTIONS", None),
        ("40061", "OPTIONS", 200),
        ("5061", "INVITE", None),
        ("40061", "INVITE", 180),
        ("40061", "INVITE", 200),
        ("5061", "ACK", None),
        ("5061", "BYE", None),
        ("40061", "BYE", 200),
    ]
    expected = one_call + [
        (port.replace("5061", "5071").replace("40061", "40071"), method, status)
        for port, method, status in one_call
    ]
    assert ladder == expected


def test_frames_and_times_are_those_tshark_gives_the_sip() -> None:
    """On 5061 tshark's SIP-over-TLS dissector is the oracle for frame numbers and times."""
    oracle = subprocess.run(
        ["tshark", "-n", "-r", str(CAPTURE), "-o", f"tls.keylog_file:{KEYS}", "-Y",
         "sip && tcp.port == 5061", "-T", "fields", "-e", "frame.number", "-e",
         "frame.time_epoch", "-e", "sip.CSeq"],
        capture_output=True, text=True, check=True,
    ).stdout.split("\n")  # fmt: skip
    want = [line.split("\t") for line in oracle if line]
    messages = [m for m in _messages(_jsonl(PipelineOptions(tls_keylog=str(KEYS))))]
    got = [m for m in messages if "5061" in str(m["src"]) + str(m["dst"])]
    assert [m["frame"] for m in got] == [int(w[0]) for w in want]
    assert all(abs(float(m["ts"]) - float(w[1])) < 1e-6 for m, w in zip(got, want, strict=True))  # type: ignore[arg-type]
    assert [f"{m['cseq']} {m['method']}" for m in got] == [w[2] for w in want]


def test_summary_counts_decrypted_packets_not_as_encrypted() -> None:
    summary = _jsonl(PipelineOptions(tls_keylog=str(KEYS)))[-1]
    assert summary["messages"] == 16
    assert summary["notes"] == {"tls-decrypted": 16, "tls-decrypted-records": 16, "tls-streams": 4}
    assert summary["skipped"] == {"tls-encrypted": 9}  # handshakes, alerts, change cipher spec
    assert summary["problems"] == []


def test_a_key_log_without_these_sessions_decrypts_nothing(tmp_path: Path) -> None:
    other = tmp_path / "other.keys"
    other.write_text("CLIENT_RANDOM " + "00" * 32 + " " + "11" * 48 + "\n")
    lines = _jsonl(PipelineOptions(tls_keylog=str(other)))
    assert _messages(lines) == []
    assert lines[-1]["skipped"] == {"tls-encrypted": 25}


def _verdicts(output: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in output.splitlines()]
    return [line for line in lines if line["type"] == "verdict"]


def test_cli_pcap_and_check_take_the_key_log(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["pcap", str(CAPTURE), "--tls-keylog", str(KEYS), "--no-color"], env={"COLUMNS": "100"}
    )
    assert result.exit_code == 0, result.output
    assert "INVITE sip:bob@127.0.0.13:5071;transport=tls" in result.output
    assert "carried no SIP the key log decrypted" in result.output
    rules = tmp_path / "sipwatch.toml"
    rules.write_text("")  # the default rules
    plain = runner.invoke(app, ["check", str(CAPTURE), "--rules", str(rules), "-f", "jsonl"])
    (verdict,) = _verdicts(plain.output)
    assert (verdict["messages"], verdict["rules"]["no-sip"]) == (0, "warned")
    keyed = runner.invoke(
        app,
        ["check", str(CAPTURE), "--rules", str(rules), "-f", "jsonl", "--tls-keylog", str(KEYS)],
    )
    assert keyed.exit_code == 0, keyed.output
    (verdict,) = _verdicts(keyed.output)
    assert (verdict["messages"], verdict["verdict"]) == (16, "passed")


def test_the_rules_file_can_name_the_key_log(tmp_path: Path) -> None:
    rules = tmp_path / "sipwatch.toml"
    shutil.copy(KEYS, tmp_path / "session.keys")
    rules.write_text('tls_keylog = "session.keys"\n')
    result = CliRunner().invoke(app, ["check", str(CAPTURE), "--rules", str(rules), "-f", "jsonl"])
    assert result.exit_code == 0, result.output
    (verdict,) = _verdicts(result.output)
    assert verdict["messages"] == 16


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["pcap", str(CAPTURE), "--tls-keylog", "/nonexistent.keys"],
            "cannot read the TLS key log",
        ),
        (["pcap", "-", "--tls-keylog", str(KEYS)], "tshark cannot reread stdin"),
    ],
)
def test_operator_errors_are_one_line(args: list[str], said: str) -> None:
    result = CliRunner().invoke(app, args, input=b"")
    assert result.exit_code == 2
    assert said in result.output
    assert result.output.count("\n") == 1


def _pipeline_over(path: Path, tls: TlsPlaintext) -> Pipeline:
    pipeline = Pipeline(PipelineOptions(), source=str(path), tls=tls)
    with open_capture(str(path)) as source:
        for _ in pipeline.run(source):
            pass
    return pipeline


def test_tshark_is_not_started_for_a_capture_without_tls() -> None:
    tls = TlsPlaintext(str(CAPTURES / "auth-challenge.pcap"), str(KEYS))
    pipeline = _pipeline_over(CAPTURES / "auth-challenge.pcap", tls)
    assert not tls.started
    assert pipeline.summary.messages == 16


def test_without_tshark_the_tls_stays_encrypted_and_the_summary_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sipwatch.capture.tls_keylog.shutil.which", lambda name: None)
    pipeline = _pipeline_over(CAPTURE, TlsPlaintext(str(CAPTURE), str(KEYS)))
    assert pipeline.summary.messages == 0
    assert pipeline.summary.skipped["tls-encrypted"] == 25
    assert pipeline.summary.problems == [
        "SIP over TLS not decrypted: --tls-keylog reads it through tshark, which is not "
        "installed (apt-get install tshark)"
    ]
