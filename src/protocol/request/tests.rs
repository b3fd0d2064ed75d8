use super::*;
use crate::protocol::flags::parse_flag_token;
use proptest::prelude::*;

/// Test-only request parser: the inverse of [`Request::encode`].
pub(crate) fn decode_request(input: &[u8]) -> (Command, Vec<u8>, Option<Vec<u8>>, Vec<Flag>, usize) {
    let line_end = input.windows(2).position(|w| w == b"\r\n").unwrap();
    let line = &input[..line_end];
    let mut tokens = line.split(|b| *b == b' ');
    let command = match tokens.next().unwrap() {
        b"mg" => Command::Get,
        b"ms" => Command::Set,
        b"md" => Command::Delete,
        b"ma" => Command::Arithmetic,
        b"mn" => Command::Noop,
        b"me" => Command::Debug,
        other => panic!("bad command {other:?}"),
    };
    let key = if command == Command::Noop {
        Vec::new()
    } else {
        tokens.next().unwrap().to_vec()
    };
    let datalen: Option<usize> =
        (command == Command::Set).then(|| std::str::from_utf8(tokens.next().unwrap()).unwrap().parse().unwrap());
    let flags = tokens.map(|t| parse_flag_token(command, t).unwrap()).collect();
    let mut consumed = line_end + 2;
    let value = datalen.map(|n| {
        let v = input[consumed..consumed + n].to_vec();
        assert_eq!(&input[consumed + n..consumed + n + 2], b"\r\n");
        consumed += n + 2;
        v
    });
    (command, key, value, flags, consumed)
}

fn arb_key() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(0x21u8..0x7f, 1..250)
}

fn arb_flag() -> impl Strategy<Value = Flag> {
    prop_oneof![
        Just(Flag::Base64Key),
        Just(Flag::ReturnCas),
        any::<u64>().prop_map(Flag::CompareCas),
        any::<u64>().prop_map(Flag::NewCas),
        Just(Flag::ReturnClientFlags),
        any::<u32>().prop_map(Flag::ClientFlags),
        Just(Flag::ReturnHit),
        Just(Flag::Invalidate),
        any::<u64>().prop_map(Flag::Initial),
        Just(Flag::ReturnKey),
        Just(Flag::ReturnLastAccess),
        prop_oneof![
            Just(SetMode::Set),
            Just(SetMode::Add),
            Just(SetMode::Replace),
            Just(SetMode::Append),
            Just(SetMode::Prepend)
        ]
        .prop_map(Flag::SetMode),
        prop_oneof![Just(ArithmeticMode::Increment), Just(ArithmeticMode::Decrement)].prop_map(Flag::ArithmeticMode),
        TTL_RANGE.prop_map(Flag::Vivify),
        proptest::collection::vec(0x21u8..0x7f, 1..31).prop_map(|t| Flag::Opaque(t.into())),
        Just(Flag::Quiet),
        TTL_RANGE.prop_map(Flag::Recache),
        Just(Flag::ReturnSize),
        Just(Flag::ReturnTtl),
        TTL_RANGE.prop_map(Flag::Ttl),
        Just(Flag::NoLruBump),
        Just(Flag::ReturnValue),
        any::<u64>().prop_map(Flag::Delta),
        Just(Flag::RemoveValue),
    ]
}

fn arb_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::Get),
        Just(Command::Set),
        Just(Command::Delete),
        Just(Command::Arithmetic),
        Just(Command::Noop),
        Just(Command::Debug),
    ]
}

proptest! {
    #[test]
    fn encode_then_decode_round_trips(
        command in arb_command(),
        key in arb_key(),
        value in proptest::collection::vec(any::<u8>(), 0..300),
        flags in proptest::collection::vec(arb_flag(), 0..12),
    ) {
        let flags: Vec<Flag> = flags.into_iter().filter(|f| f.allowed_for(command)).collect();
        let mut request = Request::new(command, &key, &flags);
        if command == Command::Set {
            request = request.with_value(&value);
        }
        let mut wire = Vec::new();
        request.encode(&mut wire);
        let (c, k, v, f, consumed) = decode_request(&wire);
        prop_assert_eq!(c, command);
        prop_assert_eq!(consumed, wire.len());
        if command != Command::Noop {
            prop_assert_eq!(k, key);
        }
        prop_assert_eq!(v, (command == Command::Set).then(|| value.clone()));
        prop_assert_eq!(f, flags);
    }
}

#[test]
fn encodes_the_documented_examples() {
    let mut out = Vec::new();
    let flags = [
        Flag::ReturnValue,
        Flag::ReturnCas,
        Flag::Vivify(30),
        Flag::Opaque("ab".into()),
    ];
    Request::new(Command::Get, b"foo", &flags).encode(&mut out);
    assert_eq!(out, b"mg foo v c N30 Oab\r\n");

    out.clear();
    let flags = [
        Flag::Ttl(-1),
        Flag::ClientFlags(16),
        Flag::SetMode(SetMode::Add),
        Flag::Quiet,
    ];
    Request::new(Command::Set, b"k", &flags)
        .with_value(b"hi")
        .encode(&mut out);
    assert_eq!(out, b"ms k 2 T-1 F16 ME q\r\nhi\r\n");

    out.clear();
    encode_noop(&mut out);
    assert_eq!(out, b"mn\r\n");
}

#[test]
fn flag_sets_follow_the_protocol() {
    assert!(Flag::Vivify(1).allowed_for(Command::Get));
    assert!(!Flag::ClientFlags(1).allowed_for(Command::Get));
    assert!(Flag::Invalidate.allowed_for(Command::Delete));
    assert!(!Flag::ReturnValue.allowed_for(Command::Delete));
    assert!(Flag::SetMode(SetMode::Add).allowed_for(Command::Set));
    assert!(!Flag::SetMode(SetMode::Add).allowed_for(Command::Arithmetic));
    assert!(Flag::ArithmeticMode(ArithmeticMode::Decrement).allowed_for(Command::Arithmetic));
    assert!(!Flag::Quiet.allowed_for(Command::Noop));
}
