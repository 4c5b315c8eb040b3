//! The bindings: `sipwatch._core`, an abi3 extension module for CPython >= 3.11.
//!
//! No panic crosses into Python unhandled: every entry point runs under `catch_unwind`, and a
//! panic becomes a `CorePanic` exception with its message, which sipwatch reports as a
//! one-line error after printing everything decoded before it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::addr::address_text;
use crate::decode::{decode, Outcome};
use crate::detect;
use crate::reader::{Fact, Input, PcapRecords, PcapngBlocks, RawFrame};
use crate::sipsplit::split;

create_exception!(
    _core,
    CorePanic,
    PyException,
    "A bug in the native core: a Rust panic, caught."
);

/// How many distinct address texts the decoder keeps (as the Python decoder's cache).
const NAME_CACHE_MAX: usize = 65536;
/// Environment variable naming a frame number at which the decoder panics on purpose, so the
/// test suite can prove a panic becomes a one-line error. Unset in any real run.
const TEST_PANIC_ENV: &str = "SIPWATCH_CORE_TEST_PANIC_AT_FRAME";

thread_local! {
    static PANIC_AT: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Run `work`, turning a panic into `CorePanic` (the hook installed at import keeps the
/// default one from writing a backtrace to stderr, and records where it happened).
fn guarded<T>(work: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_owned());
            let place = PANIC_AT.with(|at| at.borrow().clone());
            Err(CorePanic::new_err(format!("{message} (at {place})")))
        }
    }
}

/// The next chunk comes from the Python reader's `more(at_least)`, so a broken gzip stream or a
/// read error is handled (and worded) exactly as for the Python engine.
struct PyInput<'a, 'py> {
    more: &'a Bound<'py, PyAny>,
}

impl Input for PyInput<'_, '_> {
    type Error = PyErr;

    fn more(&mut self, at_least: usize) -> PyResult<Vec<u8>> {
        let chunk = self.more.call1((at_least,))?;
        Ok(chunk.cast::<PyBytes>()?.as_bytes().to_vec())
    }
}

/// A fact as `(kind, args)` for the Python side, which owns its words.
fn fact_args<'py>(py: Python<'py>, fact: &Fact) -> PyResult<(&'static str, Bound<'py, PyTuple>)> {
    Ok(match *fact {
        Fact::CutHeader { record, have, need } => {
            ("cut-header", (record, have, need).into_pyobject(py)?)
        }
        Fact::CorruptLength { record, incl } => {
            ("corrupt-length", (record, incl).into_pyobject(py)?)
        }
        Fact::CutRecord { record, have, incl } => {
            ("cut-record", (record, have, incl).into_pyobject(py)?)
        }
        Fact::LongerThanSnaplen {
            record,
            caplen,
            snaplen,
        } => (
            "longer-than-snaplen",
            (record, caplen, snaplen).into_pyobject(py)?,
        ),
        Fact::TimeWentBack {
            record,
            ts,
            last,
            before_last,
        } => (
            "time-went-back",
            (record, ts, last, before_last).into_pyobject(py)?,
        ),
        Fact::CutBlock { after, left } => ("cut-block", (after, left).into_pyobject(py)?),
        Fact::BadByteOrder { after, bom } => (
            "bad-byte-order",
            (after, PyBytes::new(py, &bom)).into_pyobject(py)?,
        ),
        Fact::BadBlockLength { after, btype, blen } => {
            ("bad-block-length", (after, btype, blen).into_pyobject(py)?)
        }
        Fact::CutBlockBody {
            record,
            btype,
            have,
            blen,
        } => (
            "cut-block-body",
            (record, btype, have, blen).into_pyobject(py)?,
        ),
        Fact::BadTrailer {
            after,
            btype,
            trailer,
            blen,
        } => (
            "bad-trailer",
            (after, btype, trailer, blen).into_pyobject(py)?,
        ),
        Fact::ShortPacketBlock {
            record,
            btype,
            blen,
        } => (
            "short-packet-block",
            (record, btype, blen).into_pyobject(py)?,
        ),
        Fact::CaplenExceedsBlock { record, caplen } => {
            ("caplen-exceeds-block", (record, caplen).into_pyobject(py)?)
        }
        Fact::TooManyInterfaces { after, limit } => {
            ("too-many-interfaces", (after, limit).into_pyobject(py)?)
        }
        Fact::UnknownInterface { record, iface } => {
            ("unknown-interface", (record, iface).into_pyobject(py)?)
        }
    })
}

enum Format {
    Pcap(PcapRecords),
    Pcapng(PcapngBlocks),
}

/// The frames of a pcap or pcapng capture as `Frame` objects, iterable once.
///
/// `more` returns the next chunk (`ChunkedInput.more`), `report(kind, *args)` turns a fact
/// into the reader's counters and problem lines, `frame` is the `Frame` class.
#[pyclass(module = "sipwatch._core")]
struct Records {
    format: Format,
    more: Py<PyAny>,
    report: Py<PyAny>,
    frame: Py<PyAny>,
    stats: Py<PyAny>,
    facts: Vec<Fact>,
}

impl Records {
    fn step(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let more = self.more.bind(py);
        let mut input = PyInput { more };
        self.facts.clear();
        let found: Option<RawFrame> = match &mut self.format {
            Format::Pcap(records) => records.next(&mut input, &mut self.facts)?,
            Format::Pcapng(blocks) => blocks.next(&mut input, &mut self.facts)?,
        };
        let report = self.report.bind(py);
        for fact in &self.facts {
            let (kind, args) = fact_args(py, fact)?;
            let mut call = vec![PyString::new(py, kind).into_any()];
            call.extend(args.iter());
            report.call1(PyTuple::new(py, call)?)?;
        }
        let Some(frame) = found else { return Ok(None) };
        let buffer = match &self.format {
            Format::Pcap(records) => records.buffer(),
            Format::Pcapng(blocks) => blocks.buffer(),
        };
        let data = PyBytes::new(py, &buffer[frame.start..frame.end]);
        self.stats.bind(py).setattr("frames", frame.number)?;
        let made =
            self.frame
                .bind(py)
                .call1((frame.ts, frame.link, data, frame.number, frame.orig))?;
        Ok(Some(made.unbind()))
    }
}

#[pymethods]
impl Records {
    /// Records of a classic pcap file whose 24-byte header is already consumed.
    #[staticmethod]
    #[allow(clippy::too_many_arguments)]
    fn pcap(
        prefix: &[u8],
        little: bool,
        unit: f64,
        rec_len: usize,
        snaplen: u32,
        link: u32,
        more: Py<PyAny>,
        report: Py<PyAny>,
        frame: Py<PyAny>,
        stats: Py<PyAny>,
    ) -> Self {
        let records = PcapRecords::new(prefix.to_vec(), little, unit, rec_len, snaplen, link);
        Records {
            format: Format::Pcap(records),
            more,
            report,
            frame,
            stats,
            facts: Vec::new(),
        }
    }

    /// Blocks of a pcapng file from its first Section Header Block on.
    #[staticmethod]
    fn pcapng(
        prefix: &[u8],
        more: Py<PyAny>,
        report: Py<PyAny>,
        frame: Py<PyAny>,
        stats: Py<PyAny>,
    ) -> Self {
        let blocks = PcapngBlocks::new(prefix.to_vec());
        Records {
            format: Format::Pcapng(blocks),
            more,
            report,
            frame,
            stats,
            facts: Vec::new(),
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        guarded(|| self.step(py))
    }
}

/// Frames to SIP-carrying UDP segments for the common links (see `decode`).
///
/// `feed` returns a list of `Segment`s, or None when the frame is the Python decoder's. The
/// skip reasons and notes of the frames decoded here are kept until `take_counts`.
#[pyclass(module = "sipwatch._core")]
struct Decoder {
    segment: Py<PyAny>,
    udp: Py<PyString>,
    names: HashMap<Vec<u8>, Py<PyString>>,
    skipped: HashMap<&'static str, u64>,
    notes: [u64; 4],
    panic_at: Option<u64>,
}

impl Decoder {
    fn name(&mut self, py: Python<'_>, raw: &[u8]) -> PyResult<Py<PyString>> {
        if let Some(name) = self.names.get(raw) {
            return Ok(name.clone_ref(py));
        }
        let text = address_text(raw).ok_or_else(|| CorePanic::new_err("address of odd length"))?;
        if self.names.len() >= NAME_CACHE_MAX {
            self.names.clear();
        }
        let name = PyString::new(py, &text).unbind();
        self.names.insert(raw.to_vec(), name.clone_ref(py));
        Ok(name)
    }

    fn decode_one(
        &mut self,
        py: Python<'_>,
        data: &[u8],
        link: u32,
        ts: f64,
        number: u64,
    ) -> PyResult<Option<Py<PyList>>> {
        if self.panic_at == Some(number) {
            panic!("test panic at frame {number} ({TEST_PANIC_ENV})");
        }
        let (outcome, notes) = decode(link, data);
        let segment = match outcome {
            Outcome::Python => return Ok(None),
            Outcome::Skip(reason) => {
                *self.skipped.entry(reason).or_insert(0) += 1;
                None
            }
            Outcome::Sip {
                src,
                dst,
                sport,
                dport,
                payload,
            } => Some((src, dst, sport, dport, payload)),
        };
        for (total, add) in self.notes.iter_mut().zip([
            notes.vlan_tag,
            notes.ip_length_zero,
            notes.ip_truncated,
            notes.udp_truncated,
        ]) {
            *total += u64::from(add);
        }
        let list = PyList::empty(py);
        if let Some((src, dst, sport, dport, payload)) = segment {
            let src = (self.name(py, src)?, sport);
            let dst = (self.name(py, dst)?, dport);
            let made = self.segment.bind(py).call1((
                ts,
                number,
                src,
                dst,
                self.udp.clone_ref(py),
                PyBytes::new(py, payload),
            ))?;
            list.append(made)?;
        }
        Ok(Some(list.unbind()))
    }
}

#[pymethods]
impl Decoder {
    #[new]
    fn new(py: Python<'_>, segment: Py<PyAny>) -> Self {
        let panic_at = std::env::var(TEST_PANIC_ENV)
            .ok()
            .and_then(|v| v.parse().ok());
        Decoder {
            segment,
            udp: PyString::new(py, "udp").unbind(),
            names: HashMap::new(),
            skipped: HashMap::new(),
            notes: [0; 4],
            panic_at,
        }
    }

    /// Decode one frame: its segments (often none), or None for the Python decoder.
    fn feed(
        &mut self,
        py: Python<'_>,
        data: &[u8],
        link: u32,
        ts: f64,
        number: u64,
    ) -> PyResult<Option<Py<PyList>>> {
        guarded(|| self.decode_one(py, data, link, ts, number))
    }

    /// The skip reasons and notes counted since the last call, as two dicts (then reset).
    fn take_counts<'py>(
        &mut self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>)> {
        let skipped = PyDict::new(py);
        for (reason, count) in self.skipped.drain() {
            skipped.set_item(reason, count)?;
        }
        let notes = PyDict::new(py);
        let names = [
            "vlan-tag",
            "ip-length-zero",
            "ip-truncated",
            "udp-truncated",
        ];
        for (name, count) in names.iter().zip(self.notes.iter_mut()) {
            if *count > 0 {
                notes.set_item(*name, *count)?;
            }
            *count = 0;
        }
        Ok((skipped, notes))
    }
}

/// The start line and header split of plain SIP messages (see `sipsplit`), with header names
/// spelt and keyed through the Python parser's name table (lower-case name -> (name, key)).
#[pyclass(module = "sipwatch._core")]
struct SipSplitter {
    names: HashMap<String, (Py<PyString>, Py<PyString>)>,
}

impl SipSplitter {
    fn split_one<'py>(
        &self,
        py: Python<'py>,
        data: &[u8],
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let Some(found) = split(data) else {
            return Ok(None);
        };
        let headers = PyList::empty(py);
        let index = PyDict::new(py);
        for (position, (raw_name, value)) in found.headers.iter().enumerate() {
            let lower = raw_name.to_ascii_lowercase();
            let (name, key) = match self.names.get(&lower) {
                Some((name, key)) => (name.bind(py).clone(), key.bind(py).clone()),
                None => (PyString::new(py, raw_name), PyString::new(py, &lower)),
            };
            headers.append((name, PyString::new(py, value)))?;
            match index.get_item(&key)? {
                Some(slots) => slots.cast::<PyList>()?.append(position)?,
                None => index.set_item(key, PyList::new(py, [position])?)?,
            }
        }
        let fields = (
            found.response,
            found.method,
            found.uri,
            found.status,
            found.reason,
            headers,
            index,
            found.body_start,
        );
        Ok(Some(fields.into_pyobject(py)?))
    }
}

#[pymethods]
impl SipSplitter {
    #[new]
    fn new(table: &Bound<'_, PyDict>) -> PyResult<Self> {
        let mut names = HashMap::new();
        for (lower, entry) in table.iter() {
            let (name, key): (Bound<'_, PyString>, Bound<'_, PyString>) = entry.extract()?;
            names.insert(lower.extract::<String>()?, (name.unbind(), key.unbind()));
        }
        Ok(SipSplitter { names })
    }

    /// `(response, method, uri, status, reason, headers, index, body_start)`, or None when the
    /// Python parser must parse the whole message.
    fn split<'py>(&self, py: Python<'py>, data: &[u8]) -> PyResult<Option<Bound<'py, PyTuple>>> {
        guarded(|| self.split_one(py, data))
    }
}

/// `socket.inet_ntop` text of a 4- or 16-byte address (None for any other length).
#[pyfunction]
fn format_address(raw: &[u8]) -> PyResult<Option<String>> {
    guarded(|| Ok(address_text(raw)))
}

/// `sipwatch.sip.detect.looks_like_sip`, natively.
#[pyfunction]
fn looks_like_sip(data: &[u8]) -> PyResult<bool> {
    guarded(|| Ok(detect::looks_like_sip(data)))
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Panics are caught and reported by `guarded`; the hook only remembers where, instead of
    // printing a backtrace the one-line error would not match.
    std::panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        PANIC_AT.with(|at| *at.borrow_mut() = place);
    }));
    m.add("CorePanic", m.py().get_type::<CorePanic>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Records>()?;
    m.add_class::<Decoder>()?;
    m.add_class::<SipSplitter>()?;
    m.add_function(wrap_pyfunction!(format_address, m)?)?;
    m.add_function(wrap_pyfunction!(looks_like_sip, m)?)?;
    Ok(())
}
