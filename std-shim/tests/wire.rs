//! Wire details against the real binary over a raw unix socket: the 0xFF
//! resync, pipelining, arbitrary splitting, streamed base64 arguments,
//! `id` echo, disconnects, and a 48 MiB read that must stream.

// Helpers outside #[test] functions fail loudly too: a panic is the test failing.
#![allow(clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{b64_decode, b64_encode, err, request, ret, Agent, Conn};
use serde_json::{json, Value};

/// Opens `path` with `mode` and returns the handle.
fn open(c: &mut Conn, path: &std::path::Path, mode: &str) -> i64 {
    let reply = c.ask(&request(
        "guest-file-open",
        json!({ "path": path, "mode": mode }),
    ));
    ret(&reply).as_i64().expect("handle")
}

fn close(c: &mut Conn, handle: i64) {
    let reply = c.ask(&request("guest-file-close", json!({ "handle": handle })));
    assert_eq!(reply, json!({ "return": {} }));
}

#[test]
fn ff_resync_has_no_error_line_before_the_sentinel() {
    let mut agent = Agent::start("ff");
    let mut c = agent.connect();
    // On a clean stream, and after half a request (which 0xFF drops).
    for (id, prefix) in [(4711, &b""[..]), (4712, b"{\"execute\":\"guest-pi")] {
        c.send(prefix);
        c.send(&common::delimited_sync(id));
        let before = c.skip_to_ff();
        assert!(
            before.is_empty(),
            "bytes before 0xFF: {:?}",
            String::from_utf8_lossy(&before)
        );
        assert_eq!(c.line(), format!("{{\"return\": {id}}}\n").into_bytes());
    }
    // 0xFF is only ever the first byte of a delimited sync reply: a plain
    // guest-sync and a failed delimited sync carry none.
    c.send(b"{\"execute\":\"guest-sync\",\"arguments\":{\"id\":1}}");
    assert_eq!(c.line(), b"{\"return\": 1}\n");
    c.send(b"{\"execute\":\"guest-sync-delimited\"}");
    let line = c.line();
    assert!(!line.contains(&0xFF), "{line:?}");
    assert_eq!(
        err(&serde_json::from_slice(&line).expect("json")).1,
        "Parameter 'id' is missing"
    );
    assert!(c.drain(Duration::from_millis(200)).is_empty());
    assert!(agent.alive());
}

#[test]
fn proxmox_pipelines_sync_and_command_in_one_write() {
    let agent = Agent::start("pipe");
    let mut c = agent.connect();
    // Exactly what Proxmox writes: no leading 0xFF, `arguments` always there.
    c.send(
        b"{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":123400017}}\n\
          {\"execute\":\"guest-get-host-name\",\"arguments\":{}}\n",
    );
    assert!(c.skip_to_ff().is_empty());
    assert_eq!(c.line(), b"{\"return\": 123400017}\n");
    let host = c.json();
    assert!(ret(&host)["host-name"].is_string(), "{host}");
    // A longer burst in one write, answered strictly in order.
    let burst: String = (0..50)
        .map(|i| format!("{{\"execute\":\"guest-sync\",\"arguments\":{{\"id\":{i}}}}}"))
        .collect();
    c.send(burst.as_bytes());
    for i in 0..50 {
        assert_eq!(c.json(), json!({ "return": i }));
    }
}

#[test]
fn single_byte_writes_of_whole_requests() {
    let agent = Agent::start("bytes");
    let mut c = agent.connect();
    let path = agent.dir.join("split.bin");
    let h = open(&mut c, &path, "w");
    let data = common::pattern(150, 9);
    let mut stream = common::delimited_sync(77);
    stream.extend(
        request(
            "guest-file-write",
            json!({ "handle": h, "buf-b64": b64_encode(&data) }),
        )
        .bytes(),
    );
    for b in &stream {
        c.send(std::slice::from_ref(b));
        // Give the agent time to read each byte on its own.
        std::thread::sleep(Duration::from_micros(300));
    }
    assert!(c.skip_to_ff().is_empty());
    assert_eq!(c.json(), json!({ "return": 77 }));
    assert_eq!(
        c.json(),
        json!({ "return": { "count": 150, "eof": false } })
    );
    close(&mut c, h);
    assert_eq!(std::fs::read(&path).expect("file"), data);
}

/// Base64 broken into 76-column lines, each line end sent as the JSON
/// escape `\n`, as Proxmox's `encode_base64` + JSON encoder produce.
fn proxmox_base64(data: &[u8]) -> String {
    let b64 = b64_encode(data);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|l| std::str::from_utf8(l).expect("ascii"))
        .collect();
    let mut s = lines.join("\\n");
    s.push_str("\\n");
    s
}

#[test]
fn proxmox_76_column_base64_with_newline_escapes() {
    let agent = Agent::start("b64lines");
    let mut c = agent.connect();
    let path = agent.dir.join("pve.bin");
    let h = open(&mut c, &path, "w");
    let data = common::pattern(10 * 1024, 4);
    let req = format!(
        "{{\"execute\":\"guest-file-write\",\"arguments\":{{\"handle\":{h},\"buf-b64\":\"{}\"}}}}\n",
        proxmox_base64(&data)
    );
    assert!(req.matches("\\n").count() > 100);
    c.send(req.as_bytes());
    assert_eq!(
        c.json(),
        json!({ "return": { "count": 10240, "eof": false } })
    );
    close(&mut c, h);
    assert_eq!(std::fs::read(&path).expect("file"), data);
}

#[test]
fn large_write_streams_past_the_request_buffer() {
    let mut agent = Agent::start("bigwrite");
    let mut c = agent.connect();
    let path = agent.dir.join("big.bin");
    let h = open(&mut c, &path, "w");
    let data = common::pattern(200 * 1024, 5);
    // `handle` after the payload: the agent must not need it up front.
    let req = format!(
        "{{\"execute\":\"guest-file-write\",\"arguments\":{{\"buf-b64\":\"{}\",\"handle\":{h}}}}}",
        b64_encode(&data)
    );
    c.send(req.as_bytes());
    assert_eq!(
        c.json(),
        json!({ "return": { "count": 204800, "eof": false } })
    );
    // And with an explicit smaller `count`.
    let req = format!(
        "{{\"execute\":\"guest-file-write\",\"arguments\":{{\"handle\":{h},\"count\":1000,\"buf-b64\":\"{}\"}}}}",
        b64_encode(&data)
    );
    c.send(req.as_bytes());
    assert_eq!(
        c.json(),
        json!({ "return": { "count": 1000, "eof": false } })
    );
    close(&mut c, h);
    let on_disk = std::fs::read(&path).expect("file");
    assert_eq!(on_disk.len(), 205_800);
    assert!(on_disk[..204_800] == data[..] && on_disk[204_800..] == data[..1000]);
    // `count` larger than the data: qemu-ga's error, stream still in sync.
    let h = open(&mut c, &path, "a");
    let reply = c.ask(&request(
        "guest-file-write",
        json!({ "handle": h, "buf-b64": "aGVsbG8=", "count": 6 }),
    ));
    assert_eq!(err(&reply).1, "value '6' is invalid for argument count");
    assert_eq!(
        c.ask("{\"execute\":\"guest-ping\"}"),
        json!({ "return": {} })
    );
    assert!(agent.alive());
}

#[test]
fn id_is_echoed_verbatim() {
    let agent = Agent::start("id");
    let mut c = agent.connect();
    for id in [
        json!("abc \" \\ \u{e9}"),
        json!(42),
        json!(-1.5),
        json!(18446744073709551615u64),
        json!({ "a": [1, { "b": null }], "c": true }),
        json!([]),
        json!(null),
    ] {
        let ok = json!({ "execute": "guest-ping", "id": id });
        assert_eq!(c.ask(&ok.to_string()), json!({ "return": {}, "id": id }));
        // Also on a dispatcher error and a command failure.
        let bad = json!({ "execute": "guest-nope", "id": id });
        let reply = c.ask(&bad.to_string());
        assert_eq!(reply["id"], id);
        assert_eq!(err(&reply).0, "CommandNotFound");
        let fail = json!({ "execute": "guest-file-close", "arguments": { "handle": 1 }, "id": id });
        let reply = c.ask(&fail.to_string());
        assert_eq!(reply["id"], id);
        assert_eq!(err(&reply).1, "handle '1' has not been found");
    }
    // Escapes inside the id travel untouched (the raw text is echoed).
    c.send(b"{\"execute\":\"guest-ping\",\"id\":\"\\u00e9\\/x\"}");
    let line = c.line();
    assert_eq!(
        serde_json::from_slice::<Value>(&line).expect("json")["id"],
        "\u{e9}/x"
    );
    assert!(line.is_ascii());
}

#[test]
fn half_request_then_disconnect_leaves_the_next_client_clean() {
    let mut agent = Agent::start("half");
    let path = agent.dir.join("half.bin");
    let mut c = agent.connect();
    let h = open(&mut c, &path, "w");
    drop(c);
    let halves = [
        "{\"execute\":\"guest-sy".to_owned(),
        "{\"execute\":\"guest-ping\",\"id\":\"\\u12".to_owned(),
        "{\"execute\":\"guest-ping\",\"arguments\":{\"x\":[[[1,".to_owned(),
        // Half of a streamed argument: the base64 of a file write.
        format!(
            "{{\"execute\":\"guest-file-write\",\"arguments\":{{\"handle\":{h},\"buf-b64\":\"{}",
            &b64_encode(&common::pattern(30_000, 8))[..20_001]
        ),
    ];
    for (i, half) in halves.iter().enumerate() {
        let mut c = agent.connect();
        c.send(half.as_bytes());
        std::thread::sleep(Duration::from_millis(50));
        drop(c);
        // No 0xFF: a libvirt-style client must get its answer first.
        let mut c = agent.connect();
        let id = 1000 + i as i64;
        c.send(
            format!("{{\"execute\":\"guest-sync\",\"arguments\":{{\"id\":{id}}}}}\n").as_bytes(),
        );
        assert_eq!(c.json(), json!({ "return": id }), "after {half:.40}");
        assert_eq!(
            c.ask("{\"execute\":\"guest-ping\"}"),
            json!({ "return": {} })
        );
        assert!(agent.alive());
    }
    // The file handle survived the aborted write and still works.
    let mut c = agent.connect();
    let reply = c.ask(&request(
        "guest-file-write",
        json!({ "handle": h, "buf-b64": "aGVsbG8=" }),
    ));
    assert_eq!(ret(&reply)["count"], 5);
    close(&mut c, h);
    // Nothing of the aborted write reached the file (qemu-ga: same, it
    // never runs an incomplete request).
    assert_eq!(std::fs::read(&path).expect("file"), b"hello");
}

#[test]
fn request_then_close_without_reading_keeps_the_agent_alive() {
    let mut agent = Agent::start("rude");
    let path = agent.dir.join("big.bin");
    std::fs::write(&path, common::pattern(4 << 20, 2)).expect("write file");
    let mut c = agent.connect();
    let h = open(&mut c, &path, "r");
    drop(c);
    for _ in 0..3 {
        let mut c = agent.connect();
        // A 4 MiB reply nobody reads; and a delimited sync, also unread.
        let seek = request(
            "guest-file-seek",
            json!({ "handle": h, "offset": 0, "whence": "set" }),
        );
        let read = request("guest-file-read", json!({ "handle": h, "count": 4 << 20 }));
        c.send(format!("{seek}{read}").as_bytes());
        c.send(&common::delimited_sync(5));
        drop(c);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(agent.alive());
    let mut c = agent.connect();
    assert!(c.resync(6).is_empty());
    // The handle is still open and its data intact.
    let reply = c.ask(&request(
        "guest-file-seek",
        json!({ "handle": h, "offset": 0, "whence": "set" }),
    ));
    assert_eq!(ret(&reply)["position"], 0);
    let reply = c.ask(&request(
        "guest-file-read",
        json!({ "handle": h, "count": 12 }),
    ));
    let got = b64_decode(ret(&reply)["buf-b64"].as_str().unwrap_or_default());
    assert_eq!(got, Some(common::pattern(12, 2)));
    assert!(agent.alive());
}

#[test]
fn read_of_48_mib_streams_in_small_memory() {
    const COUNT: usize = 48 << 20; // 50331648, qemu-ga's maximum
    let mut agent = Agent::start("48m");
    let path = agent.dir.join("sparse.bin");
    let f = std::fs::File::create(&path).expect("create");
    f.set_len(COUNT as u64 + 10).expect("sparse file");
    // One non-zero byte at the very end of the range, to check the tail.
    std::os::unix::fs::FileExt::write_at(&f, b"\x7f", COUNT as u64 - 1).expect("write");
    drop(f);
    let mut c = agent.connect();
    c.read_timeout(Duration::from_secs(120));
    let h = open(&mut c, &path, "r");
    let before = common::proc_status_kib(agent.pid(), "VmHWM");
    c.send(request("guest-file-read", json!({ "handle": h, "count": COUNT })).as_bytes());
    let line = c.line();
    let hwm = common::proc_status_kib(agent.pid(), "VmHWM");
    println!(
        "48 MiB guest-file-read: reply {} bytes, agent VmHWM {before} KiB before, {hwm} KiB after",
        line.len()
    );
    // Parse without copying the payload into a Value tree twice.
    let reply: Value = serde_json::from_slice(&line).expect("json");
    let r = ret(&reply);
    assert_eq!(r["count"], COUNT);
    assert_eq!(r["eof"], false);
    let b64 = r["buf-b64"].as_str().expect("buf-b64");
    assert_eq!(b64.len(), COUNT / 3 * 4);
    assert!(b64
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'));
    // 48 MiB of zeros but the last byte 0x7F: "AAAA" ... "AAB/".
    assert!(b64[..b64.len() - 4].bytes().all(|b| b == b'A'));
    assert_eq!(&b64[b64.len() - 4..], "AAB/");
    assert!(
        hwm < 16 * 1024,
        "agent peak RSS {hwm} KiB for a 48 MiB read"
    );
    // One byte more than the maximum is refused, as by qemu-ga.
    let reply = c.ask(&request(
        "guest-file-read",
        json!({ "handle": h, "count": COUNT + 1 }),
    ));
    assert_eq!(
        err(&reply).1,
        "value '50331649' is invalid for argument count"
    );
    close(&mut c, h);
    assert!(agent.alive());
}
