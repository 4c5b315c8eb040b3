//! IP addresses as text, exactly as the C library's `inet_ntop` writes them.
//!
//! The Python engine names addresses with `socket.inet_ntop`, so the native one must produce
//! the same text byte for byte. IPv6 follows RFC 5952 §4 (lower-case hex, no leading zeros,
//! the longest run of two or more zero fields compressed, the first of equal runs) plus the
//! C library's embedded-IPv4 forms: `::a.b.c.d` (IPv4-compatible, RFC 4291 §2.5.5.1) and
//! `::ffff:a.b.c.d` (IPv4-mapped, RFC 4291 §2.5.5.2). Rust's own `Ipv6Addr` display differs
//! for the first, so the C algorithm is written out here.

use std::fmt::Write;

/// Dotted-quad text of four bytes.
pub fn ipv4_text(raw: &[u8; 4]) -> String {
    format!("{}.{}.{}.{}", raw[0], raw[1], raw[2], raw[3])
}

/// `inet_ntop(AF_INET6, ...)` text of sixteen bytes.
pub fn ipv6_text(raw: &[u8; 16]) -> String {
    let words: [u16; 8] = std::array::from_fn(|i| u16::from_be_bytes([raw[2 * i], raw[2 * i + 1]]));
    // The longest run of zero words (the first one when runs are equal); a single zero word is
    // not compressed (RFC 5952 §4.2.2).
    let (mut best_base, mut best_len) = (usize::MAX, 0usize);
    let (mut cur_base, mut cur_len) = (usize::MAX, 0usize);
    for (i, &word) in words.iter().enumerate() {
        if word == 0 {
            if cur_base == usize::MAX {
                cur_base = i;
                cur_len = 1;
            } else {
                cur_len += 1;
            }
        } else if cur_base != usize::MAX {
            if best_base == usize::MAX || cur_len > best_len {
                (best_base, best_len) = (cur_base, cur_len);
            }
            cur_base = usize::MAX;
        }
    }
    if cur_base != usize::MAX && (best_base == usize::MAX || cur_len > best_len) {
        (best_base, best_len) = (cur_base, cur_len);
    }
    if best_base != usize::MAX && best_len < 2 {
        best_base = usize::MAX;
    }
    let in_run = |i: usize| best_base != usize::MAX && i >= best_base && i < best_base + best_len;
    let mut text = String::with_capacity(40);
    for (i, &word) in words.iter().enumerate() {
        if in_run(i) {
            if i == best_base {
                text.push(':');
            }
            continue;
        }
        if i != 0 {
            text.push(':');
        }
        if i == 6 && best_base == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff)) {
            text.push_str(&ipv4_text(&[raw[12], raw[13], raw[14], raw[15]]));
            return text;
        }
        let _ = write!(text, "{word:x}");
    }
    if best_base != usize::MAX && best_base + best_len == 8 {
        text.push(':');
    }
    text
}

/// Text of a 4- or 16-byte address; `None` for any other length.
pub fn address_text(raw: &[u8]) -> Option<String> {
    if let Ok(v4) = <&[u8; 4]>::try_from(raw) {
        return Some(ipv4_text(v4));
    }
    <&[u8; 16]>::try_from(raw).ok().map(ipv6_text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v6(text: &str) -> String {
        ipv6_text(&text.parse::<std::net::Ipv6Addr>().unwrap().octets())
    }

    #[test]
    fn the_c_library_forms() {
        assert_eq!(v6("::"), "::");
        assert_eq!(v6("::1"), "::1");
        assert_eq!(v6("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
        assert_eq!(v6("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
        assert_eq!(v6("fe80::"), "fe80::");
        assert_eq!(v6("::ffff:192.0.2.1"), "::ffff:192.0.2.1");
        assert_eq!(v6("::192.0.2.1"), "::192.0.2.1");
        assert_eq!(v6("::0.1.0.0"), "::0.1.0.0");
        assert_eq!(ipv4_text(&[10, 0, 0, 255]), "10.0.0.255");
        assert_eq!(address_text(&[1, 2, 3]), None);
    }

    proptest! {
        #[test]
        fn text_parses_back_to_the_same_address(raw in any::<[u8; 16]>()) {
            let text = ipv6_text(&raw);
            let back: std::net::Ipv6Addr = text.parse().unwrap();
            prop_assert_eq!(back.octets(), raw);
        }
    }
}
