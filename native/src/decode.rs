//! Frames to UDP payloads for the common links, as `sipwatch.capture.decode.Decoder` does.
//!
//! Handled here: Ethernet with 802.1Q / 802.1ad / old QinQ tags, Linux cooked SLL and SLL2, BSD
//! NULL/LOOP, raw IP, IPv4 (options skipped by IHL) and IPv6 with its extension headers, down
//! to UDP, and the content check that finds SIP on any port. Anything else (IP fragments,
//! tunnels, VXLAN, TCP, SCTP, ICMP, PPP, MPLS, LLC/SNAP, unknown link types, any oddity this
//! module does not model) is [`Outcome::Python`]: the whole frame goes to the Python decoder,
//! which owns the reassembly state, so a frame is decoded by exactly one engine. Counters
//! (`skipped` reasons, `notes`) are returned with the outcome and count only when the frame is
//! not handed over, so the shared tables hold what the Python engine alone would have counted.

use crate::detect::looks_like_sip;

// LINKTYPE_* (tcpdump.org link-layer header types).
const LINKTYPE_NULL: u32 = 0;
const LINKTYPE_ETHERNET: u32 = 1;
const LINKTYPE_RAW_DLT12: u32 = 12;
const LINKTYPE_RAW_DLT14: u32 = 14;
const LINKTYPE_RAW: u32 = 101;
const LINKTYPE_LOOP: u32 = 108;
const LINKTYPE_LINUX_SLL: u32 = 113;
const LINKTYPE_IPV4: u32 = 228;
const LINKTYPE_IPV6: u32 = 229;
const LINKTYPE_LINUX_SLL2: u32 = 276;

// EtherTypes (IEEE Registration Authority).
const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86DD;
const VLAN_TPIDS: [u16; 3] = [0x8100, 0x88A8, 0x9100];
/// EtherTypes the Python decoder unwraps (PPPoE session, MPLS, TEB, PPP in GRE).
const ETH_PYTHON: [u16; 5] = [0x8864, 0x8847, 0x8848, 0x6558, 0x880B];

// IP protocol numbers (IANA).
const P_UDP: u8 = 17;
/// Protocols with a stage in the Python decoder: ICMP, IP-in-IP, TCP, IPv6-in-IP, GRE,
/// ICMPv6, SCTP.
const P_PYTHON: [u8; 7] = [1, 4, 6, 41, 47, 58, 132];
const P_AH: u8 = 51;
const P_ESP: u8 = 50;
const P_NONE: u8 = 59;
const V6_UNIFORM_EXT: [u8; 6] = [0, 43, 60, 135, 139, 140];
const V6_FRAGMENT: u8 = 44;
const VXLAN_PORT: u16 = 4789;
const AF_INET: u32 = 2;
const AF_INET6_VALUES: [u32; 4] = [24, 28, 30, 10];

/// The facts a decoded frame adds to the summary's `notes` table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Notes {
    pub vlan_tag: u32,
    pub ip_length_zero: u32,
    pub ip_truncated: u32,
    pub udp_truncated: u32,
}

/// What became of one frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// A UDP payload that looks like SIP: addresses as raw bytes (4 or 16), ports, payload.
    Sip {
        src: &'a [u8],
        dst: &'a [u8],
        sport: u16,
        dport: u16,
        payload: &'a [u8],
    },
    /// Nothing for SIP here; counted under this `skipped` reason.
    Skip(&'static str),
    /// Not modelled here: the Python decoder decodes the whole frame.
    Python,
}

/// Decode one frame of link type `link`; the notes count only when the outcome is not Python.
pub fn decode(link: u32, data: &[u8]) -> (Outcome<'_>, Notes) {
    let mut frame = FrameDecode {
        data,
        notes: Notes::default(),
    };
    let outcome = frame.link(link);
    (outcome, frame.notes)
}

struct FrameDecode<'a> {
    data: &'a [u8],
    notes: Notes,
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]))
}

impl<'a> FrameDecode<'a> {
    fn link(&mut self, link: u32) -> Outcome<'a> {
        let data = self.data;
        let len = data.len();
        match link {
            LINKTYPE_ETHERNET => self.ether(0, len),
            LINKTYPE_LINUX_SLL => match be16(data, 14) {
                Some(et) if len >= 16 => self.ethertype(et, 16, len),
                _ => Outcome::Skip("truncated-link"),
            },
            LINKTYPE_LINUX_SLL2 => match be16(data, 0) {
                Some(et) if len >= 20 => self.ethertype(et, 20, len),
                _ => Outcome::Skip("truncated-link"),
            },
            LINKTYPE_NULL | LINKTYPE_LOOP => self.null(),
            LINKTYPE_RAW | LINKTYPE_RAW_DLT12 | LINKTYPE_RAW_DLT14 => self.raw_ip(0, len),
            LINKTYPE_IPV4 => self.ipv4(0, len),
            LINKTYPE_IPV6 => self.ipv6(0, len),
            _ => Outcome::Python,
        }
    }

    /// IEEE 802.3 / Ethernet II: 6+6 address bytes, then EtherType (or 802.3 length).
    fn ether(&mut self, off: usize, end: usize) -> Outcome<'a> {
        match be16(self.data, off + 12) {
            Some(et) if end - off >= 14 => self.ethertype(et, off + 14, end),
            _ => Outcome::Skip("truncated-link"),
        }
    }

    fn ethertype(&mut self, mut et: u16, mut off: usize, end: usize) -> Outcome<'a> {
        loop {
            if et == ETH_IPV4 {
                return self.ipv4(off, end);
            }
            if et == ETH_IPV6 {
                return self.ipv6(off, end);
            }
            if VLAN_TPIDS.contains(&et) {
                // IEEE 802.1Q §9.6: a 4-byte tag (TCI, then the next EtherType); stacked for QinQ.
                if end - off < 4 {
                    return Outcome::Skip("truncated-link");
                }
                match be16(self.data, off + 2) {
                    Some(next) => et = next,
                    None => return Outcome::Python,
                }
                off += 4;
                self.notes.vlan_tag += 1;
                continue;
            }
            if ETH_PYTHON.contains(&et) || et <= 1500 {
                // Tunnels, PPPoE, MPLS and 802.3 + LLC/SNAP are the Python decoder's.
                if et <= 1500
                    && !(end - off >= 8 && self.data.get(off..off + 3) == Some(b"\xaa\xaa\x03"))
                {
                    return Outcome::Skip("non-ip");
                }
                return Outcome::Python;
            }
            return Outcome::Skip("non-ip");
        }
    }

    /// BSD loopback: a 4-byte address family in the writer's byte order (NULL) or big-endian
    /// (LOOP); families are small, so whichever end byte is non-zero is the value.
    fn null(&mut self) -> Outcome<'a> {
        let data = self.data;
        if data.len() < 5 {
            return Outcome::Skip("truncated-link");
        }
        if data[1] != 0 || data[2] != 0 {
            return Outcome::Skip("non-ip");
        }
        let family = u32::from(data[0] | data[3]);
        if family == AF_INET {
            return self.ipv4(4, data.len());
        }
        if AF_INET6_VALUES.contains(&family) {
            return self.ipv6(4, data.len());
        }
        Outcome::Skip("non-ip")
    }

    /// IP without a link header: the version nibble says which.
    fn raw_ip(&mut self, off: usize, end: usize) -> Outcome<'a> {
        match self.data.get(off) {
            None => Outcome::Skip("truncated-ip"),
            Some(_) if off >= end => Outcome::Skip("truncated-ip"),
            Some(first) => match first >> 4 {
                4 => self.ipv4(off, end),
                6 => self.ipv6(off, end),
                _ => Outcome::Skip("non-ip"),
            },
        }
    }

    /// RFC 791 §3.1. The header checksum is not verified (offloaded checksums are unset).
    fn ipv4(&mut self, off: usize, end: usize) -> Outcome<'a> {
        let data = self.data;
        if end < off + 20 {
            return Outcome::Skip("truncated-ip");
        }
        let Some(header) = data.get(off..off + 20) else {
            return Outcome::Python;
        };
        let first = header[0];
        let ihl = usize::from(first & 0x0F) << 2;
        if first >> 4 != 4 || ihl < 20 {
            return Outcome::Skip("bad-ip-header");
        }
        let total = usize::from(u16::from_be_bytes([header[2], header[3]]));
        let mut ip_end = off + total;
        if ip_end > end || total < ihl {
            if total == 0 {
                // TCP segmentation offload: the host hands the NIC a super-packet of length 0.
                self.notes.ip_length_zero += 1;
            } else if total < ihl {
                return Outcome::Skip("bad-ip-header");
            } else {
                self.notes.ip_truncated += 1;
            }
            ip_end = end;
        }
        if ip_end - off < ihl {
            return Outcome::Skip("truncated-ip");
        }
        let flags = u16::from_be_bytes([header[6], header[7]]);
        if flags & 0x3FFF != 0 {
            return Outcome::Python; // a fragment: the Python reassembler holds the datagram
        }
        let (src, dst) = (&data[off + 12..off + 16], &data[off + 16..off + 20]);
        self.transport(header[9], off + ihl, ip_end, src, dst)
    }

    /// RFC 8200 §3 header, then the extension-header chain (§4) to the upper layer.
    fn ipv6(&mut self, off: usize, end: usize) -> Outcome<'a> {
        let data = self.data;
        if end < off + 40 {
            return Outcome::Skip("truncated-ip");
        }
        let Some(header) = data.get(off..off + 40) else {
            return Outcome::Python;
        };
        if header[0] >> 4 != 6 {
            return Outcome::Skip("bad-ip-header");
        }
        let plen = usize::from(u16::from_be_bytes([header[4], header[5]]));
        let mut nh = header[6];
        let (src, dst) = (&header[8..24], &header[24..40]);
        let mut ip_end = off + 40 + plen;
        if plen == 0 {
            ip_end = end; // jumbogram (RFC 2675) or offload: the capture length is all there is
        } else if ip_end > end {
            self.notes.ip_truncated += 1;
            ip_end = end;
        }
        let mut pos = off + 40;
        loop {
            if V6_UNIFORM_EXT.contains(&nh) || nh == P_AH || nh == V6_FRAGMENT {
                if ip_end < pos + 8 {
                    return Outcome::Skip("truncated-ip");
                }
                let Some(ext) = data.get(pos..pos + 8) else {
                    return Outcome::Python;
                };
                if nh == V6_FRAGMENT {
                    // RFC 8200 §4.5; only an atomic fragment (RFC 6946: offset 0, M clear) is
                    // whole, any other goes to the Python reassembler.
                    if u16::from_be_bytes([ext[2], ext[3]]) & 0xFFF9 != 0 {
                        return Outcome::Python;
                    }
                    nh = ext[0];
                    pos += 8;
                    continue;
                }
                let units = usize::from(ext[1]);
                // RFC 8200 §4 uniform length in 8-octet units; RFC 4302 §2.2 AH in 4-octet.
                pos += if nh == P_AH {
                    (units + 2) << 2
                } else {
                    (units + 1) << 3
                };
                nh = ext[0];
            } else if nh == P_ESP {
                return Outcome::Skip("ipsec-esp");
            } else if nh == P_NONE {
                return Outcome::Skip("not-udp-tcp-sctp");
            } else {
                break;
            }
            if pos > ip_end {
                return Outcome::Skip("truncated-ip");
            }
        }
        self.transport(nh, pos, ip_end, src, dst)
    }

    fn transport(
        &mut self,
        proto: u8,
        off: usize,
        end: usize,
        src: &'a [u8],
        dst: &'a [u8],
    ) -> Outcome<'a> {
        if proto == P_UDP {
            return self.udp(off, end, src, dst);
        }
        if P_PYTHON.contains(&proto) {
            return Outcome::Python;
        }
        Outcome::Skip("not-udp-tcp-sctp")
    }

    /// RFC 768. The length field bounds the payload (frames carry padding); a datagram the
    /// capture cut short is still passed on, noted, so the SIP parser can say it is cut.
    fn udp(&mut self, off: usize, end: usize, src: &'a [u8], dst: &'a [u8]) -> Outcome<'a> {
        let data = self.data;
        if end < off + 8 {
            return Outcome::Skip("truncated-udp");
        }
        let Some(header) = data.get(off..off + 8) else {
            return Outcome::Python;
        };
        let sport = u16::from_be_bytes([header[0], header[1]]);
        let dport = u16::from_be_bytes([header[2], header[3]]);
        let length = usize::from(u16::from_be_bytes([header[4], header[5]]));
        let pay = off + 8;
        if dport == VXLAN_PORT && end >= pay + 8 && data.get(pay).is_some_and(|b| b & 0x08 != 0) {
            return Outcome::Python; // RFC 7348 §5: VXLAN carries a frame; the Python decoder's
        }
        let mut udp_end = off + length;
        if length < 8 {
            if length != 0 {
                return Outcome::Skip("bad-udp-length");
            }
            udp_end = end; // IPv6 jumbogram (RFC 2675 §4)
        } else if udp_end > end {
            self.notes.udp_truncated += 1;
            udp_end = end;
        }
        let Some(payload) = data.get(pay..udp_end.max(pay)) else {
            return Outcome::Python;
        };
        match payload.first() {
            Some(first) if first.is_ascii_alphabetic() && looks_like_sip(payload) => Outcome::Sip {
                src,
                dst,
                sport,
                dport,
                payload,
            },
            // Anything else on UDP is the Python decoder's: HEP (SIP from a capture agent) to
            // unwrap, RTP/RTCP for the media analysis, or a skip it counts itself.
            _ => Outcome::Python,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn udp_v4(payload: &[u8], sport: u16, dport: u16) -> Vec<u8> {
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        let total = (20 + 8 + payload.len()) as u16;
        frame.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0x40,
            0,
            64,
            17,
            0,
            0,
        ]);
        frame.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        frame.extend_from_slice(&sport.to_be_bytes());
        frame.extend_from_slice(&dport.to_be_bytes());
        frame.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(payload);
        frame
    }

    const OPTIONS: &[u8] = b"OPTIONS sip:a SIP/2.0\r\n\r\n";

    #[test]
    fn ethernet_ipv4_udp_sip() {
        let frame = udp_v4(OPTIONS, 5060, 5061);
        let (outcome, notes) = decode(LINKTYPE_ETHERNET, &frame);
        assert_eq!(
            outcome,
            Outcome::Sip {
                src: &[10, 0, 0, 1],
                dst: &[10, 0, 0, 2],
                sport: 5060,
                dport: 5061,
                payload: OPTIONS
            }
        );
        assert_eq!(notes, Notes::default());
    }

    #[test]
    fn vlan_tags_are_noted_and_padding_is_cut() {
        let plain = udp_v4(OPTIONS, 1, 2);
        let mut tagged = plain[..12].to_vec();
        tagged.extend_from_slice(&[0x88, 0xA8, 0, 1, 0x81, 0x00, 0, 2]);
        tagged.extend_from_slice(&plain[12..]);
        tagged.extend_from_slice(&[0; 6]);
        let (outcome, notes) = decode(LINKTYPE_ETHERNET, &tagged);
        assert!(matches!(
            outcome,
            Outcome::Sip {
                payload: OPTIONS,
                ..
            }
        ));
        assert_eq!(notes.vlan_tag, 2);
    }

    #[test]
    fn hep_goes_to_python() {
        let hep3 = udp_v4(b"HEP3\x00\x10", 9060, 9060);
        assert_eq!(decode(LINKTYPE_ETHERNET, &hep3).0, Outcome::Python);
        let hep2 = udp_v4(b"\x02\x10\x02\x11", 9060, 9060);
        assert_eq!(decode(LINKTYPE_ETHERNET, &hep2).0, Outcome::Python);
    }

    #[test]
    fn rtp_fragments_and_tcp_go_to_python() {
        let rtp = udp_v4(b"\x80\x00\x01\x02", 4000, 4002);
        assert_eq!(decode(LINKTYPE_ETHERNET, &rtp).0, Outcome::Python);
        let mut fragment = udp_v4(OPTIONS, 1, 2);
        fragment[20] = 0x20; // More Fragments
        assert_eq!(decode(LINKTYPE_ETHERNET, &fragment).0, Outcome::Python);
        let mut tcp = udp_v4(OPTIONS, 1, 2);
        tcp[23] = 6;
        assert_eq!(decode(LINKTYPE_ETHERNET, &tcp).0, Outcome::Python);
        assert_eq!(
            decode(LINKTYPE_ETHERNET, &rtp[..30]).0,
            Outcome::Skip("truncated-ip")
        );
        assert_eq!(decode(9999, &rtp).0, Outcome::Python);
    }

    proptest! {
        #[test]
        fn never_panics(link in prop_oneof![Just(0u32), Just(1), Just(12), Just(101), Just(108), Just(113), Just(228), Just(229), Just(276)],
                        data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(link, &data);
        }

        #[test]
        fn never_panics_on_mutated_sip_frames(at in 0usize..80, byte in any::<u8>(), cut in 0usize..80) {
            let mut frame = udp_v4(OPTIONS, 5060, 5060);
            let at = at.min(frame.len() - 1);
            frame[at] = byte;
            frame.truncate(frame.len() - cut.min(frame.len()));
            let _ = decode(LINKTYPE_ETHERNET, &frame);
        }
    }
}
