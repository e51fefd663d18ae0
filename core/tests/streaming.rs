//! Large arguments stream past the request buffer (512 bytes here):
//! straight into the file, or through the spool, with the same results as
//! an inline write; blocked commands never receive streamed data.

mod common;
use base64ct::{Base64, Encoding};
use common::{agent, replies};
use qga_core::schema::{Command, CommandSet};

/// An agent with `/c` open for writing as handle 1000.
fn agent_with_file() -> Box<common::SmallAgent> {
    let mut a = agent();
    let open = br#"{"execute":"guest-file-open","arguments":{"path":"/c","mode":"w"}}"#;
    assert_eq!(replies(&mut a, open), "{\"return\": 1000}\n");
    a
}

fn write_req(handle_first: bool, b64: &str) -> String {
    if handle_first {
        format!(r#"{{"execute":"guest-file-write","arguments":{{"handle":1,"buf-b64":"{b64}"}}}}"#)
    } else {
        format!(r#"{{"arguments":{{"buf-b64":"{b64}","handle":1}},"execute":"guest-file-write"}}"#)
    }
}

#[test]
fn direct_stream_writes_everything_without_buffering() {
    let mut a = agent();
    let data = vec![7u8; 300_000];
    let req = write_req(true, &Base64::encode_string(&data));
    assert_eq!(
        replies(
            &mut a,
            br#"{"execute":"guest-file-open","arguments":{"path":"/dev/zero","mode":"w"}}"#
        ),
        "{\"return\": 1}\n"
    );
    assert_eq!(
        replies(&mut a, req.as_bytes()),
        "{\"return\": {\"count\": 300000, \"eof\": false}}\n"
    );
    assert_eq!(a.platform().sunk, 300_000);
    assert_eq!(
        replies(&mut a, br#"{"execute":"guest-ping"}"#),
        "{\"return\": {}}\n"
    );
}

#[test]
fn members_in_any_order_go_through_the_spool() {
    let mut a = agent();
    let req = write_req(false, &Base64::encode_string(&[1u8; 9000]));
    assert_eq!(
        replies(&mut a, req.as_bytes()),
        "{\"return\": {\"count\": 9000, \"eof\": false}}\n"
    );
    assert_eq!(a.platform().sunk, 9000);
}

#[test]
fn proxmox_76_column_base64_with_escaped_newlines() {
    let mut a = agent();
    let b64 = Base64::encode_string(&[0xABu8; 3000]);
    let wrapped: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect();
    let req = write_req(true, &wrapped.join("\\n"));
    assert_eq!(
        replies(&mut a, req.as_bytes()),
        "{\"return\": {\"count\": 3000, \"eof\": false}}\n"
    );
}

#[test]
fn escaped_slashes_in_streamed_base64() {
    let mut a = agent();
    let b64 = Base64::encode_string(&[0xFFu8; 3000]).replace('/', "\\/");
    assert!(b64.contains("\\/"));
    assert_eq!(
        replies(&mut a, write_req(true, &b64).as_bytes()),
        "{\"return\": {\"count\": 3000, \"eof\": false}}\n"
    );
}

#[test]
fn invalid_characters_in_a_streamed_payload() {
    let mut a = agent();
    let b64 = format!("{}!{}", "QUJD".repeat(200), "QUJD".repeat(200));
    assert_eq!(
        replies(&mut a, write_req(false, &b64).as_bytes()),
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Base64 data contains invalid characters\"}}\n"
    );
}

#[test]
fn blocked_file_write_gets_no_streamed_data() {
    let mut a = agent();
    let mut block = CommandSet::EMPTY;
    block.insert(Command::GuestFileWrite);
    a.set_filters(block, None);
    let req = write_req(true, &"QUJD".repeat(1000));
    assert_eq!(
        replies(&mut a, req.as_bytes()),
        "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Command guest-file-write has been disabled: the command is not allowed\"}}\n"
    );
    assert_eq!(a.platform().sunk, 0);
}

#[test]
fn streamed_exec_input_reaches_the_process() {
    let mut a = agent();
    let input = Base64::encode_string(&[b'x'; 6000]);
    let req = format!(
        r#"{{"execute":"guest-exec","arguments":{{"path":"cat","input-data":"{input}","capture-output":true}}}}"#
    );
    assert_eq!(
        replies(&mut a, req.as_bytes()),
        "{\"return\": {\"pid\": 100}}\n"
    );
    let status = replies(
        &mut a,
        br#"{"execute":"guest-exec-status","arguments":{"pid":100}}"#,
    );
    assert!(
        status.contains(&format!("\"out-data\": \"{input}\"")),
        "{status}"
    );
}

#[test]
fn large_reads_stream_from_small_buffers() {
    let mut a = agent();
    let _ = replies(
        &mut a,
        br#"{"execute":"guest-file-open","arguments":{"path":"/dev/zero"}}"#,
    );
    let out = replies(
        &mut a,
        br#"{"execute":"guest-file-read","arguments":{"handle":1,"count":1000000}}"#,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    assert_eq!(v["return"]["count"], 1_000_000);
    let b64 = v["return"]["buf-b64"].as_str().unwrap_or("");
    assert_eq!(Base64::decode_vec(b64).map(|d| d.len()), Ok(1_000_000));
}

#[test]
fn a_second_large_string_is_too_large() {
    let mut a = agent();
    let big = "QUJD".repeat(200);
    let req = format!(
        r#"{{"execute":"guest-file-write","arguments":{{"handle":1,"buf-b64":"{big}","x":"{big}"}}}}{{"execute":"guest-ping"}}"#
    );
    assert_eq!(
        replies(&mut a, req.as_bytes()),
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON token size limit exceeded\"}}\n{\"return\": {}}\n"
    );
}

#[test]
fn a_member_after_a_direct_payload_is_judged_after_the_write() {
    // The one documented exception to "validate before side effects".
    let mut a = agent();
    let req = format!(
        r#"{{"execute":"guest-file-write","arguments":{{"handle":1,"buf-b64":"{}","bogus":1}}}}"#,
        "QUJD".repeat(300)
    );
    assert_eq!(
        replies(&mut a, req.as_bytes()),
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'bogus' is unexpected\"}}\n"
    );
    assert_eq!(a.platform().sunk, 900, "the data went straight to the file");
}

#[test]
fn a_member_before_the_payload_keeps_it_out_of_the_file() {
    let mut a = agent();
    for members in [
        r#""bogus":1,"handle":1"#,
        r#""handle":1,"count":900"#,
        r#""handle":"1""#,
    ] {
        let req = format!(
            r#"{{"execute":"guest-file-write","arguments":{{{members},"buf-b64":"{}"}}}}"#,
            "QUJD".repeat(300)
        );
        let out = replies(&mut a, req.as_bytes());
        assert_eq!(
            a.platform().sunk,
            if out.contains("count") { 900 } else { 0 },
            "{members}: {out}"
        );
        a.platform_mut().sunk = 0;
    }
}

#[test]
fn the_spool_is_released_when_its_request_ends() {
    let mut a = agent();
    let ok = write_req(false, &"QUJD".repeat(300));
    assert!(replies(&mut a, ok.as_bytes()).contains("\"count\": 900"));
    assert_eq!(a.platform().spool_releases, 1);
    let bad = ok.replace("\"handle\":1", "\"handle\":1,\"x\":2");
    assert!(replies(&mut a, bad.as_bytes()).contains("'x' is unexpected"));
    assert_eq!(a.platform().spool_releases, 2);
    let mut cut = ok.as_bytes()[..700].to_vec();
    cut.push(0xFF);
    assert_eq!(replies(&mut a, &cut), "");
    assert_eq!(a.platform().spool_releases, 3, "a 0xFF dropped the request");
    let direct = write_req(true, &"QUJD".repeat(300));
    let _ = replies(&mut a, direct.as_bytes());
    assert_eq!(
        a.platform().spool_releases,
        3,
        "a direct write never used the spool"
    );
}

#[test]
fn a_string_nothing_can_stream_is_refused_at_once() {
    let mut a = agent();
    let head = format!(
        r#"{{"execute":"guest-file-open","arguments":{{"path":"{}"#,
        "a".repeat(600)
    );
    assert_eq!(
        replies(&mut a, head.as_bytes()),
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON token size limit exceeded\"}}\n",
        "no need to wait for the end of the request"
    );
    assert_eq!(
        replies(&mut a, br#"aaaa"}}{"execute":"guest-ping"}"#),
        "{\"return\": {}}\n"
    );
    let head = format!(
        r#"{{"execute":"guest-exec","arguments":{{"buf-b64":"{}"#,
        "Q".repeat(600)
    );
    assert!(replies(&mut a, head.as_bytes()).contains("JSON token size limit exceeded"));
}

#[test]
fn a_streamed_request_past_64_mib_is_answered_at_once() {
    let mut a = agent();
    let head = br#"{"execute":"guest-file-write","arguments":{"handle":1,"buf-b64":""#;
    assert_eq!(replies(&mut a, head), "");
    let chunk = "QUJD".repeat(1 << 16); // 256 KiB of text
    let limit = qga_core::config::MAX_MESSAGE as usize;
    let mut sent = head.len();
    let mut out = String::new();
    while out.is_empty() && sent < limit + chunk.len() {
        out = replies(&mut a, chunk.as_bytes());
        sent += chunk.len();
    }
    assert_eq!(
        out,
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON token size limit exceeded\"}}\n"
    );
    assert!(sent > limit && sent - chunk.len() <= limit, "{sent}");
    // Documented difference: what was decoded before the bound is in the file.
    let sunk = a.platform().sunk;
    assert!(sunk > 47 << 20 && sunk <= 48 << 20, "{sunk}");
    assert_eq!(replies(&mut a, chunk.as_bytes()), "", "the rest is skipped");
    assert_eq!(
        replies(&mut a, br#""}}{"execute":"guest-ping"}"#),
        "{\"return\": {}}\n"
    );
}

#[test]
fn a_spooled_payload_is_cut_at_count() {
    let mut a = agent_with_file();
    let b64 = Base64::encode_string(&[b'z'; 900]);
    let req = format!(
        r#"{{"execute":"guest-file-write","arguments":{{"buf-b64":"{b64}","handle":1000,"count":5}}}}"#
    );
    assert_eq!(
        replies(&mut a, req.as_bytes()),
        "{\"return\": {\"count\": 5, \"eof\": false}}\n"
    );
    assert_eq!(a.platform().fs.contents("/c"), Some(&b"zzzzz"[..]));
}

#[test]
fn a_count_before_the_payload_still_cuts_it() {
    // `handle` then `count`, then the long payload: the prefix is not the
    // handle alone, so the payload is spooled and cut at `count`.
    let mut a = agent_with_file();
    let b64 = Base64::encode_string(&[b'y'; 900]);
    let req = format!(
        r#"{{"execute":"guest-file-write","arguments":{{"handle":1000,"count":3,"buf-b64":"{b64}"}}}}"#
    );
    assert_eq!(
        replies(&mut a, req.as_bytes()),
        "{\"return\": {\"count\": 3, \"eof\": false}}\n"
    );
    assert_eq!(a.platform().fs.contents("/c"), Some(&b"yyy"[..]));
}

#[test]
fn an_unclean_envelope_before_the_payload_writes_nothing() {
    // An unknown top-level member before `arguments`: the request is an
    // error, so the payload is spooled and judged, never written.
    let mut a = agent_with_file();
    let b64 = Base64::encode_string(&[b'x'; 900]);
    let req = format!(
        r#"{{"execute":"guest-file-write","x":1,"arguments":{{"handle":1000,"buf-b64":"{b64}"}}}}"#
    );
    assert_eq!(
        replies(&mut a, req.as_bytes()),
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input member 'x' is unexpected\"}}\n"
    );
    assert_eq!(a.platform().fs.contents("/c"), Some(&b""[..]));
}

/// Reply and file contents of one `guest-file-write` of `b64` (raw JSON
/// string content), followed by `tail` inside `arguments`, to a fresh file.
fn write_outcome(b64: &str, tail: &str) -> (String, Option<Vec<u8>>) {
    let mut a = agent_with_file();
    let req = format!(
        r#"{{"execute":"guest-file-write","arguments":{{"handle":1000,"buf-b64":"{b64}"{tail}}}}}"#
    );
    let reply = replies(&mut a, req.as_bytes());
    (reply, a.platform().fs.contents("/c").map(<[u8]>::to_vec))
}

#[test]
fn escapes_in_a_payload_write_what_their_characters_would_at_every_offset() {
    // The escape, and the payload's end, land on each byte around the end
    // of the 512-byte request buffer, where the string starts to stream. A
    // payload ending there must not make its request too large to store.
    for tail in [""] {
        for (escaped, plain) in [("\\u0041", "A"), ("\\/", "/")] {
            for k in 380..520 {
                let head = "QUJD".repeat(k / 4) + &"A".repeat(k % 4);
                let text = |c: &str| format!("{head}{c}QUJDQUJDQUJD{c}QUJD");
                let (esc, pla) = (
                    write_outcome(&text(escaped), tail),
                    write_outcome(&text(plain), tail),
                );
                assert_eq!(esc, pla, "{escaped} at {k}, then {tail:?}");
                assert!(pla.0.starts_with("{\"return\""), "{k} {tail:?}: {}", pla.0);
            }
        }
    }
}

#[test]
fn a_payload_starting_too_close_to_the_buffer_end_is_a_size_error() {
    // A long `id` pushes the payload's opening quote to each byte around
    // the end of the 512-byte buffer. Up to byte 508 the string can stream
    // (`""}}` still fits after it); from 509 the request is too large:
    // nothing is written, and the next request is answered.
    let big = "QUJD".repeat(200);
    for pad in 405..445usize {
        let mut a = agent_with_file();
        let id = "i".repeat(pad);
        let req = format!(
            r#"{{"execute":"guest-file-write","id":"{id}","arguments":{{"handle":1000,"buf-b64":"{big}"}}}}{{"execute":"guest-ping"}}"#
        );
        let quote = req.find(&big).unwrap() - 1;
        let (reply, written) = match quote <= 508 {
            true => (format!("{{\"return\": {{\"count\": 600, \"eof\": false}}, \"id\": \"{id}\"}}\n"), 600),
            false => ("{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON token size limit exceeded\"}}\n".to_owned(), 0),
        };
        assert_eq!(
            replies(&mut a, req.as_bytes()),
            reply + "{\"return\": {}}\n",
            "quote at {quote}"
        );
        assert_eq!(
            a.platform().fs.contents("/c").map(<[u8]>::len),
            Some(written),
            "quote at {quote}"
        );
    }
}

#[test]
fn invalid_characters_in_a_streamed_input_data() {
    // Spooled for guest-exec: judged when the request ends, no process.
    let bad = "QUJD".repeat(150) + "!!!!" + &"QUJD".repeat(50);
    let req = format!(
        r#"{{"execute":"guest-exec","arguments":{{"path":"cat","input-data":"{bad}"}}}}{{"execute":"guest-exec-status","arguments":{{"pid":100}}}}"#
    );
    assert_eq!(
        replies(&mut agent(), req.as_bytes()),
        concat!(
            "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Base64 data contains invalid characters\"}}\n",
            "{\"error\": {\"class\": \"GenericError\", \"desc\": \"PID 100 does not exist\"}}\n"
        )
    );
}

#[test]
fn a_streamed_member_of_another_command_is_too_large() {
    // `execute` comes last and names a command whose streamable member is
    // not the one that streamed: the request is too large to keep.
    let big = "QUJD".repeat(200);
    for req in [
        format!(r#"{{"arguments":{{"handle":1000,"buf-b64":"{big}"}},"execute":"guest-exec"}}"#),
        format!(
            r#"{{"arguments":{{"path":"cat","input-data":"{big}"}},"execute":"guest-file-write"}}"#
        ),
    ] {
        let mut a = agent_with_file();
        assert_eq!(
            replies(&mut a, req.as_bytes()),
            "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON token size limit exceeded\"}}\n"
        );
        assert_eq!(a.platform().fs.contents("/c"), Some(&b""[..]));
    }
}

#[test]
fn a_count_after_a_direct_payload_is_an_error_and_the_data_stays_written() {
    // README: members after a direct `buf-b64` are judged after the data.
    let mut a = agent_with_file();
    let req = format!(
        r#"{{"execute":"guest-file-write","arguments":{{"handle":1000,"buf-b64":"{}","count":3}}}}"#,
        "QUJD".repeat(200)
    );
    assert_eq!(
        replies(&mut a, req.as_bytes()),
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON token size limit exceeded\"}}\n"
    );
    assert_eq!(
        a.platform().fs.contents("/c"),
        Some(&b"ABC".repeat(200)[..])
    );
}

#[test]
fn a_streamed_request_past_64_mib_by_one_byte_is_refused_and_at_64_mib_taken() {
    // The bound counts the request up to the end of the streamed string:
    // exactly 64 MiB is taken, one byte more is refused.
    let head = br#"{"execute":"guest-file-write","arguments":{"handle":1,"buf-b64":""#;
    let limit = qga_core::config::MAX_MESSAGE as usize;
    let chunk = "QUJD".repeat(1 << 16);
    for extra in [0, 1] {
        let mut a = agent();
        let content = limit - (head.len() - 1) + extra;
        assert_eq!(replies(&mut a, head), "");
        let mut left = content;
        let mut out = String::new();
        while left > 0 {
            let n = left.min(chunk.len());
            out += &replies(&mut a, &chunk.as_bytes()[..n]);
            left -= n;
        }
        out += &replies(&mut a, br#""}}"#);
        let expected = match extra {
            0 => format!("{{\"return\": {{\"count\": {}, \"eof\": false}}}}\n", content * 3 / 4),
            _ => "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON token size limit exceeded\"}}\n".to_owned(),
        };
        assert_eq!(out, expected, "{extra}");
    }
}

#[test]
fn nothing_after_an_invalid_character_of_a_direct_payload_is_written() {
    let mut a = agent_with_file();
    let bad = "QUJD".repeat(150) + "!!!!" + &"RUZH".repeat(2000);
    let req = format!(
        r#"{{"execute":"guest-file-write","arguments":{{"handle":1000,"buf-b64":"{bad}"}}}}"#
    );
    assert_eq!(
        replies(&mut a, req.as_bytes()),
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Base64 data contains invalid characters\"}}\n"
    );
    let written = a.platform().fs.contents("/c").unwrap_or_default();
    assert!(
        written.len() <= 450 && b"ABC".repeat(150).starts_with(written),
        "{} bytes, from {:?}",
        written.len(),
        String::from_utf8_lossy(&written[written.len().saturating_sub(12)..])
    );
}

#[test]
fn a_control_byte_in_a_streamed_payload_is_a_stray() {
    // As qemu-ga: the stray, then the `}}` after it are unexpected.
    let req = format!(
        "{{\"execute\":\"guest-file-write\",\"arguments\":{{\"handle\":1000,\"buf-b64\":\"{}\u{1}\"}}}}{{\"execute\":\"guest-ping\"}}",
        "QUJD".repeat(150)
    );
    assert_eq!(
        replies(&mut agent(), req.as_bytes()),
        concat!(
            "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, stray '\\u0001'\"}}\n",
            "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, expecting value\"}}\n",
            "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, expecting value\"}}\n",
            "{\"return\": {}}\n"
        )
    );
}

#[test]
fn only_a_member_of_arguments_streams_even_after_arguments_closed() {
    // A `buf-b64` in another top-level object is a plain (too large) string.
    let mut a = agent_with_file();
    let req = format!(
        r#"{{"execute":"guest-file-write","arguments":{{"handle":1000}},"x":{{"buf-b64":"{}"}}}}"#,
        "QUJD".repeat(200)
    );
    assert_eq!(
        replies(&mut a, req.as_bytes()),
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON token size limit exceeded\"}}\n"
    );
    assert_eq!(a.platform().fs.contents("/c"), Some(&b""[..]));
}

#[test]
fn count_cuts_payloads_of_many_pieces_inline_and_spooled() {
    // Inline (a buffer large enough for the whole request) and spooled
    // (`buf-b64` before `handle`), each several decoder pieces long.
    let b64 = Base64::encode_string(&[b'q'; 9000]);
    let req = |order: &str| match order {
        "inline" => format!(
            r#"{{"execute":"guest-file-write","arguments":{{"handle":1000,"count":7001,"buf-b64":"{b64}"}}}}"#
        ),
        _ => format!(
            r#"{{"execute":"guest-file-write","arguments":{{"buf-b64":"{b64}","handle":1000,"count":7001}}}}"#
        ),
    };
    let open = br#"{"execute":"guest-file-open","arguments":{"path":"/c","mode":"w"}}"#;
    let mut big: Box<qga_core::Agent<qga_core::platform::mock::MockPlatform, 16384>> = Box::new(
        qga_core::Agent::new(qga_core::platform::mock::MockPlatform::new()),
    );
    let mut small = agent();
    let mut out = Vec::new();
    big.feed(open, &mut out).unwrap();
    big.feed(req("inline").as_bytes(), &mut out).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out),
        "{\"return\": 1000}\n{\"return\": {\"count\": 7001, \"eof\": false}}\n"
    );
    assert_eq!(big.platform().fs.contents("/c"), Some(&[b'q'; 7001][..]));
    assert_eq!(replies(&mut small, open), "{\"return\": 1000}\n");
    assert_eq!(
        replies(&mut small, req("spooled").as_bytes()),
        "{\"return\": {\"count\": 7001, \"eof\": false}}\n"
    );
    assert_eq!(small.platform().fs.contents("/c"), Some(&[b'q'; 7001][..]));
}
