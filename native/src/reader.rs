//! Record loops of pcap and pcapng files, as `sipwatch.capture.pcap` and `.pcapng` run them.
//!
//! The Python module parses the file header (so a broken one fails at open with its message)
//! and hands over the rest: the unread bytes and the function that returns the next chunk.
//! This module asks for chunks exactly when, and as large as, the Python loop does, keeps the
//! same buffer, and reports damage and oddities as [`Fact`]s: the words stay in Python, so
//! both engines print the same lines. Timestamps use the same float operations in the same
//! order (integer to double conversions round to nearest-even in both languages).

/// Where the bytes come from: the next chunk of at least `at_least` bytes, empty at the end.
pub trait Input {
    type Error;
    fn more(&mut self, at_least: usize) -> Result<Vec<u8>, Self::Error>;
}

/// Damage and oddities, in the order they happen (see the Python readers for the text).
#[derive(Debug, Clone, PartialEq)]
pub enum Fact {
    /// pcap: the capture ends inside a record header (`have` of `need` bytes).
    CutHeader {
        record: u64,
        have: usize,
        need: usize,
    },
    /// pcap: a record header claims more than [`MAX_RECORD`] bytes.
    CorruptLength { record: u64, incl: u32 },
    /// pcap: the capture ends inside a record's data.
    CutRecord { record: u64, have: usize, incl: u32 },
    /// A record holds more bytes than the snapshot length.
    LongerThanSnaplen {
        record: u64,
        caplen: u32,
        snaplen: u32,
    },
    /// A record is earlier than the one before it.
    TimeWentBack {
        record: u64,
        ts: f64,
        last: f64,
        before_last: f64,
    },
    /// pcapng: the capture ends inside a block header.
    CutBlock { after: u64, left: usize },
    /// pcapng: a section header with an unknown byte-order magic.
    BadByteOrder { after: u64, bom: [u8; 4] },
    /// pcapng: a block length below 12, not a multiple of 4, or above [`MAX_BLOCK`].
    BadBlockLength { after: u64, btype: u32, blen: u32 },
    /// pcapng: the capture ends inside a block.
    CutBlockBody {
        record: u64,
        btype: u32,
        have: usize,
        blen: u32,
    },
    /// pcapng: the trailing copy of the block length differs.
    BadTrailer {
        after: u64,
        btype: u32,
        trailer: u32,
        blen: u32,
    },
    /// pcapng: a packet block too short for its fixed fields.
    ShortPacketBlock { record: u64, btype: u32, blen: u32 },
    /// pcapng: a captured length that runs past its block.
    CaplenExceedsBlock { record: u64, caplen: u32 },
    /// pcapng: a packet on an interface no IDB declared.
    UnknownInterface { record: u64, iface: u32 },
    /// pcapng: an IDB beyond [`MAX_INTERFACES`] in one section, refused.
    TooManyInterfaces { after: u64, limit: usize },
}

impl Fact {
    /// True for the facts after which reading stops (the capture is truncated).
    pub fn stops(&self) -> bool {
        matches!(
            self,
            Fact::CutHeader { .. }
                | Fact::CorruptLength { .. }
                | Fact::CutRecord { .. }
                | Fact::CutBlock { .. }
                | Fact::BadByteOrder { .. }
                | Fact::BadBlockLength { .. }
                | Fact::CutBlockBody { .. }
                | Fact::BadTrailer { .. }
        )
    }
}

/// One frame: its bytes are `buffer()[start..end]` until the next call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawFrame {
    pub ts: f64,
    pub link: u32,
    pub start: usize,
    pub end: usize,
    pub number: u64,
    pub orig: u32,
}

/// pcap: a record claiming more than this is a corrupt header (libpcap's maximum snapshot
/// length is 256 KiB; generous headroom).
pub const MAX_RECORD: u32 = 16 << 20;
/// Seconds between two records beyond which the clock jumped (`sipwatch.capture.types`).
pub const CLOCK_JUMP: f64 = 86400.0;
/// pcapng: a block claiming more than this is corrupt.
pub const MAX_BLOCK: u32 = 64 << 20;
/// pcapng: interfaces one section may declare (a crafted file can hold millions of IDBs).
pub const MAX_INTERFACES: usize = 65_536;

/// The buffer and the record counters both formats keep.
struct Buffer {
    buf: Vec<u8>,
    pos: usize,
    number: u64,
    last_ts: f64,
    before_last: f64,
    done: bool,
}

impl Buffer {
    fn new(prefix: Vec<u8>) -> Self {
        Buffer {
            buf: prefix,
            pos: 0,
            number: 0,
            last_ts: 0.0,
            before_last: 0.0,
            done: false,
        }
    }

    /// `buf = buf[pos:] + chunk; pos = 0`, as the Python loops do.
    fn append(&mut self, chunk: &[u8]) {
        self.buf.drain(..self.pos);
        self.buf.extend_from_slice(chunk);
        self.pos = 0;
    }

    /// Count a frame at `ts`, reporting a timestamp that went back.
    fn timestamp(&mut self, ts: f64, facts: &mut Vec<Fact>) {
        // Back in time, or more than a day ahead (a reset or damaged clock): the Python side's
        // `CaptureStats.time_step` decides which it is and words it.
        if ts < self.last_ts || ts - self.last_ts > CLOCK_JUMP {
            facts.push(Fact::TimeWentBack {
                record: self.number,
                ts,
                last: self.last_ts,
                before_last: self.before_last,
            });
        }
        (self.before_last, self.last_ts) = (self.last_ts, ts);
    }
}

fn u32_at(buf: &[u8], at: usize, little: bool) -> u32 {
    let bytes = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
    if little {
        u32::from_le_bytes(bytes)
    } else {
        u32::from_be_bytes(bytes)
    }
}

fn u16_at(buf: &[u8], at: usize, little: bool) -> u16 {
    let bytes = [buf[at], buf[at + 1]];
    if little {
        u16::from_le_bytes(bytes)
    } else {
        u16::from_be_bytes(bytes)
    }
}

/// A pcapng timestamp: high then low 32 bits, in the section's byte order.
fn stamp_at(buf: &[u8], at: usize, little: bool) -> u64 {
    (u64::from(u32_at(buf, at, little)) << 32) | u64::from(u32_at(buf, at + 4, little))
}

/// The record loop of a classic pcap file, after its 24-byte header.
pub struct PcapRecords {
    state: Buffer,
    little: bool,
    unit: f64,
    rec_len: usize,
    snaplen: u32,
    link: u32,
}

impl PcapRecords {
    /// `unit` is seconds per fraction unit (1e-6 or 1e-9), `rec_len` 16 (or 24 for the
    /// "modified" format), `link` the link type with the FCS bits already masked off.
    pub fn new(
        prefix: Vec<u8>,
        little: bool,
        unit: f64,
        rec_len: usize,
        snaplen: u32,
        link: u32,
    ) -> Self {
        let snaplen = if snaplen == 0 { MAX_RECORD } else { snaplen };
        PcapRecords {
            state: Buffer::new(prefix),
            little,
            unit,
            rec_len,
            snaplen,
            link,
        }
    }

    pub fn buffer(&self) -> &[u8] {
        &self.state.buf
    }

    pub fn next<I: Input>(
        &mut self,
        input: &mut I,
        facts: &mut Vec<Fact>,
    ) -> Result<Option<RawFrame>, I::Error> {
        let rec_len = self.rec_len;
        let st = &mut self.state;
        if st.done {
            return Ok(None);
        }
        loop {
            let size = st.buf.len();
            let pos = st.pos;
            if size - pos < rec_len {
                let chunk = input.more(1)?;
                if chunk.is_empty() {
                    if size > pos {
                        facts.push(Fact::CutHeader {
                            record: st.number + 1,
                            have: size - pos,
                            need: rec_len,
                        });
                    }
                    st.done = true;
                    return Ok(None);
                }
                st.append(&chunk);
                continue;
            }
            let sec = u32_at(&st.buf, pos, self.little);
            let frac = u32_at(&st.buf, pos + 4, self.little);
            let incl = u32_at(&st.buf, pos + 8, self.little);
            let orig = u32_at(&st.buf, pos + 12, self.little);
            let end = pos + rec_len + incl as usize;
            if end > size {
                if incl > MAX_RECORD {
                    facts.push(Fact::CorruptLength {
                        record: st.number + 1,
                        incl,
                    });
                    st.done = true;
                    return Ok(None);
                }
                let chunk = input.more(end - size)?;
                if chunk.is_empty() {
                    facts.push(Fact::CutRecord {
                        record: st.number + 1,
                        have: size - pos - rec_len,
                        incl,
                    });
                    st.done = true;
                    return Ok(None);
                }
                st.append(&chunk);
                continue;
            }
            st.number += 1;
            let ts = f64::from(sec) + f64::from(frac) * self.unit;
            if incl > self.snaplen {
                facts.push(Fact::LongerThanSnaplen {
                    record: st.number,
                    caplen: incl,
                    snaplen: self.snaplen,
                });
            }
            st.timestamp(ts, facts);
            st.pos = end;
            return Ok(Some(RawFrame {
                ts,
                link: self.link,
                start: pos + rec_len,
                end,
                number: st.number,
                orig,
            }));
        }
    }
}

/// Per interface: link type, timestamp units per second, offset in seconds, snaplen.
#[derive(Debug, Clone, Copy)]
struct Interface {
    link: u32,
    units: f64,
    offset: f64,
    snaplen: u32,
}

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const OPB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;
const BOM_LE: [u8; 4] = [0x4d, 0x3c, 0x2b, 0x1a];
const BOM_BE: [u8; 4] = [0x1a, 0x2b, 0x3c, 0x4d];

/// Units per second for an `if_tsresol` byte: 10^-n, or 2^-n when the top bit is set. The
/// power is computed exactly as an integer and rounded once, as Python's `float(10 ** n)`.
fn tsresol(code: u8) -> f64 {
    if code & 0x80 != 0 {
        return (1u128 << (code & 0x7F)) as f64;
    }
    10u128.pow(u32::from(code.min(30))) as f64
}

/// The block loop of a pcapng file, after the first section header's byte-order check.
pub struct PcapngBlocks {
    state: Buffer,
    little: bool,
    interfaces: Vec<Interface>,
}

impl PcapngBlocks {
    pub fn new(prefix: Vec<u8>) -> Self {
        PcapngBlocks {
            state: Buffer::new(prefix),
            little: true,
            interfaces: Vec::new(),
        }
    }

    pub fn buffer(&self) -> &[u8] {
        &self.state.buf
    }

    /// draft-ietf-opsawg-pcapng §4.2: link type, snaplen and the timestamp options of an IDB.
    fn parse_idb(&self, pos: usize, blen: usize) -> Interface {
        let buf = &self.state.buf;
        let little = self.little;
        let link = u32::from(u16_at(buf, pos + 8, little));
        let snaplen = u32_at(buf, pos + 12, little);
        let mut units = 1e6;
        let mut offset = 0.0;
        let mut opt = pos + 16;
        let end = pos + blen - 4;
        while opt + 4 <= end {
            let code = u16_at(buf, opt, little);
            let length = usize::from(u16_at(buf, opt + 2, little));
            let value = opt + 4;
            if code == 0 || value + length > end {
                break;
            }
            if code == 9 && length >= 1 {
                units = tsresol(buf[value]);
            } else if code == 14 && length >= 8 {
                let raw: [u8; 8] = std::array::from_fn(|i| buf[value + i]);
                let seconds = if little {
                    i64::from_le_bytes(raw)
                } else {
                    i64::from_be_bytes(raw)
                };
                offset = seconds as f64;
            }
            opt = value + ((length + 3) & !3);
        }
        Interface {
            link,
            units,
            offset,
            snaplen: if snaplen == 0 { 1 << 31 } else { snaplen },
        }
    }

    fn emit(
        &mut self,
        iface: usize,
        stamp: Option<u64>,
        start: usize,
        caplen: u32,
        orig: u32,
        facts: &mut Vec<Fact>,
    ) -> RawFrame {
        let Interface {
            link,
            units,
            offset,
            snaplen,
        } = self.interfaces[iface];
        let st = &mut self.state;
        st.number += 1;
        // An SPB has no timestamp of its own (no stamp): time flows on from the last one.
        let ts = match stamp {
            None => st.last_ts,
            Some(stamp) => stamp as f64 / units + offset,
        };
        if caplen > snaplen {
            facts.push(Fact::LongerThanSnaplen {
                record: st.number,
                caplen,
                snaplen,
            });
        }
        st.timestamp(ts, facts);
        RawFrame {
            ts,
            link,
            start,
            end: start + caplen as usize,
            number: st.number,
            orig,
        }
    }

    pub fn next<I: Input>(
        &mut self,
        input: &mut I,
        facts: &mut Vec<Fact>,
    ) -> Result<Option<RawFrame>, I::Error> {
        if self.state.done {
            return Ok(None);
        }
        loop {
            let size = self.state.buf.len();
            let pos = self.state.pos;
            let little = self.little;
            if size - pos >= 28 {
                // The Python loop's fast path for a whole, well-formed EPB (it does not apply
                // the MAX_BLOCK check, so neither does this).
                let buf = &self.state.buf;
                let btype = u32_at(buf, pos, little);
                let blen = u32_at(buf, pos + 4, little) as usize;
                let iface = u32_at(buf, pos + 8, little) as usize;
                let caplen = u32_at(buf, pos + 20, little);
                let end = pos + blen;
                if btype == EPB
                    && end <= size
                    && blen >= 32
                    && blen & 3 == 0
                    && pos + 28 + caplen as usize <= end - 4
                    && iface < self.interfaces.len()
                    && u32_at(buf, end - 4, little) as usize == blen
                {
                    let stamp = stamp_at(buf, pos + 12, little);
                    let orig = u32_at(buf, pos + 24, little);
                    self.state.pos = end;
                    return Ok(Some(self.emit(
                        iface,
                        Some(stamp),
                        pos + 28,
                        caplen,
                        orig,
                        facts,
                    )));
                }
            }
            if size - pos < 12 {
                let chunk = input.more(1)?;
                if chunk.is_empty() {
                    if size > pos {
                        facts.push(Fact::CutBlock {
                            after: self.state.number,
                            left: size - pos,
                        });
                    }
                    self.state.done = true;
                    return Ok(None);
                }
                self.state.append(&chunk);
                continue;
            }
            let mut btype = u32_at(&self.state.buf, pos, self.little);
            if btype == SHB {
                // The SHB's byte-order magic decides how to read its own length (§4.1).
                let bom: [u8; 4] = std::array::from_fn(|i| self.state.buf[pos + 8 + i]);
                if bom == BOM_LE {
                    self.little = true;
                } else if bom == BOM_BE {
                    self.little = false;
                } else {
                    facts.push(Fact::BadByteOrder {
                        after: self.state.number,
                        bom,
                    });
                    self.state.done = true;
                    return Ok(None);
                }
                btype = u32_at(&self.state.buf, pos, self.little);
            }
            let little = self.little;
            let blen = u32_at(&self.state.buf, pos + 4, little);
            if blen < 12 || blen & 3 != 0 || blen > MAX_BLOCK {
                facts.push(Fact::BadBlockLength {
                    after: self.state.number,
                    btype,
                    blen,
                });
                self.state.done = true;
                return Ok(None);
            }
            let end = pos + blen as usize;
            if end > size {
                let chunk = input.more(end - size)?;
                if chunk.is_empty() {
                    facts.push(Fact::CutBlockBody {
                        record: self.state.number + 1,
                        btype,
                        have: size - pos,
                        blen,
                    });
                    self.state.done = true;
                    return Ok(None);
                }
                self.state.append(&chunk);
                continue;
            }
            let buf = &self.state.buf;
            let trailer = u32_at(buf, end - 4, little);
            if trailer != blen {
                facts.push(Fact::BadTrailer {
                    after: self.state.number,
                    btype,
                    trailer,
                    blen,
                });
                self.state.done = true;
                return Ok(None);
            }
            let number = self.state.number;
            if matches!(btype, EPB | OPB | SPB) && blen < if btype == SPB { 16 } else { 32 } {
                // §4.3/§4.4: an EPB or OPB needs 32 bytes for its fixed fields, an SPB 16.
                facts.push(Fact::ShortPacketBlock {
                    record: number + 1,
                    btype,
                    blen,
                });
                self.state.pos = end;
                continue;
            }
            let (iface, stamp, start, caplen, orig) = match btype {
                EPB => (
                    u32_at(buf, pos + 8, little),
                    Some(stamp_at(buf, pos + 12, little)),
                    pos + 28,
                    u32_at(buf, pos + 20, little),
                    u32_at(buf, pos + 24, little),
                ),
                SPB => {
                    // §4.4: no interface id (always 0), no timestamp; the captured length is the
                    // smaller of the original length, IDB 0's snaplen and what the block holds.
                    let orig = u32_at(buf, pos + 8, little);
                    let mut caplen = orig.min(blen - 16);
                    if let Some(first) = self.interfaces.first() {
                        caplen = caplen.min(first.snaplen);
                    }
                    (0, None, pos + 12, caplen, orig)
                }
                OPB => (
                    u32::from(u16_at(buf, pos + 8, little)),
                    Some(stamp_at(buf, pos + 12, little)),
                    pos + 28,
                    u32_at(buf, pos + 20, little),
                    u32_at(buf, pos + 24, little),
                ),
                _ => {
                    if btype == IDB && blen >= 20 {
                        if self.interfaces.len() < MAX_INTERFACES {
                            let interface = self.parse_idb(pos, blen as usize);
                            self.interfaces.push(interface);
                        } else {
                            facts.push(Fact::TooManyInterfaces {
                                after: number,
                                limit: MAX_INTERFACES,
                            });
                        }
                    } else if btype == SHB {
                        self.interfaces.clear();
                    }
                    self.state.pos = end;
                    continue;
                }
            };
            if start + caplen as usize > end - 4 {
                facts.push(Fact::CaplenExceedsBlock {
                    record: number + 1,
                    caplen,
                });
                self.state.pos = end;
                continue;
            }
            if iface as usize >= self.interfaces.len() {
                facts.push(Fact::UnknownInterface {
                    record: number + 1,
                    iface,
                });
                self.state.pos = end;
                continue;
            }
            self.state.pos = end;
            return Ok(Some(self.emit(
                iface as usize,
                stamp,
                start,
                caplen,
                orig,
                facts,
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Bytes handed out in chunks of a fixed size, like a file read in pieces.
    struct Chunks {
        data: Vec<u8>,
        at: usize,
        size: usize,
    }

    impl Input for Chunks {
        type Error = ();
        fn more(&mut self, at_least: usize) -> Result<Vec<u8>, ()> {
            let take = self.size.max(at_least).min(self.data.len() - self.at);
            let chunk = self.data[self.at..self.at + take].to_vec();
            self.at += take;
            Ok(chunk)
        }
    }

    fn pcap_record(sec: u32, usec: u32, data: &[u8]) -> Vec<u8> {
        let mut rec = Vec::new();
        for value in [sec, usec, data.len() as u32, data.len() as u32] {
            rec.extend_from_slice(&value.to_le_bytes());
        }
        rec.extend_from_slice(data);
        rec
    }

    fn read_all_pcap(bytes: Vec<u8>, chunk: usize) -> (Vec<(f64, Vec<u8>)>, Vec<Fact>) {
        let mut input = Chunks {
            data: bytes,
            at: 0,
            size: chunk,
        };
        let mut records = PcapRecords::new(Vec::new(), true, 1e-6, 16, 65535, 1);
        let mut facts = Vec::new();
        let mut frames = Vec::new();
        while let Some(frame) = records.next(&mut input, &mut facts).unwrap() {
            frames.push((frame.ts, records.buffer()[frame.start..frame.end].to_vec()));
        }
        (frames, facts)
    }

    #[test]
    fn pcap_records_timestamps_and_a_cut_record() {
        let mut bytes = pcap_record(10, 500_000, b"abc");
        bytes.extend(pcap_record(9, 0, b"de"));
        bytes.extend(&pcap_record(11, 0, b"fghij")[..18]);
        let (frames, facts) = read_all_pcap(bytes, 7);
        assert_eq!(frames, vec![(10.5, b"abc".to_vec()), (9.0, b"de".to_vec())]);
        assert_eq!(
            facts,
            vec![
                Fact::TimeWentBack {
                    record: 2,
                    ts: 9.0,
                    last: 10.5,
                    before_last: 0.0
                },
                Fact::CutRecord {
                    record: 3,
                    have: 2,
                    incl: 5
                },
            ]
        );
    }

    #[test]
    fn tsresol_is_exact() {
        assert_eq!(tsresol(6), 1e6);
        assert_eq!(tsresol(9), 1e9);
        assert_eq!(tsresol(0x80 | 10), 1024.0);
        assert_eq!(tsresol(200 & 0x7f), 1e30);
    }

    proptest! {
        #[test]
        fn chunk_size_does_not_change_what_is_read(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..10),
            cut in 0usize..30,
            chunk in 1usize..64,
        ) {
            let mut bytes = Vec::new();
            for (i, payload) in payloads.iter().enumerate() {
                bytes.extend(pcap_record(i as u32, 0, payload));
            }
            bytes.truncate(bytes.len().saturating_sub(cut));
            let whole = read_all_pcap(bytes.clone(), 1 << 20);
            prop_assert_eq!(read_all_pcap(bytes, chunk), whole);
        }

        #[test]
        fn pcapng_never_panics(blocks in proptest::collection::vec(any::<u8>(), 0..400), chunk in 1usize..64) {
            let mut bytes = vec![0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0];
            bytes.extend(blocks);
            let mut input = Chunks { data: bytes, at: 0, size: chunk };
            let mut reader = PcapngBlocks::new(Vec::new());
            let mut facts = Vec::new();
            let mut count = 0;
            while let Some(frame) = reader.next(&mut input, &mut facts).unwrap() {
                prop_assert!(frame.end <= reader.buffer().len());
                count += 1;
                prop_assert!(count < 1000);
            }
        }
    }
}
