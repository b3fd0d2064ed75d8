//! Fuzz the reply parsers with arbitrary bytes, read the way a connection reads them.
//!
//! Meta replies (`protocol::response::parse`): the input is a read buffer. Frames are cut off its
//! front exactly as `exchange.rs` does (`split_to(consumed).freeze()`, then `into_response`)
//! until the parser wants more bytes or reports a protocol error. For every frame:
//! - `consumed` is in `1..=buffer length`;
//! - the frame parses alone to the same `Parsed` (the parser never looks past its frame);
//! - a few strict prefixes of the frame parse as `Ok(None)`, "need more bytes" (a reply split
//!   across reads must not be an error, nor a shorter complete reply);
//! - `Response::encode` then `parse` gives back an equal `Response`. The comparison is against
//!   the first parse, not the input bytes: encode normalises flag order and numbers and drops
//!   unknown flags.
//!
//! Classic text replies (`protocol::text::{parse_line, parse_stats}`), same contract: no panic,
//! `used` in range, the reply parses alone to the same value, strict prefixes need more bytes.

#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use memlease::protocol::response::{parse, ProtocolError};
use memlease::protocol::text::{parse_line, parse_stats, TextReply};

type TextParser = fn(&[u8]) -> Result<Option<(TextReply, usize)>, ProtocolError>;

fuzz_target!(|data: &[u8]| {
    meta_stream(data);
    text_reply(data, parse_line, "parse_line");
    text_reply(data, parse_stats, "parse_stats");
});

fn show(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(&bytes[..bytes.len().min(200)]))
}

/// Where to cut a complete frame of `n` bytes to test "need more bytes": the ends, the middle,
/// just before and after the first `\n` (for `VA` that is "header complete, data missing"), and
/// one position picked from the frame's own bytes. Not every cut, to keep executions fast.
fn prefix_cuts(frame: &[u8]) -> impl Iterator<Item = usize> {
    let n = frame.len();
    let newline = memchr_newline(frame);
    let spread = frame
        .iter()
        .fold(n, |acc, &b| acc.wrapping_mul(31).wrapping_add(b as usize));
    let cuts = [
        Some(0),
        Some(1),
        Some(n / 2),
        n.checked_sub(2),
        n.checked_sub(1),
        newline,
        newline.map(|i| i + 1),
        newline.map(|i| i + 2),
        (n > 0).then(|| spread % n),
    ];
    cuts.into_iter().flatten().filter(move |&cut| cut < n)
}

fn memchr_newline(frame: &[u8]) -> Option<usize> {
    frame.iter().position(|&b| b == b'\n')
}

fn meta_stream(data: &[u8]) {
    let mut buf = BytesMut::from(data);
    loop {
        // Ok(None): wait for more bytes; Err: the connection would be dropped. Either ends it.
        let Ok(Some(parsed)) = parse(&buf) else { return };
        let n = parsed.consumed;
        assert!(
            n > 0 && n <= buf.len(),
            "consumed {n} out of range for a {}-byte buffer {}",
            buf.len(),
            show(&buf)
        );
        let frame = buf.split_to(n).freeze();
        assert_eq!(
            parse(&frame),
            Ok(Some(parsed.clone())),
            "frame {} parses differently alone than with the bytes after it",
            show(&frame)
        );
        for cut in prefix_cuts(&frame) {
            assert_eq!(
                parse(&frame[..cut]),
                Ok(None),
                "the first {cut} bytes of complete frame {} are not 'need more bytes'",
                show(&frame)
            );
        }

        let response = parsed.into_response(&frame);
        let mut wire = Vec::new();
        response.encode(&mut wire);
        let again = match parse(&wire) {
            Ok(Some(again)) => again,
            other => panic!(
                "{:?} from frame {} encodes to {}, which parses as {other:?}",
                response,
                show(&frame),
                show(&wire)
            ),
        };
        assert_eq!(
            again.consumed,
            wire.len(),
            "re-encoded {} not consumed whole",
            show(&wire)
        );
        let wire = Bytes::from(wire);
        assert_eq!(
            again.into_response(&wire),
            response,
            "frame {} does not survive encode -> parse (re-encoded as {})",
            show(&frame),
            show(&wire)
        );
    }
}

fn text_reply(data: &[u8], parser: TextParser, name: &str) {
    let Ok(Some((reply, used))) = parser(data) else { return };
    assert!(
        used > 0 && used <= data.len(),
        "{name}: used {used} of {} bytes",
        data.len()
    );
    let frame = &data[..used];
    assert_eq!(
        parser(frame),
        Ok(Some((reply, used))),
        "{name}: {} parses differently alone",
        show(frame)
    );
    for cut in prefix_cuts(frame) {
        assert_eq!(
            parser(&frame[..cut]),
            Ok(None),
            "{name}: the first {cut} bytes of complete reply {} are not 'need more bytes'",
            show(frame)
        );
    }
}
