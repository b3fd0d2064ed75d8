//! Tests of the reply parser: every reply shape, partial input, and round trips (proptest).

use super::*;
use proptest::prelude::*;

fn parse_all(wire: &[u8]) -> Response {
    let parsed = parse(wire).unwrap().expect("complete");
    assert_eq!(parsed.consumed, wire.len());
    parsed.into_response(&Bytes::copy_from_slice(wire))
}

#[test]
fn parses_live_memcached_replies() {
    let r = parse_all(b"VA 3 c7 t30 X W\r\nfoo\r\n");
    assert_eq!(r.code, Code::Value);
    assert_eq!(r.value.as_deref(), Some(&b"foo"[..]));
    assert_eq!(r.flags.cas, Some(7));
    assert_eq!(r.flags.ttl, Some(30));
    assert!(r.flags.stale && r.flags.win && !r.flags.already_won);

    let r = parse_all(b"VA 2 s2 f0 h1 l0 t-1\r\nyo\r\n");
    assert_eq!(r.flags.ttl, Some(-1));
    assert_eq!(r.flags.hit_before, Some(true));
    assert_eq!(r.flags.client_flags, Some(0));
    assert_eq!(r.flags.size, Some(2));
    assert_eq!(r.flags.last_access, Some(0));

    let r = parse_all(b"EN kmiss O123\r\n");
    assert_eq!(r.code, Code::Miss);
    assert_eq!(r.flags.key.as_deref(), Some(&b"miss"[..]));
    assert_eq!(r.flags.opaque.as_deref(), Some(&b"123"[..]));

    let r = parse_all(b"VA 0 t30 Z\r\n\r\n");
    assert_eq!(r.value.as_deref(), Some(&b""[..]));
    assert!(r.flags.already_won);

    let r = parse_all(b"VA 2 kZm9vYmFy b\r\nhi\r\n");
    assert!(r.flags.base64_key);
    assert_eq!(r.flags.key.as_deref(), Some(&b"Zm9vYmFy"[..]));

    let r = parse_all(b"HD c18446744073709551615\r\n");
    assert_eq!(r.flags.cas, Some(u64::MAX));

    let r = parse_all(b"SERVER_ERROR object too large for cache\r\n");
    assert_eq!(r.code, Code::ServerError);
    assert_eq!(r.message.as_deref(), Some(&b"object too large for cache"[..]));

    assert_eq!(parse_all(b"ERROR\r\n").code, Code::Error);
    assert_eq!(parse_all(b"MN\r\n").code, Code::Noop);
    assert_eq!(parse_all(b"NS\r\n").code, Code::NotStored);
    let r = parse_all(b"ME foo exp=-1 la=0 cas=4 fetch=yes cls=1 size=64\r\n");
    assert_eq!(r.code, Code::Debug);
    assert!(r.message.unwrap().starts_with(b"foo exp=-1"));
}

#[test]
fn reports_incomplete_input_as_need_more() {
    let wire = b"VA 5 c1\r\nhello\r\n";
    for cut in 0..wire.len() {
        assert_eq!(parse(&wire[..cut]).unwrap(), None, "cut at {cut}");
    }
}

#[test]
fn rejects_garbage() {
    for bad in [
        &b"XX 1\r\n"[..],
        b"VA x\r\nabc\r\n",
        b"VA 3\r\nabcde\r\n",
        b"HD c-1\r\n",
        b"HD  c1\r\n",
        b"HD\n",
        b"MN c1\r\n",
        b"HD h2\r\n",
        b"VA 18446744073709551615\r\n",
    ] {
        assert!(parse(bad).is_err(), "{:?} should fail", String::from_utf8_lossy(bad));
    }
    assert!(parse(&[b'H'; MAX_LINE_LEN + 2]).is_err());
}

#[test]
fn line_length_limit_does_not_depend_on_read_boundaries() {
    let mut longest = b"ME ".to_vec();
    longest.resize(MAX_LINE_LEN, b'a');
    longest.extend_from_slice(b"\r\n");
    assert!(parse(&longest).unwrap().is_some());
    for cut in [MAX_LINE_LEN - 1, MAX_LINE_LEN, MAX_LINE_LEN + 1] {
        assert_eq!(parse(&longest[..cut]).unwrap(), None, "cut {cut}");
    }
    let mut too_long = b"ME ".to_vec();
    too_long.resize(MAX_LINE_LEN + 1, b'a');
    too_long.extend_from_slice(b"\r\n");
    assert!(parse(&too_long).is_err());
    assert!(parse(&too_long[..MAX_LINE_LEN + 2]).is_err());
}

fn token() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(0x21u8..0x7f, 1..40).prop_map(Bytes::from)
}

fn arb_response() -> impl Strategy<Value = Response> {
    let code = prop_oneof![
        Just(Code::Value),
        Just(Code::Stored),
        Just(Code::Miss),
        Just(Code::NotFound),
        Just(Code::NotStored),
        Just(Code::Exists),
    ];
    let flags = (
        (
            any::<Option<u64>>(),
            any::<Option<i64>>(),
            any::<Option<u32>>(),
            any::<Option<bool>>(),
        ),
        (
            any::<Option<u64>>(),
            any::<Option<u64>>(),
            proptest::option::of(token()),
            proptest::option::of(token()),
        ),
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |((cas, ttl, cf, hit), (la, size, opaque, key), (b64, win, stale, won))| ReturnFlags {
                cas,
                ttl,
                client_flags: cf,
                hit_before: hit,
                last_access: la,
                size,
                opaque,
                key,
                base64_key: b64,
                win,
                stale,
                already_won: won,
            },
        );
    let value = proptest::collection::vec(any::<u8>(), 0..200).prop_map(Bytes::from);
    let meta = (code, flags, value).prop_map(|(code, flags, value)| Response {
        code,
        value: (code == Code::Value).then_some(value),
        flags: if code == Code::Noop {
            ReturnFlags::default()
        } else {
            flags
        },
        message: None,
    });
    let fault = (
        prop_oneof![Just(Code::ClientError), Just(Code::ServerError), Just(Code::Debug)],
        proptest::collection::vec(0x20u8..0x7f, 0..60),
    )
        .prop_map(|(code, msg)| Response {
            code,
            value: None,
            flags: ReturnFlags::default(),
            message: Some(msg.into()),
        });
    prop_oneof![4 => meta, 1 => fault, 1 => Just(Response { code: Code::Noop, value: None, flags: ReturnFlags::default(), message: None })]
}

proptest! {
    #[test]
    fn encode_then_parse_round_trips(responses in proptest::collection::vec(arb_response(), 1..6)) {
        let mut wire = Vec::new();
        for r in &responses {
            r.encode(&mut wire);
        }
        let wire = Bytes::from(wire);
        let mut offset = 0;
        for expected in &responses {
            let parsed = parse(&wire[offset..]).unwrap().expect("complete");
            let frame = wire.slice(offset..offset + parsed.consumed);
            offset += parsed.consumed;
            prop_assert_eq!(&parsed.into_response(&frame), expected);
        }
        prop_assert_eq!(offset, wire.len());
    }

    #[test]
    fn every_split_point_parses_the_same(response in arb_response()) {
        let mut wire = Vec::new();
        response.encode(&mut wire);
        for cut in 0..wire.len() {
            // A prefix is never an error and never a (wrong) complete response.
            prop_assert_eq!(parse(&wire[..cut]).unwrap(), None);
        }
        let parsed = parse(&wire).unwrap().unwrap();
        prop_assert_eq!(parsed.into_response(&Bytes::from(wire)), response);
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(Some(parsed)) = parse(&input) {
            prop_assert!(parsed.consumed <= input.len());
        }
    }
}

#[test]
fn fast_unsigned_parse_accepts_exactly_what_the_general_one_does() {
    let tokens: [&[u8]; 12] = [
        b"0",
        b"007",
        b"+5",
        b"",
        b"-1",
        b"12a",
        b"4294967295",
        b"4294967296",
        b"9999999999999999999",
        b"18446744073709551615",
        b"18446744073709551616",
        "١".as_bytes(),
    ];
    for token in tokens {
        let fast: Result<u32, _> = parse_unsigned(token, "n");
        let general: Result<u32, _> = parse_number(token, "n");
        assert_eq!(fast, general, "u32 {token:?}");
        let fast: Result<u64, _> = parse_unsigned(token, "n");
        let general: Result<u64, _> = parse_number(token, "n");
        assert_eq!(fast, general, "u64 {token:?}");
    }
}
