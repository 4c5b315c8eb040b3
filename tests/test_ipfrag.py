"""IP fragment reassembly: order, overlaps, duplicates, and every bound."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from sipwatch.capture.ipfrag import FragmentReassembler

PAYLOAD = bytes(range(256)) * 6 + b"tail"  # 1540 bytes


def pieces(payload: bytes, size: int = 400) -> list[tuple[int, bool, bytes]]:
    out = []
    for off in range(0, len(payload), size):
        out.append((off, off + size < len(payload), payload[off : off + size]))
    return out


def feed(
    reasm: FragmentReassembler,
    frags: list[tuple[int, bool, bytes]],
    key: object = "k",
    ts: float = 0.0,
) -> list[tuple[int, bytes] | None]:
    return [reasm.add(key, ts, off, more, data, proto=17) for off, more, data in frags]


def test_in_order() -> None:
    reasm = FragmentReassembler()
    results = feed(reasm, pieces(PAYLOAD))
    assert results[:-1] == [None] * 3
    assert results[-1] == (17, PAYLOAD)
    assert len(reasm) == 0 and reasm.bytes_held == 0
    assert reasm.notes["ip-fragment-reassembled"] == 1


def test_reverse_order_completes_on_first_fragment() -> None:
    reasm = FragmentReassembler()
    results = feed(reasm, list(reversed(pieces(PAYLOAD))))
    assert results[-1] == (17, PAYLOAD)


@given(st.permutations(range(8)))
def test_any_order(order: list[int]) -> None:
    frags = pieces(PAYLOAD, 200)
    reasm = FragmentReassembler()
    results = feed(reasm, [frags[i] for i in order])
    assert results[-1] == (17, PAYLOAD)
    assert all(r is None for r in results[:-1])


def test_protocol_comes_from_offset_zero_fragment() -> None:
    """RFC 8200 §4.5: the Next Header of the first fragment is the datagram's."""
    reasm = FragmentReassembler()
    frags = pieces(PAYLOAD)
    assert reasm.add("k", 0, *frags[3], proto=99) is None
    assert reasm.add("k", 0, *frags[0], proto=6) is None
    assert reasm.add("k", 0, *frags[1], proto=99) is None
    assert reasm.add("k", 0, *frags[2], proto=99) == (6, PAYLOAD)


def test_duplicates_are_counted_and_ignored() -> None:
    reasm = FragmentReassembler()
    frags = pieces(PAYLOAD)
    results = feed(reasm, [frags[0], frags[0], frags[1], frags[2], frags[1], frags[3]])
    assert results[-1] == (17, PAYLOAD)
    assert reasm.notes["ip-fragment-duplicate"] == 2
    assert reasm.notes["ip-fragment-overlap"] == 0


def test_overlap_first_arrival_wins() -> None:
    reasm = FragmentReassembler()
    payload = b"A" * 16 + b"B" * 16 + b"C" * 8
    assert reasm.add("k", 0, 0, True, payload[:24], proto=17) is None
    # overlaps bytes 16..24 with different content: the earlier "B"s must survive
    assert reasm.add("k", 0, 16, True, b"X" * 16, proto=17) is None
    result = reasm.add("k", 0, 32, False, payload[32:], proto=17)
    assert result == (17, b"A" * 16 + b"B" * 8 + b"X" * 8 + b"C" * 8)
    assert reasm.notes["ip-fragment-overlap"] == 1


def test_fragment_beyond_known_end_is_cut() -> None:
    reasm = FragmentReassembler()
    assert reasm.add("k", 0, 16, False, b"E" * 8, proto=17) is None  # total = 24
    # cut to 24 bytes; where it overlaps the earlier fragment, the earlier bytes stay
    assert reasm.add("k", 0, 0, True, b"S" * 32, proto=17) == (17, b"S" * 16 + b"E" * 8)
    assert reasm.notes["ip-fragment-beyond-end"] == 1
    assert reasm.notes["ip-fragment-overlap"] == 1


def test_conflicting_last_fragment_is_counted() -> None:
    reasm = FragmentReassembler()
    assert reasm.add("k", 0, 8, False, b"1" * 8, proto=17) is None
    assert reasm.add("k", 0, 16, False, b"2" * 8, proto=17) is None
    assert reasm.notes["ip-fragment-conflicting-end"] == 1
    assert reasm.add("k", 0, 0, True, b"0" * 8, proto=17) == (17, b"0" * 8 + b"1" * 8)


def test_keys_are_independent() -> None:
    reasm = FragmentReassembler()
    a, b = pieces(b"a" * 800), pieces(b"b" * 800)
    assert reasm.add("A", 0, *a[0], proto=17) is None
    assert reasm.add("B", 0, *b[1], proto=17) is None
    assert reasm.add("A", 0, *a[1], proto=17) == (17, b"a" * 800)
    assert reasm.add("B", 0, *b[0], proto=17) == (17, b"b" * 800)


def test_timeout_on_capture_time() -> None:
    notes: Counter[str] = Counter()
    reasm = FragmentReassembler(notes, timeout=30.0)
    frags = pieces(PAYLOAD)
    assert reasm.add("k", 100.0, *frags[0], proto=17) is None
    reasm.expire(129.9)
    assert len(reasm) == 1
    reasm.expire(130.1)
    assert len(reasm) == 0
    assert notes["ip-fragment-timeout"] == 1
    # the rest arriving late starts a new datagram that never completes
    assert feed(reasm, frags[1:], ts=131.0) == [None] * 3
    assert len(reasm) == 1


def test_add_expires_old_datagrams_without_an_explicit_call() -> None:
    reasm = FragmentReassembler(timeout=30.0)
    reasm.add("old", 0.0, 0, True, b"x" * 8, proto=17)
    reasm.add("new", 31.0, 0, True, b"y" * 8, proto=17)
    assert len(reasm) == 1
    assert reasm.notes["ip-fragment-timeout"] == 1


def test_max_datagrams_evicts_oldest() -> None:
    reasm = FragmentReassembler(max_datagrams=3)
    for i in range(5):
        reasm.add(i, float(i), 0, True, b"z" * 8, proto=17)
    assert len(reasm) == 3
    assert reasm.notes["ip-fragment-evicted-count"] == 2
    # datagram 0 was evicted: its last fragment alone cannot complete it
    assert reasm.add(0, 5.0, 8, False, b"z" * 8, proto=17) is None
    # datagram 4 survived
    assert reasm.add(4, 5.0, 8, False, b"w" * 8, proto=17) == (17, b"z" * 8 + b"w" * 8)


def test_max_bytes_evicts_oldest() -> None:
    reasm = FragmentReassembler(max_bytes=1000)
    reasm.add("a", 0.0, 0, True, b"a" * 600, proto=17)
    reasm.add("b", 0.0, 0, True, b"b" * 600, proto=17)
    assert len(reasm) == 1
    assert reasm.bytes_held == 600
    assert reasm.notes["ip-fragment-evicted-bytes"] == 1


def test_oversize_datagram_is_dropped() -> None:
    reasm = FragmentReassembler()
    reasm.add("k", 0.0, 0, True, b"a" * 8, proto=17)
    assert reasm.add("k", 0.0, 65528, True, b"b" * 16, proto=17) is None
    assert len(reasm) == 0
    assert reasm.notes["ip-fragment-oversize"] == 1


def test_too_many_fragments() -> None:
    reasm = FragmentReassembler(max_fragments=4)
    for i in range(5):
        reasm.add("k", 0.0, i * 8, True, b"q" * 8, proto=17)
    assert len(reasm) == 0
    assert reasm.notes["ip-fragment-too-many"] == 1


def test_flush_counts_incomplete() -> None:
    reasm = FragmentReassembler()
    reasm.add("a", 0.0, 0, True, b"a" * 8, proto=17)
    reasm.add("b", 0.0, 8, False, b"b" * 8, proto=17)
    assert reasm.flush() == 2
    assert reasm.notes["ip-fragment-incomplete-at-end"] == 2
    assert len(reasm) == 0 and reasm.bytes_held == 0


@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(0, 70000),
            st.booleans(),
            st.binary(max_size=64),
            st.floats(0, 100),
        ),
        max_size=60,
    )
)
def test_random_fragments_never_raise_and_stay_bounded(
    frags: list[tuple[int, int, bool, bytes, float]],
) -> None:
    reasm = FragmentReassembler(max_datagrams=2, max_bytes=200)
    for key, off, more, data, ts in frags:
        result = reasm.add(key, ts, off, more, data, proto=17)
        if result is not None:
            assert len(result[1]) <= 65535
        assert len(reasm) <= 2
        assert reasm.bytes_held <= 200
