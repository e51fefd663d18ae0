//! The dispatcher's session state and admission: frozen gating for every
//! command class, the filters, and support derived from capabilities.

mod common;
use common::{agent, replies};
use qga_core::platform::mock::MockPlatform;
use qga_core::platform::Platform;
use qga_core::schema::{Capability, Command, CommandSet, COMMANDS};
use qga_core::Agent;

/// A platform with no capability at all.
struct Bare;
impl Platform for Bare {}

fn disabled(name: &str) -> String {
    format!("{{\"error\": {{\"class\": \"CommandNotFound\", \"desc\": \"Command {name} has been disabled: the command is not allowed\"}}}}\n")
}

/// A request for `name` that gets past argument checks with the mock.
fn request(name: &str) -> String {
    format!(r#"{{"execute":"{name}"}}"#)
}

#[test]
fn frozen_gates_every_command_class() {
    let mut a = agent();
    assert_eq!(
        replies(&mut a, br#"{"execute":"guest-fsfreeze-freeze"}"#),
        "{\"return\": 1}\n"
    );
    assert!(a.is_frozen());
    for c in COMMANDS.iter() {
        let out = replies(&mut a, request(c.name).as_bytes());
        if c.frozen_safe {
            assert_ne!(out, disabled(c.name), "{} must run while frozen", c.name);
        } else {
            assert_eq!(
                out,
                disabled(c.name),
                "{} must not run while frozen",
                c.name
            );
        }
        assert!(
            a.is_frozen() || c.command == Command::GuestFsfreezeThaw,
            "{}",
            c.name
        );
        if !a.is_frozen() {
            break;
        }
    }
    // The loop ended with guest-fsfreeze-thaw, which thawed.
    assert!(!a.is_frozen());
    assert_eq!(
        replies(&mut a, br#"{"execute":"guest-get-time"}"#),
        "{\"return\": 1700000000000000000}\n"
    );
}

#[test]
fn every_command_is_gated_while_frozen() {
    // The same for the commands after guest-fsfreeze-thaw in the table.
    let mut a = agent();
    let _ = replies(&mut a, br#"{"execute":"guest-fsfreeze-freeze"}"#);
    for c in COMMANDS
        .iter()
        .filter(|c| c.command != Command::GuestFsfreezeThaw)
    {
        let out = replies(&mut a, request(c.name).as_bytes());
        assert_eq!(out == disabled(c.name), !c.frozen_safe, "{}: {out}", c.name);
    }
    assert!(a.is_frozen());
}

#[test]
fn freeze_state_follows_the_commands() {
    let mut a = agent();
    assert!(!a.is_frozen());
    let _ = replies(
        &mut a,
        br#"{"execute":"guest-fsfreeze-freeze-list","arguments":{"mountpoints":["/tmp"]}}"#,
    );
    assert!(!a.is_frozen(), "nothing was frozen");
    let _ = replies(
        &mut a,
        br#"{"execute":"guest-fsfreeze-freeze-list","arguments":{"mountpoints":["/"]}}"#,
    );
    assert!(a.is_frozen());
    a.platform_mut().frozen = false;
    assert_eq!(
        replies(&mut a, br#"{"execute":"guest-fsfreeze-status"}"#),
        "{\"return\": \"thawed\"}\n"
    );
    assert!(
        !a.is_frozen(),
        "status brings the state in line with the platform"
    );
}

/// A thaw that fails before thawing keeps the agent frozen (qemu-ga
/// leaves frozen state only after a successful thaw).
#[test]
fn a_failed_thaw_keeps_the_agent_frozen() {
    let mut a = agent();
    let _ = replies(&mut a, br#"{"execute":"guest-fsfreeze-freeze"}"#);
    assert!(a.is_frozen());
    a.platform_mut().thaw_fails = true;
    assert_eq!(
        replies(&mut a, br#"{"execute":"guest-fsfreeze-thaw"}"#),
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"failed to thaw /: Device busy\"}}\n"
    );
    assert!(
        a.is_frozen(),
        "a failed thaw must not lift the frozen filter"
    );
    assert_eq!(
        replies(&mut a, br#"{"execute":"guest-get-time"}"#),
        disabled("guest-get-time")
    );
    a.platform_mut().thaw_fails = false;
    assert_eq!(
        replies(&mut a, br#"{"execute":"guest-fsfreeze-thaw"}"#),
        "{\"return\": 1}\n"
    );
    assert!(!a.is_frozen());
}

#[test]
fn an_agent_starts_frozen_when_the_platform_is() {
    let mut p = MockPlatform::new();
    p.frozen = true;
    let a: Box<Agent<MockPlatform>> = Box::new(Agent::new(p));
    assert!(a.is_frozen());
    let mut p = MockPlatform::new();
    p.frozen = true;
    let a: Box<Agent<MockPlatform>> = Box::new(Agent::new_thawed(p));
    assert!(!a.is_frozen());
}

#[test]
fn block_and_allow_lists() {
    let mut a = agent();
    let mut allow = CommandSet::EMPTY;
    allow.insert(Command::GuestGetTime);
    allow.insert(Command::GuestGetOsinfo);
    let mut block = CommandSet::EMPTY;
    block.insert(Command::GuestGetOsinfo);
    a.set_filters(block, Some(allow));
    assert_eq!(
        replies(&mut a, br#"{"execute":"guest-get-osinfo"}"#),
        disabled("guest-get-osinfo")
    );
    assert_eq!(
        replies(&mut a, br#"{"execute":"guest-get-host-name"}"#),
        disabled("guest-get-host-name")
    );
    assert_eq!(
        replies(&mut a, br#"{"execute":"guest-get-time"}"#),
        "{\"return\": 1700000000000000000}\n"
    );
    assert!(a.is_enabled(Command::GuestGetTime));
    assert!(!a.is_enabled(Command::GuestGetOsinfo));
}

#[test]
fn support_is_derived_from_capabilities() {
    let mut a: Box<Agent<Bare, 512>> = Box::new(Agent::new(Bare));
    for c in COMMANDS.iter() {
        let mut out = Vec::new();
        assert_eq!(a.feed(request(c.name).as_bytes(), &mut out), Ok(()));
        let out = String::from_utf8_lossy(&out).into_owned();
        let unsupported = out.contains("this feature or command is not currently supported");
        assert_eq!(
            unsupported,
            c.capability != Capability::Builtin,
            "{}: {out}",
            c.name
        );
        assert_eq!(
            a.is_enabled(c.command),
            c.capability == Capability::Builtin,
            "{}",
            c.name
        );
    }
    let mut out = Vec::new();
    assert_eq!(a.feed(br#"{"execute":"guest-info"}"#, &mut out), Ok(()));
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
    let enabled: Vec<&str> = v["return"]["supported_commands"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter(|c| c["enabled"] == true)
                .filter_map(|c| c["name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        enabled,
        [
            "guest-info",
            "guest-ping",
            "guest-sync",
            "guest-sync-delimited"
        ]
    );
}

#[test]
fn guest_info_reports_the_session_state() {
    let mut a = agent();
    let _ = replies(&mut a, br#"{"execute":"guest-fsfreeze-freeze"}"#);
    let out = replies(&mut a, br#"{"execute":"guest-info"}"#);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    let list = v["return"]["supported_commands"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(list.len(), COMMANDS.len());
    for c in &list {
        let name = c["name"].as_str().unwrap_or("");
        let row = COMMANDS
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.frozen_safe);
        assert_eq!(c["enabled"].as_bool(), row, "{name}");
    }
}

#[test]
fn every_command_reaches_its_handler_on_a_full_platform() {
    let mut a = agent();
    for c in COMMANDS.iter() {
        let out = replies(&mut a, request(c.name).as_bytes());
        assert!(
            !out.contains("not currently supported"),
            "{}: {out}",
            c.name
        );
        let _ = replies(&mut a, br#"{"execute":"guest-fsfreeze-thaw"}"#);
    }
}

/// A port for `Agent::poll`: bytes become ready as the test adds them.
#[derive(Default)]
struct Port {
    input: Vec<u8>,
    read: usize,
    output: Vec<u8>,
}

impl embedded_io::ErrorType for Port {
    type Error = core::convert::Infallible;
}

impl embedded_io::Read for Port {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let rest = &self.input[self.read..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.read += n;
        Ok(n)
    }
}

impl embedded_io::ReadReady for Port {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(self.read < self.input.len())
    }
}

impl embedded_io::Write for Port {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[test]
fn poll_answers_what_is_ready_and_would_block_otherwise() {
    let mut a = agent();
    let mut port = Port::default();
    assert!(matches!(a.poll(&mut port), Err(nb::Error::WouldBlock)));
    assert!(port.output.is_empty());
    // Half a request: read, nothing to answer yet.
    port.input.extend_from_slice(br#"{"execute":"guest-"#);
    assert!(a.poll(&mut port).is_ok());
    assert!(port.output.is_empty());
    // The rest, a second request and a long one read over several polls.
    port.input
        .extend_from_slice(br#"ping"}{"execute":"guest-sync","arguments":{"id":"#);
    port.input.extend_from_slice(" ".repeat(300).as_bytes());
    port.input.extend_from_slice(b"7}}");
    let mut polls = 0;
    while a.poll(&mut port).is_ok() {
        polls += 1;
    }
    assert_eq!(port.read, port.input.len());
    assert_eq!(
        String::from_utf8_lossy(&port.output),
        "{\"return\": {}}\n{\"return\": 7}\n"
    );
    assert!(
        polls > 1,
        "a {}-byte request read in one poll",
        port.input.len()
    );
}

#[test]
fn run_answers_until_the_input_ends() {
    let mut a = agent();
    let mut port = Port::default();
    port.input.extend_from_slice(br#"{"execute":"guest-ping"}"#);
    port.input.extend_from_slice(" ".repeat(600).as_bytes());
    port.input
        .extend_from_slice(br#"{"execute":"guest-sync","arguments":{"id":7}}"#);
    assert!(a.run(&mut port).is_ok());
    assert_eq!(port.read, port.input.len());
    assert_eq!(
        String::from_utf8_lossy(&port.output),
        "{\"return\": {}}\n{\"return\": 7}\n"
    );
}

#[test]
fn reset_parser_forgets_a_partial_request_and_a_stream() {
    let mut a = agent();
    // Half a request, then a new client: its ping is answered alone.
    assert_eq!(replies(&mut a, br#"{"execute":"guest-sync","argu"#), "");
    a.reset_parser();
    assert_eq!(
        replies(&mut a, br#"{"execute":"guest-ping"}"#),
        "{\"return\": {}}\n"
    );
    // Half a streamed payload: the spool is released, nothing is written.
    let open = br#"{"execute":"guest-file-open","arguments":{"path":"/c","mode":"w"}}"#;
    assert_eq!(replies(&mut a, open), "{\"return\": 1000}\n");
    let half = format!(r#"{{"arguments":{{"buf-b64":"{}"#, "QUJD".repeat(300));
    assert_eq!(replies(&mut a, half.as_bytes()), "");
    let released = a.platform().spool_releases;
    a.reset_parser();
    assert_eq!(a.platform().spool_releases, released + 1);
    assert_eq!(
        replies(&mut a, br#"{"execute":"guest-ping"}"#),
        "{\"return\": {}}\n"
    );
    assert_eq!(a.platform().fs.contents("/c"), Some(&b""[..]));
}
