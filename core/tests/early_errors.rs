//! Every error reply is written as soon as the bytes received make it
//! certain: feeding exactly the bytes up to and including the first
//! offending byte produces the error reply, and nothing more is needed.
//!
//! "Offending" is judged by serde_json, independently of the framer: the
//! first byte after which serde_json reports a syntax error (not "EOF
//! while parsing"). Cases where qemu's grammar knowingly differs from
//! RFC 8259 are left out: a keyword that goes on with more letters (qemu's
//! lexer takes `[a-z]+` and judges the word at its end), bytes >= 0x80,
//! `'` and 0xFF (see the oracle fuzz target's list of differences).

mod common;
use common::{agent, replies};
use proptest::prelude::*;
use serde_json::Value;

/// serde_json's view of a prefix: `Some(true)` certainly invalid,
/// `Some(false)` incomplete, `None` a complete value.
fn invalid(prefix: &[u8]) -> Option<bool> {
    match serde_json::from_slice::<Value>(prefix) {
        Ok(_) => None,
        Err(e) => Some(!e.is_eof()),
    }
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        "[a-z \\\\\"é]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Whether `b` starts or continues a keyword, or continues a number:
/// qemu judges those tokens at their end, serde_json at once.
fn continues_a_token(prefix: &[u8], b: u8) -> bool {
    let last = prefix.last().copied().unwrap_or(b' ');
    let number_byte = |c: u8| c.is_ascii_digit() || b"-+.eE".contains(&c);
    b.is_ascii_lowercase() || number_byte(last) && number_byte(b)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        max_global_rejects: 50_000,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct("tests/early_errors.proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]
    #[test]
    fn the_first_offending_byte_gets_the_reply(v in value(), cut in any::<prop::sample::Index>(), b in 0u8..0x80) {
        let text = serde_json::to_vec(&v).unwrap_or_default();
        let k = cut.index(text.len().max(1));
        let prefix = &text[..k];
        prop_assume!(invalid(prefix) == Some(false));
        let mut input = prefix.to_vec();
        input.push(b);
        prop_assume!(invalid(&input) == Some(true) && b != b'\'' && !continues_a_token(prefix, b));
        let mut a = agent();
        prop_assert_eq!(replies(&mut a, prefix), "");
        let out = replies(&mut a, &[b]);
        // A keyword the byte ends is one value, the byte itself may be
        // another (`nu` + 0x0E: invalid keyword, then stray): one or two.
        let lines: Vec<&str> = out.lines().collect();
        prop_assert!(!lines.is_empty() && lines.len() <= 2, "{:?} + {:?}: {}", String::from_utf8_lossy(prefix), b as char, out);
        for l in lines {
            prop_assert!(l.starts_with("{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON "), "{}", l);
        }
    }
}

#[test]
fn the_issues_examples() {
    let mut a = agent();
    let deep = [b'['; 10_000];
    assert_eq!(replies(&mut a, &deep[..64]), "");
    assert_eq!(
        replies(&mut a, &deep[64..65]),
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON nesting depth limit exceeded\"}}\n"
    );
    assert_eq!(replies(&mut a, &deep[65..]), "");
    let mut a = agent();
    assert_eq!(
        replies(&mut a, b"{\"execute\":\"guest-ping\",\"id\":\"\xc3"),
        ""
    );
    assert_eq!(
        replies(&mut a, b"\""),
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, invalid UTF-8 sequence in string\"}}\n"
    );
    assert_eq!(
        replies(&mut a, b"}{\"execute\":\"guest-ping\"}"),
        "{\"return\": {}}\n"
    );
    let mut a = agent();
    assert_eq!(replies(&mut a, br#"{"execute":"\u12"#), "");
    assert!(replies(&mut a, b"\"").contains("invalid escape sequence"));
}
