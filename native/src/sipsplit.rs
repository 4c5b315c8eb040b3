//! The start line and header split of a plain SIP message, as `sipwatch.sip.parser` does it.
//!
//! Only the common shape is handled here: ASCII header text, CRLF line ends, a CRLF CRLF end of
//! the header section within the parser's limits, a well-formed start line (RFC 3261 §7.1
//! Request-Line, §7.2 Status-Line) and `name: value` header lines (§7.3). Anything else (a
//! folded line, a line without a colon, a bare CR or another control character, non-ASCII
//! text that Python decodes with replacement, an oversized section, a start line Python would
//! reject) returns `None`, and the Python parser handles the whole message. The body, Content-Length and the mandatory-header
//! checks stay in Python for both engines.

/// Header sections this long may break the parser's limits: left to Python.
const LIMITS_FROM: usize = 10_000;
/// Bodies larger than this are malformed (oversized): left to Python.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the split found; strings are slices of the message.
#[derive(Debug, PartialEq, Eq)]
pub struct Split<'a> {
    pub response: bool,
    pub method: &'a str,
    pub uri: &'a str,
    pub status: u16,
    pub reason: &'a str,
    /// (name as written, without the whitespace before the colon; value, stripped).
    pub headers: Vec<(&'a str, &'a str)>,
    pub body_start: usize,
}

/// Python's `str.strip()` whitespace among ASCII characters.
fn is_py_space(byte: u8) -> bool {
    matches!(
        byte,
        b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0x1c..=0x1f
    )
}

fn py_strip(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_ascii() && is_py_space(c as u8))
}

/// RFC 3261 §25.1 `token` (a method).
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

/// Control characters other than HTAB and the CR of a CRLF: never in a plain message, and the
/// Python parser's business wherever they are.
fn has_controls(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().any(|(at, &b)| {
        let crlf = b == b'\r' && bytes.get(at + 1) == Some(&b'\n');
        (b < 0x20 && b != b'\t' && b != b'\n' && !crlf) || b == 0x7f
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Split `data`, or `None` when the Python parser must decide.
pub fn split(data: &[u8]) -> Option<Split<'_>> {
    match data.first() {
        Some(b'\r') | Some(b'\n') | None => return None,
        _ => {}
    }
    let head_end = find(data, b"\n\r\n")?;
    let body_start = head_end + 3;
    let text_end = if data[head_end - 1] == b'\r' {
        head_end - 1
    } else {
        head_end
    };
    if text_end >= LIMITS_FROM || data.len() - body_start > MAX_BODY_BYTES {
        return None;
    }
    let text = std::str::from_utf8(&data[..text_end])
        .ok()
        .filter(|t| t.is_ascii())?;
    if has_controls(text) {
        return None;
    }
    let mut lines = text.split('\n');
    let first = lines.next()?;
    let first = first.strip_suffix('\r').unwrap_or(first);
    if first.contains('\r') {
        return None;
    }
    let mut split = Split {
        response: false,
        method: "",
        uri: "",
        status: 0,
        reason: "",
        headers: Vec::new(),
        body_start,
    };
    if let Some(rest) = first.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let status: u16 = code
            .parse()
            .ok()
            .filter(|_| code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()))?;
        if !(100..=699).contains(&status) {
            return None;
        }
        (split.response, split.status, split.reason) = (true, status, reason);
    } else {
        if first.len() >= 8 && first[..8].eq_ignore_ascii_case("SIP/2.0 ") {
            return None; // a response in odd case: Python's rules decide
        }
        let (method, rest) = first.split_once(' ')?;
        let (uri, version) = rest.rsplit_once(' ')?;
        let uri = uri.trim_matches(' ');
        // RFC 3261 §25.1: no control character in a Request-URI, HTAB included (the Python
        // parser reports it malformed).
        if version != "SIP/2.0" || !is_token(method) || uri.is_empty() || uri.contains([' ', '\t'])
        {
            return None;
        }
        (split.method, split.uri) = (method, uri);
    }
    for line in lines {
        let (raw_name, value) = line.split_once(':')?;
        let name = raw_name.trim_end_matches([' ', '\t']);
        if name.is_empty() || name.starts_with([' ', '\t']) {
            return None; // no name, or a folded line (§7.3.1)
        }
        split.headers.push((name, py_strip(value)));
    }
    Some(split)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_request_and_a_response() {
        let msg =
            b"INVITE sip:b@x SIP/2.0\r\nVia : SIP/2.0/UDP h;branch=z\r\ni:\t abc \t\r\n\r\nbody";
        let got = split(msg).unwrap();
        assert_eq!(
            (got.method, got.uri, got.response),
            ("INVITE", "sip:b@x", false)
        );
        assert_eq!(
            got.headers,
            vec![("Via", "SIP/2.0/UDP h;branch=z"), ("i", "abc")]
        );
        assert_eq!(&msg[got.body_start..], b"body");
        let got = split(b"SIP/2.0 183 Session Progress\r\n\r\n").unwrap();
        assert_eq!(
            (got.status, got.reason, got.headers.len()),
            (183, "Session Progress", 0)
        );
        assert_eq!(split(b"SIP/2.0 200\r\nX: y\r\n\r\n").unwrap().reason, "");
    }

    #[test]
    fn unusual_messages_are_left_to_python() {
        for msg in [
            &b"\r\nOPTIONS sip:a SIP/2.0\r\n\r\n"[..],
            b"OPTIONS sip:a SIP/2.0\r\nNoColon\r\n\r\n",
            b"OPTIONS sip:a SIP/2.0\r\nA: b\r\n c\r\n\r\n",
            b"OPTIONS sip:a SIP/2.0\nA: b\n\nbody",
            b"OPTIONS sip:a sip/2.0\r\n\r\n",
            b"sip/2.0 200 OK\r\n\r\n",
            b"SIP/2.0 099 Low\r\n\r\n",
            b"OPTIONS sip:a SIP/2.0\r\nA: \xc3\xa9\r\n\r\n",
            b"OPT(ONS sip:a SIP/2.0\r\n\r\n",
            b"OPTIONS sip:a\rX SIP/2.0\r\n\r\n",
            b"OPTIONS sip:a SIP/2.0\r\n",
            b"OPTIONS sip:a SIP/2.0\r\nA: b\x0b\r\n\r\n",
            b"SIP/2.0 200 O\x01K\r\n\r\n",
            b"OPTIONS sip:a\tb SIP/2.0\r\n\r\n",
        ] {
            assert_eq!(split(msg), None, "{:?}", String::from_utf8_lossy(msg));
        }
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = split(&data);
        }

        #[test]
        fn never_panics_on_near_sip(head in "[A-Z]{1,8} [a-z:@.]{1,10} SIP/2\\.0\r\n([A-Za-z-]{1,8}[ \t]*:[ -~]{0,12}\r\n){0,4}\r\n") {
            let got = split(head.as_bytes());
            prop_assert!(got.is_some());
        }
    }
}
