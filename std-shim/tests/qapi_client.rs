//! A QGA client library nobody here wrote — the `qapi` crate (arcnmx/qapi-rs,
//! generated from QEMU's schema, sync client over a `UnixStream`) — drives
//! the real binary. If its typed decoding accepts every reply, our replies
//! have the types and member names QEMU's schema promises.

// Helpers outside #[test] functions fail loudly too: a panic is the test failing.
#![allow(clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::{Agent, REPLY_TIMEOUT};
use qapi::qga;
use qapi::{ErrorClass, ExecuteError, Qga};

type Client<'a> = Qga<qapi::Stream<std::io::BufReader<&'a UnixStream>, &'a UnixStream>>;

fn socket(agent: &Agent) -> UnixStream {
    let s = agent.connect().stream;
    s.set_read_timeout(Some(REPLY_TIMEOUT)).expect("timeout");
    s
}

/// The client after qapi's own `guest-sync` handshake.
fn client(stream: &UnixStream) -> Client<'_> {
    let mut c = Qga::from_stream(stream);
    c.guest_sync(0x5EED).expect("guest-sync handshake");
    c
}

#[test]
fn handshake_ping_and_info() {
    let agent = Agent::start("qapi-info");
    let s = socket(&agent);
    let mut c = client(&s);
    // A second handshake on the same connection must also match its id.
    c.guest_sync(-7).expect("second guest-sync");
    c.execute(&qga::guest_ping {}).expect("guest-ping");
    let info = c.execute(&qga::guest_info {}).expect("guest-info");
    assert!(!info.version.is_empty());
    let cmds = &info.supported_commands;
    assert!(cmds.len() >= 35, "{} commands", cmds.len());
    let find = |name: &str| {
        cmds.iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{name} not listed"))
    };
    for name in [
        "guest-sync-delimited",
        "guest-sync",
        "guest-ping",
        "guest-info",
        "guest-get-time",
        "guest-get-host-name",
        "guest-get-osinfo",
        "guest-get-timezone",
        "guest-get-users",
        "guest-file-open",
        "guest-file-write",
        "guest-file-read",
        "guest-file-seek",
        "guest-file-flush",
        "guest-file-close",
        "guest-exec",
        "guest-exec-status",
    ] {
        let c = find(name);
        assert!(c.enabled, "{name} should be enabled");
        assert!(c.success_response, "{name} replies on success");
    }
    // The no-reply-on-success family says so (notes 2.3).
    for name in ["guest-shutdown", "guest-suspend-ram"] {
        assert!(!find(name).success_response, "{name}");
    }
    // Schema order reversed: guest-sync-delimited comes last (notes 3.2).
    assert_eq!(
        cmds.last().map(|c| c.name.as_str()),
        Some("guest-sync-delimited")
    );
    // No duplicates.
    let mut names: Vec<_> = cmds.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cmds.len());
}

#[test]
fn host_information_decodes() {
    let agent = Agent::start("qapi-host");
    let s = socket(&agent);
    let mut c = client(&s);

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as i64;
    let t = c.execute(&qga::guest_get_time {}).expect("guest-get-time");
    assert!((t - now).abs() < 60_000_000_000, "guest time {t} vs {now}");

    let host = c.execute(&qga::guest_get_host_name {}).expect("host name");
    let expected = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    assert_eq!(host.host_name, expected.trim());

    let os = c.execute(&qga::guest_get_osinfo {}).expect("osinfo");
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    assert_eq!(os.kernel_release.as_deref(), Some(release.trim()));
    assert!(os.machine.is_some() && os.kernel_version.is_some());

    let tz = c.execute(&qga::guest_get_timezone {}).expect("timezone");
    assert!(tz.offset.abs() <= 14 * 3600, "offset {}", tz.offset);

    let users = c.execute(&qga::guest_get_users {}).expect("users");
    for u in &users {
        assert!(!u.user.is_empty() && u.login_time > 0.0, "{u:?}");
    }
}

#[test]
fn file_round_trip() {
    let agent = Agent::start("qapi-file");
    let s = socket(&agent);
    let mut c = client(&s);
    let path = agent.dir.join("data.bin");
    let data = common::pattern(5000, 1);

    let h = c
        .execute(&qga::guest_file_open {
            path: path.to_string_lossy().into_owned(),
            mode: Some("w+".into()),
        })
        .expect("open");
    let w = c
        .execute(&qga::guest_file_write {
            handle: h,
            buf_b64: data.clone(),
            count: None,
        })
        .expect("write");
    assert_eq!((w.count, w.eof), (5000, false));
    // `count` smaller than the buffer writes only that prefix.
    let w = c
        .execute(&qga::guest_file_write {
            handle: h,
            buf_b64: b"tail-and-ignored".to_vec(),
            count: Some(4),
        })
        .expect("partial write");
    assert_eq!(w.count, 4);
    c.execute(&qga::guest_file_flush { handle: h })
        .expect("flush");
    let on_disk = std::fs::read(&path).expect("file on disk");
    assert_eq!(on_disk.len(), 5004);
    assert!(on_disk[..5000] == data[..] && &on_disk[5000..] == b"tail");

    let pos = c
        .execute(&qga::guest_file_seek {
            handle: h,
            offset: 1000,
            whence: qga::GuestFileWhence::name(qga::QGASeek::set),
        })
        .expect("seek");
    assert_eq!(pos.position, 1000);
    let r = c
        .execute(&qga::guest_file_read {
            handle: h,
            count: Some(3000),
        })
        .expect("read");
    assert_eq!((r.count, r.eof), (3000, false));
    assert!(r.buf_b64 == data[1000..4000]);
    // Relative seek with the integer form of whence (1 = cur).
    let pos = c
        .execute(&qga::guest_file_seek {
            handle: h,
            offset: -4,
            whence: qga::GuestFileWhence::value(1),
        })
        .expect("seek cur");
    assert_eq!(pos.position, 3996);
    let r = c
        .execute(&qga::guest_file_read {
            handle: h,
            count: Some(100_000),
        })
        .expect("read to end");
    assert_eq!(r.count, 1008);
    assert!(r.eof);
    assert!(r.buf_b64[..1004] == data[3996..] && &r.buf_b64[1004..] == b"tail");
    let r = c
        .execute(&qga::guest_file_read {
            handle: h,
            count: None,
        })
        .expect("read at eof");
    assert_eq!((r.count, r.eof, r.buf_b64.len()), (0, true, 0));
    c.execute(&qga::guest_file_close { handle: h })
        .expect("close");

    // The handle is gone now: qapi maps the reply to its error type.
    match c.execute(&qga::guest_file_read {
        handle: h,
        count: None,
    }) {
        Err(ExecuteError::Qapi(e)) => {
            assert_eq!(e.class, ErrorClass::GenericError);
            assert_eq!(e.desc, format!("handle '{h}' has not been found"));
        }
        other => panic!("expected a QAPI error, got {other:?}"),
    }
    // And the connection is still usable afterwards.
    c.guest_sync(99).expect("sync after error");
}

#[test]
fn exec_with_captured_output() {
    let agent = Agent::start("qapi-exec");
    let s = socket(&agent);
    let mut c = client(&s);
    let pid = c
        .execute(&qga::guest_exec {
            path: "/bin/sh".into(),
            arg: Some(vec!["-c".into(), "echo out; echo err >&2; exit 3".into()]),
            env: None,
            input_data: None,
            capture_output: Some(qga::GuestExecCaptureOutput::flag(true)),
        })
        .expect("guest-exec")
        .pid;
    assert!(pid > 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let st = c
            .execute(&qga::guest_exec_status { pid })
            .expect("guest-exec-status");
        if st.exited {
            break st;
        }
        assert!(st.exitcode.is_none() && st.out_data.is_none(), "{st:?}");
        assert!(Instant::now() < deadline, "process never exited");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.exitcode, Some(3));
    assert_eq!(status.signal, None);
    assert_eq!(status.out_data.as_deref(), Some(&b"out\n"[..]));
    assert_eq!(status.err_data.as_deref(), Some(&b"err\n"[..]));
    assert_eq!(status.out_truncated, Some(false));
    // qapi's own view: a non-zero exit is an error carrying stderr.
    let msg = status
        .result()
        .expect_err("exit 3 is a failure")
        .to_string();
    assert_eq!(msg, "guest process exited with code 3: err\n");

    // The record was consumed by the "exited" answer.
    match c.execute(&qga::guest_exec_status { pid }) {
        Err(ExecuteError::Qapi(e)) => {
            assert_eq!(e.class, ErrorClass::GenericError);
            assert_eq!(e.desc, format!("PID {pid} does not exist"));
        }
        other => panic!("expected a QAPI error, got {other:?}"),
    }
}

#[test]
fn exec_stdin_and_bad_mode() {
    let agent = Agent::start("qapi-stdin");
    let s = socket(&agent);
    let mut c = client(&s);
    let input = common::pattern(70_000, 3);
    let pid = c
        .execute(&qga::guest_exec {
            path: "/bin/cat".into(),
            arg: None,
            env: None,
            input_data: Some(input.clone()),
            capture_output: Some(qga::GuestExecCaptureOutput::mode(
                qga::GuestExecCaptureOutputMode::stdout,
            )),
        })
        .expect("guest-exec")
        .pid;
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let st = c.execute(&qga::guest_exec_status { pid }).expect("status");
        if st.exited {
            break st;
        }
        assert!(Instant::now() < deadline, "cat never exited");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.exitcode, Some(0));
    assert!(status.out_data.as_deref() == Some(&input[..]));
    assert_eq!(status.err_data, None, "stderr was not captured");

    // Argument validation errors come back as qapi's error type too.
    match c.execute(&qga::guest_file_open {
        path: "/nonexistent".into(),
        mode: Some("zz".into()),
    }) {
        Err(ExecuteError::Qapi(e)) => {
            assert_eq!(e.class, ErrorClass::GenericError);
            assert_eq!(e.desc, "invalid file open mode 'zz'");
        }
        other => panic!("expected a QAPI error, got {other:?}"),
    }
}
