//! Recognise SIP by content, exactly as `sipwatch.sip.detect.looks_like_sip` does.
//!
//! A payload is SIP when it starts with a status line (`SIP/2.0 NNN`) or a request line
//! (`TOKEN SP Request-URI SP SIP/2.0`, RFC 3261 §7.1), the line ending in CRLF, LF or CR, all
//! within the first 65,536 bytes. The Python module uses two regular expressions; neither can
//! backtrack into a different match (the token and the URI exclude the space that ends them),
//! so a single forward scan accepts exactly the same inputs.

/// Bytes of the first line looked at, as in the Python module.
const MAX_LINE: usize = 65536;
const STATUS_PREFIX: &[u8] = b"SIP/2.0 ";

/// RFC 3261 §25.1 `token` characters (the method of a request line).
fn is_token(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&byte)
}

/// A Request-URI byte as the detector reads it: anything but a space or a line end. A control
/// character breaks RFC 3261 §25.1, but the line is still SIP: the parser reports it malformed.
fn is_uri(byte: u8) -> bool {
    !matches!(byte, b' ' | b'\r' | b'\n')
}

/// A Reason-Phrase byte as the detector reads it: anything but a line end (as for the URI).
fn is_reason(byte: u8) -> bool {
    !matches!(byte, b'\r' | b'\n')
}

fn is_line_end(byte: Option<&u8>) -> bool {
    matches!(byte, Some(b'\r') | Some(b'\n'))
}

/// True when `data` begins with a SIP request or status line.
pub fn looks_like_sip(data: &[u8]) -> bool {
    let line = &data[..data.len().min(MAX_LINE)];
    match line.first() {
        Some(b'S') if data.starts_with(STATUS_PREFIX) => status_line(line),
        Some(byte) if byte.is_ascii_alphabetic() => request_line(line),
        _ => false,
    }
}

fn status_line(line: &[u8]) -> bool {
    let digits = match line.get(8..11) {
        Some(digits) if digits.iter().all(u8::is_ascii_digit) => digits.len(),
        _ => return false,
    };
    let mut at = 8 + digits;
    match line.get(at) {
        Some(b' ') | Some(b'\t') => {
            at += 1;
            while line.get(at).is_some_and(|&b| is_reason(b)) {
                at += 1;
            }
            is_line_end(line.get(at))
        }
        other => is_line_end(other),
    }
}

fn request_line(line: &[u8]) -> bool {
    let method = line.iter().take_while(|&&b| is_token(b)).count();
    if method == 0 || line.get(method) != Some(&b' ') {
        return false;
    }
    let uri_start = method + 1;
    let uri = line[uri_start..].iter().take_while(|&&b| is_uri(b)).count();
    let version = uri_start + uri;
    if uri == 0 || line.get(version..version + 8) != Some(b" SIP/2.0".as_slice()) {
        return false;
    }
    is_line_end(line.get(version + 8))
}

#[cfg(test)]
mod tests {
    use super::looks_like_sip;
    use proptest::prelude::*;

    #[test]
    fn accepts_requests_and_responses() {
        assert!(looks_like_sip(b"INVITE sip:a@b SIP/2.0\r\nVia: x\r\n"));
        assert!(looks_like_sip(b"x-ext.! sip:a SIP/2.0\n"));
        assert!(looks_like_sip(b"SIP/2.0 200 OK\r\n"));
        assert!(looks_like_sip(b"SIP/2.0 200\r"));
        assert!(looks_like_sip(b"SIP/2.0 480 \xe3\x81\x82\t\n"));
    }

    #[test]
    fn rejects_other_protocols_and_fuzz() {
        assert!(!looks_like_sip(b""));
        assert!(!looks_like_sip(b"GET / HTTP/1.1\r\n"));
        assert!(!looks_like_sip(b"SIP/2.0 20 OK\r\n"));
        // Control characters are the parser's to report: still SIP here.
        assert!(looks_like_sip(b"SIP/2.0 200 O\x00K\r\n"));
        assert!(looks_like_sip(b"INVITE sip:\x1b[2J SIP/2.0\r\n"));
        // A status prefix that is not a status line is not tried as a request.
        assert!(!looks_like_sip(b"SIP/2.0 abc sip:x SIP/2.0\r\n"));
        assert!(!looks_like_sip(b"INVITE  sip:a SIP/2.0\r\n"));
        assert!(!looks_like_sip(b"INVITE sip:a SIP/2.0"));
        assert!(!looks_like_sip(b"\x80\x00RTP"));
    }

    #[test]
    fn the_line_must_end_within_the_first_64_kib() {
        let mut long = b"OPTIONS sip:".to_vec();
        long.resize(MAX_LINE_TEST - 8, b'a');
        long.extend_from_slice(b" SIP/2.0\r\n");
        assert!(!looks_like_sip(&long));
        long.drain(12..20);
        assert!(looks_like_sip(&long));
    }
    const MAX_LINE_TEST: usize = super::MAX_LINE;

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = looks_like_sip(&data);
        }

        #[test]
        fn a_well_formed_request_line_is_sip(
            method in "[A-Za-z][A-Za-z0-9.!%*_+`'~-]{0,20}",
            uri in "[!-~]{1,40}",
            end in prop_oneof![Just("\r\n"), Just("\n"), Just("\r")],
        ) {
            let line = format!("{method} {uri} SIP/2.0{end}");
            prop_assert!(looks_like_sip(line.as_bytes()));
        }
    }
}
