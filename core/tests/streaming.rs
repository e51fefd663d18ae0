//! Large arguments stream past the request buffer (512 bytes here):
//! straight into the file, or through the spool, with the same results as
//! an inline write; blocked commands never receive streamed data.

mod common;
use base64ct::{Base64, Encoding};
use common::{agent, replies};
use qga_core::schema::{Command, CommandSet};

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
