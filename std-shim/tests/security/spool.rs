//! The spool: bounded at 64 MiB and released when a request ends,
//! measured through the agent's memfd in `/proc/PID/fd`.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use super::*;

/// The sizes of the agent's spool memfds.
fn memfd_sizes(pid: u32) -> Vec<u64> {
    let dir = format!("/proc/{pid}/fd");
    std::fs::read_dir(dir)
        .expect("proc fd")
        .flatten()
        .filter(|e| {
            std::fs::read_link(e.path())
                .is_ok_and(|l| l.to_string_lossy().contains("memfd:qga-spool"))
        })
        .map(|e| std::fs::metadata(e.path()).map_or(0, |m| m.len()))
        .collect()
}

/// Samples the largest memfd size while it runs.
struct Sampler {
    max: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let (max, done) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (m, d) = (Arc::clone(&max), Arc::clone(&done));
        let thread = std::thread::spawn(move || {
            while !d.load(Ordering::Relaxed) {
                let now = memfd_sizes(pid).into_iter().max().unwrap_or(0);
                m.fetch_max(now, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Sampler {
            max,
            done,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> u64 {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.max.load(Ordering::Relaxed)
    }
}

/// Base64 of `mib` MiB (a repeated 3 MiB block, so the text concatenates).
fn big_b64(mib: usize) -> String {
    let block = b64_encode(&common::pattern(3 << 20, 11));
    let mut s = block.repeat(mib / 3);
    s.push_str(&b64_encode(&common::pattern((mib % 3) << 20, 11)));
    s
}

/// Sends `text` from a thread (the agent reads while we wait for the reply).
fn send_async(c: &Conn, text: String) -> std::thread::JoinHandle<()> {
    let mut s = c.stream.try_clone().expect("clone");
    std::thread::spawn(move || {
        use std::io::Write;
        let _ = s.write_all(text.as_bytes());
    })
}

/// Waits up to 2 s for every spool memfd to be empty.
fn assert_released(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while memfd_sizes(pid).iter().any(|&n| n > 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        memfd_sizes(pid).iter().all(|&n| n == 0),
        "spool kept {:?}",
        memfd_sizes(pid)
    );
}

#[test]
fn spool_is_bounded_at_64_mib_with_qemu_ga_error_and_stream_in_sync() {
    let agent = Agent::start("sec-spoolbound");
    let mut c = agent.connect();
    c.read_timeout(Duration::from_secs(120));
    let text = format!(
        r#"{{"execute":"guest-exec","arguments":{{"path":"/bin/true","input-data":"{}"}}}}"#,
        big_b64(66)
    );
    let sampler = Sampler::start(agent.pid());
    let sender = send_async(&c, text);
    let reply = c.json();
    let _ = sender.join();
    let max = sampler.stop();
    assert_eq!(
        err(&reply),
        (
            "GenericError".into(),
            "JSON token size limit exceeded".into()
        )
    );
    assert!(max <= 64 << 20, "the spool grew to {max} bytes");
    assert_released(agent.pid());
    ping_fast(&mut c);
}

#[test]
fn spool_is_released_when_a_request_ends_success_or_error() {
    let agent = Agent::start("sec-spoolfree");
    let mut c = agent.connect();
    c.read_timeout(Duration::from_secs(120));
    let path = agent.dir.join("out.bin").display().to_string();
    let h = ret(&ask(
        &mut c,
        "guest-file-open",
        json!({"path": path, "mode": "w"}),
    ))
    .clone();
    let data = big_b64(40);
    for (handle, ok) in [(h, true), (json!(999_999), false)] {
        // `buf-b64` before `handle`: the data must wait in the spool.
        let text = format!(
            r#"{{"execute":"guest-file-write","arguments":{{"buf-b64":"{data}","handle":{handle}}}}}"#
        );
        let sampler = Sampler::start(agent.pid());
        let sender = send_async(&c, text);
        let reply = c.json();
        let _ = sender.join();
        let max = sampler.stop();
        assert!(max > 0, "the request did not use the spool");
        match ok {
            true => assert_eq!(ret(&reply)["count"], json!(40 << 20), "{reply}"),
            false => assert_refused(&reply, "handle '999999' has not been found"),
        }
        assert_released(agent.pid());
    }
    ping_fast(&mut c);
}
