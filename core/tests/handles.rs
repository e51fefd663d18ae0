//! Every file command checks its handle before anything else, for closed,
//! never-issued and negative handles, in every payload shape (empty,
//! inline, streamed); `guest-exec-status` checks its pid.

mod common;
use common::{agent, replies, SmallAgent};

fn not_found(h: i64) -> String {
    format!("{{\"error\": {{\"class\": \"GenericError\", \"desc\": \"handle '{h}' has not been found\"}}}}\n")
}

/// An agent with file `/f` holding "hello" and a closed handle 1000.
fn with_closed_handle() -> Box<SmallAgent> {
    let mut a = agent();
    let setup = concat!(
        r#"{"execute":"guest-file-open","arguments":{"path":"/f","mode":"w"}}"#,
        r#"{"execute":"guest-file-write","arguments":{"handle":1000,"buf-b64":"aGVsbG8="}}"#,
        r#"{"execute":"guest-file-close","arguments":{"handle":1000}}"#
    );
    assert_eq!(
        replies(&mut a, setup.as_bytes()),
        "{\"return\": 1000}\n{\"return\": {\"count\": 5, \"eof\": false}}\n{\"return\": {}}\n"
    );
    a
}

fn requests(h: i64) -> Vec<String> {
    let big = "QUJD".repeat(400); // 1600 characters: streams past the 512-byte buffer
    let args = |rest: &str| format!(r#"{{"handle":{h}{rest}}}"#);
    let mut v: Vec<String> = [
        ("guest-file-close", args("")),
        ("guest-file-flush", args("")),
        ("guest-file-read", args("")),
        ("guest-file-read", args(r#","count":0"#)),
        ("guest-file-read", args(r#","count":-1"#)),
        ("guest-file-seek", args(r#","offset":0,"whence":"set""#)),
        ("guest-file-seek", args(r#","offset":0,"whence":7"#)),
        ("guest-file-write", args(r#","buf-b64":"""#)),
        ("guest-file-write", args(r#","buf-b64":"aGk=""#)),
        ("guest-file-write", args(r#","buf-b64":"@@""#)),
        ("guest-file-write", args(&format!(r#","buf-b64":"{big}""#))),
        (
            "guest-file-write",
            args(&format!(r#","buf-b64":"{big}","count":2"#)),
        ),
    ]
    .iter()
    .map(|(cmd, a)| format!(r#"{{"execute":"{cmd}","arguments":{a}}}"#))
    .collect();
    // The handle after the payload: spooled, judged at the end.
    v.push(format!(
        r#"{{"execute":"guest-file-write","arguments":{{"buf-b64":"{big}","handle":{h}}}}}"#
    ));
    v
}

#[test]
fn closed_never_issued_and_negative_handles() {
    for h in [1000, 5000, -1, i64::MIN] {
        let mut a = with_closed_handle();
        for req in requests(h) {
            assert_eq!(replies(&mut a, req.as_bytes()), not_found(h), "{req:.80}");
        }
        assert_eq!(
            a.platform().fs.contents("/f"),
            Some(&b"hello"[..]),
            "nothing written"
        );
        assert_eq!(
            replies(&mut a, br#"{"execute":"guest-ping"}"#),
            "{\"return\": {}}\n"
        );
    }
}

#[test]
fn argument_errors_still_come_before_the_handle() {
    let mut a = with_closed_handle();
    assert_eq!(
        replies(
            &mut a,
            br#"{"execute":"guest-file-read","arguments":{"handle":5,"x":1}}"#
        ),
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'x' is unexpected\"}}\n"
    );
    assert_eq!(
        replies(&mut a, br#"{"execute":"guest-file-seek","arguments":{"handle":5,"offset":0,"whence":"top"}}"#),
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'whence' does not accept value 'top'\"}}\n"
    );
}

#[test]
fn open_handles_pass_the_check() {
    let mut a = with_closed_handle();
    let out = replies(
        &mut a,
        concat!(
            r#"{"execute":"guest-file-open","arguments":{"path":"/f","mode":"r+"}}"#,
            r#"{"execute":"guest-file-write","arguments":{"handle":1001,"buf-b64":""}}"#,
            r#"{"execute":"guest-file-read","arguments":{"handle":1001,"count":0}}"#,
            r#"{"execute":"guest-file-seek","arguments":{"handle":1001,"offset":0,"whence":7}}"#,
            r#"{"execute":"guest-file-flush","arguments":{"handle":1001}}"#
        )
        .as_bytes(),
    );
    assert_eq!(
        out,
        concat!(
            "{\"return\": 1001}\n",
            "{\"return\": {\"count\": 0, \"eof\": false}}\n",
            "{\"return\": {\"buf-b64\": \"\", \"count\": 0, \"eof\": false}}\n",
            "{\"error\": {\"class\": \"GenericError\", \"desc\": \"invalid whence code 7\"}}\n",
            "{\"return\": {}}\n"
        )
    );
}

#[test]
fn exec_status_checks_the_pid() {
    for pid in [0, 99, -1, 100] {
        let out = replies(
            &mut agent(),
            format!(r#"{{"execute":"guest-exec-status","arguments":{{"pid":{pid}}}}}"#).as_bytes(),
        );
        assert_eq!(
            out,
            format!("{{\"error\": {{\"class\": \"GenericError\", \"desc\": \"PID {pid} does not exist\"}}}}\n")
        );
    }
}

#[test]
fn seek_takes_every_whence_name_and_code() {
    // "hello": each seek's position shows which base it was taken from.
    let mut a = with_closed_handle();
    let seek = |whence: &str, offset: i64| {
        format!(
            r#"{{"execute":"guest-file-seek","arguments":{{"handle":1001,"offset":{offset},"whence":{whence}}}}}"#
        )
    };
    let mut input =
        String::from(r#"{"execute":"guest-file-open","arguments":{"path":"/f","mode":"r"}}"#);
    for (whence, offset) in [
        ("\"set\"", 1),
        ("\"cur\"", 1),
        ("\"end\"", -1),
        ("0", 3),
        ("1", -2),
        ("2", 0),
    ] {
        input += &seek(whence, offset);
    }
    let position = |p: u32| format!("{{\"return\": {{\"position\": {p}, \"eof\": false}}}}\n");
    let expected =
        String::from("{\"return\": 1001}\n") + &[2 - 1, 2, 4, 3, 1, 5].map(position).concat();
    assert_eq!(replies(&mut a, input.as_bytes()), expected);
}

#[test]
fn a_read_that_fails_at_once_is_an_error_reply() {
    // Nothing was read when the file refused: the error, not an empty read.
    let mut a = with_closed_handle();
    let out = replies(
        &mut a,
        concat!(
            r#"{"execute":"guest-file-open","arguments":{"path":"/f","mode":"a"}}"#,
            r#"{"execute":"guest-file-read","arguments":{"handle":1001}}"#
        )
        .as_bytes(),
    );
    assert_eq!(
        out,
        "{\"return\": 1001}\n{\"error\": {\"class\": \"GenericError\", \"desc\": \"failed to read file: Bad file descriptor\"}}\n"
    );
}

#[test]
fn a_read_error_after_some_data_returns_the_data_then_the_error() {
    // "hello"; the file fails after 3 bytes: the read gives those 3 (they
    // are not lost), and the next read gives the error.
    let mut a = with_closed_handle();
    let open = br#"{"execute":"guest-file-open","arguments":{"path":"/f","mode":"r"}}"#;
    assert_eq!(replies(&mut a, open), "{\"return\": 1001}\n");
    a.platform_mut().read_fails_after = Some(3);
    let read = br#"{"execute":"guest-file-read","arguments":{"handle":1001}}"#;
    assert_eq!(
        replies(&mut a, read),
        "{\"return\": {\"buf-b64\": \"aGVs\", \"count\": 3, \"eof\": false}}\n"
    );
    assert_eq!(
        replies(&mut a, read),
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"failed to read file: Input/output error\"}}\n"
    );
}

#[test]
fn a_read_error_after_a_streamed_chunk_keeps_what_was_read() {
    // 6,000 bytes; the file fails after 5,000, past the first chunk the
    // reply streams: the 5,000 come back, the next read gives the error.
    let mut a = common::agent();
    let data = "eHh4".repeat(2000); // "xxx" x 2000
    let setup = format!(
        r#"{{"execute":"guest-file-open","arguments":{{"path":"/big","mode":"w"}}}}{{"execute":"guest-file-write","arguments":{{"handle":1000,"buf-b64":"{data}"}}}}{{"execute":"guest-file-open","arguments":{{"path":"/big","mode":"r"}}}}"#
    );
    assert_eq!(
        replies(&mut a, setup.as_bytes()),
        "{\"return\": 1000}\n{\"return\": {\"count\": 6000, \"eof\": false}}\n{\"return\": 1001}\n"
    );
    a.platform_mut().read_fails_after = Some(5000);
    let read = br#"{"execute":"guest-file-read","arguments":{"handle":1001,"count":6000}}"#;
    let b64 = "eHh4".repeat(1666) + "eHg=";
    assert_eq!(
        replies(&mut a, read),
        format!("{{\"return\": {{\"buf-b64\": \"{b64}\", \"count\": 5000, \"eof\": false}}}}\n")
    );
    assert_eq!(
        replies(&mut a, read),
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"failed to read file: Input/output error\"}}\n"
    );
}
