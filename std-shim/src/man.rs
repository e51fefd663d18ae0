//! The qga(8) man page, rendered from the tables `--help` uses
//! ([`crate::help::OPTIONS`]) and from [`CONFIG_KEYS`], whose texts are the
//! options' own: the page cannot drift from `--help`.
//!
//! `std-shim/dist/qga.8` is [`page`]'s output, and a test fails when the two
//! differ; `std-shim/dist/gen-man.sh` rewrites the file. Nothing here is
//! called by the agent, so none of it ends up in the binary.
#![forbid(unsafe_code)]

use std::fmt::Write as _;

use crate::help::{OptionDoc, Value, DEPRECATED, OPTIONS};

/// A `[general]` key of the configuration file and the option it stands for.
#[derive(Clone, Copy, Debug)]
pub struct KeyDoc {
    /// The key.
    pub key: &'static str,
    /// The value's name (`BOOL`, `PATH`, ...).
    pub value: &'static str,
    /// The short option with the same meaning; its help text is the key's.
    pub option: char,
}

const fn key(key: &'static str, value: &'static str, option: char) -> KeyDoc {
    KeyDoc { key, value, option }
}

/// Every key qga reads from the configuration file, in `-D` order.
pub const CONFIG_KEYS: &[KeyDoc] = &[
    key("daemon", "BOOL", 'd'),
    key("method", "METHOD", 'm'),
    key("path", "PATH", 'p'),
    key("logfile", "PATH", 'l'),
    key("pidfile", "PATH", 'f'),
    key("fsfreeze-hook", "PATH", 'F'),
    key("statedir", "PATH", 't'),
    key("verbose", "BOOL", 'v'),
    key("retry-path", "BOOL", 'r'),
    key("block-rpcs", "LIST", 'b'),
    key("allow-rpcs", "LIST", 'a'),
];

/// A section of prose: paragraphs, or `(term, text)` entries.
enum Body {
    Text(&'static [&'static str]),
    List(&'static [(&'static str, &'static str)]),
}

const DESCRIPTION: Body = Body::Text(&[
    "qga answers the QEMU Guest Agent protocol on a virtio-serial port, a serial line, or a unix or vsock socket, so that the host (libvirt, Proxmox VE, OpenStack, KubeVirt) can read and set the guest's time, read and write files, run commands, freeze and thaw filesystems, shut the guest down and ask about its network, disks, users and operating system.",
    "It is a static program without shared libraries, meant for initramfs images and small guests as well as full distributions, and takes qemu-ga's command line, configuration file, state directory and fsfreeze hook; the package installs it as /usr/sbin/qga with qemu-ga as a second name.",
]);

const CONFIG_FILE: &[&str] = &[
    "A key file read at start-up: the -c PATH, else $QGA_CONF, else /etc/qemu/qemu-ga.conf (a missing default file is not an error). Keys go in the group [general]; lines starting with # are comments. Booleans are true or false (1 or 0); lists are separated by commas (a semicolon does not separate). Lists from the file and from the command line add up; for other keys the command line wins. The old key blacklist means block-rpcs. -D prints the effective configuration in this format; /usr/share/doc/qga/examples/qemu-ga.conf shows every key.",
];

const LOGGING: Body = Body::Text(&[
    "A log line reads LEVEL: MESSAGE in syslog and TIME: LEVEL: MESSAGE in a file or on stderr. Only error and critical lines are written unless -v is given. With -l they are appended to that file. Without it they go to syslog: RFC 3164 datagrams to /dev/log, facility user, tagged qga[PID]; they go to stderr instead when stderr is a terminal or no syslog daemon listens on /dev/log.",
    "Audit lines record each privileged request in qemu-ga's words: guest-exec called: \"COMMAND LINE\", guest-exec-status called, guest-file-open called and guest-file-open, handle, guest-file-close called, guest-file-read failed and guest-file-write failed, guest-fsfreeze called, executing fsfreeze hook with arg 'freeze' or 'thaw', guest-fstrim called, guest-shutdown called; qga also records guest-fsfreeze-thaw called, guest-set-time called and guest-set-user-password called (user name only, never the password), which qemu-ga does not. They go to syslog at level info whatever -l and -v say; without a syslog daemon they are ordinary info lines. Under systemd everything ends in the unit's journal: journalctl -u qga.",
    "A log line never blocks the agent: when the syslog socket is full the line is dropped and counted, and a warning with the count goes out before the next line that fits. While filesystems are frozen nothing is written to disk: log lines wait in a small buffer until the thaw.",
]);

const SERVICE: Body = Body::Text(&[
    "systemd: the udev rule 60-qga.rules tags the port named org.qemu.guest_agent.0 so that systemd starts qga.service when the port appears and stops it when the port goes away (BindsTo=); Restart=always restarts the agent after a crash. The unit has Type=notify: qga sends READY=1 to $NOTIFY_SOCKET once its channel is open, so systemctl start returns when the host can be answered. qemu-guest-agent.service is another name for the unit.",
    "Socket activation: when $LISTEN_PID is qga's process id and $LISTEN_FDS is 1, the listening socket on descriptor 3 is the channel, as with qemu-ga. A unix socket means unix-listen, a vsock socket vsock-listen; -m and -p are not used, nor -d and -r (the service manager owns the socket and restarts the service). More than one socket, or a socket of another kind, is an error. The example units /usr/share/doc/qga/examples/qga-unix.socket and qga-unix.service serve /run/qga.sock.",
    "Early boot: with QGA_INITRAMFS=yes in /etc/default/qga, update-initramfs copies qga into the initramfs and starts it there, so the host can talk to the guest before the root filesystem is mounted; it stops before the system's init takes over and starts its own. The source also has a dracut module and an OpenRC service script.",
]);

const HOOK: Body = Body::Text(&[
    "With -F (or fsfreeze-hook in the configuration file) qga runs the hook with the argument freeze before it freezes any filesystem and with thaw after it has thawed them; its output is kept for the error reply, and a non-zero exit fails the request (after a failed freeze hook nothing is frozen).",
    "The hook /etc/qemu/fsfreeze-hook runs every executable file in /etc/qemu/fsfreeze-hook.d/ in name order with the same argument, skipping backups and package-manager leftovers (names ending in ~, .bak, .orig, .sample, .dpkg-*, .rpm*), and logs what it ran through logger(1), else to /var/log/qga-fsfreeze-hook.log. It fails if a script fails.",
]);

const SIGNALS: Body = Body::List(&[(
    "SIGTERM, SIGINT",
    "Exit, removing the pid file. Ignored while filesystems are frozen, so that a frozen guest keeps its agent until the thaw.",
)]);

const FILES: Body = Body::List(&[
    ("/usr/sbin/qga", "The agent; /usr/sbin/qemu-ga is a link to it."),
    ("/etc/qemu/qemu-ga.conf", "The configuration file."),
    (
        "/etc/qemu/fsfreeze-hook, /etc/qemu/fsfreeze-hook.d/",
        "The fsfreeze hook and its scripts.",
    ),
    (
        "STATEDIR/qga.state",
        "The next guest-file-open handle, so handles are not reused after a restart.",
    ),
    (
        "STATEDIR/qga.state.isfrozen",
        "Exists while filesystems are frozen; an agent that starts and finds it starts frozen.",
    ),
    (
        "/dev/virtio-ports/org.qemu.guest_agent.0",
        "The default channel. Without udev, qga finds the port by its name in /sys/class/virtio-ports.",
    ),
    ("/dev/log", "The syslog socket."),
    (
        "/lib/systemd/system/qga.service, /lib/udev/rules.d/60-qga.rules",
        "The systemd unit and the udev rule that starts it.",
    ),
]);

const ENVIRONMENT: Body = Body::List(&[
    ("QGA_CONF", "The configuration file when -c is not given."),
    (
        "QGA_OS_RELEASE",
        "The os-release file guest-get-osinfo reads instead of /etc/os-release.",
    ),
    (
        "NOTIFY_SOCKET",
        "Where to send READY=1 (systemd Type=notify).",
    ),
    (
        "LISTEN_PID, LISTEN_FDS",
        "Socket activation (see SERVICE MANAGERS).",
    ),
    ("TZ", "The time zone guest-get-timezone reports."),
]);

const EXIT_STATUS: Body = Body::Text(&[
    "0 after -h, -V, -D or -b help, and when -d has started the daemon; 1 for a bad command line or configuration, a channel that cannot be opened (without -r) or a fatal channel error.",
]);

const SEE_ALSO: &str =
    "systemd.service(5), systemd.socket(5), sd_notify(3), syslog(3), journalctl(1), fsfreeze(8)";

/// The whole page, in man(7) markup.
pub fn page() -> String {
    let mut out = format!(
        ".\\\" Generated by qga's src/man.rs from the --help table; edit there.\n\
         .TH QGA 8 \"\" \"qga {}\" \"System Administration\"\n.nh\n.ad l\n",
        env!("CARGO_PKG_VERSION")
    );
    out += ".SH NAME\nqga \\- QEMU Guest Agent (qga\\-rs), a small static agent that can replace qemu\\-ga\n";
    out += ".SH SYNOPSIS\n.B qga\n[\\fB\\-m\\fR \\fImethod\\fR \\fB\\-p\\fR \\fIpath\\fR] [\\fIoptions\\fR]\n";
    section(&mut out, "DESCRIPTION", &DESCRIPTION);
    out += ".SH OPTIONS\n";
    for o in OPTIONS {
        let _ = write!(
            out,
            ".TP\n{}\n{}.\n",
            option_synopsis(o),
            esc(&o.help.join(" "))
        );
    }
    for (synopsis, help) in DEPRECATED {
        let _ = write!(out, ".TP\n\\fB{}\\fR\n{}.\n", esc(synopsis), esc(help));
    }
    out += ".SH CONFIGURATION FILE\n";
    paragraphs(&mut out, CONFIG_FILE);
    for k in CONFIG_KEYS {
        let help = OPTIONS
            .iter()
            .find(|o| o.short == k.option)
            .map_or(String::new(), |o| o.help.join(" "));
        let _ = write!(
            out,
            ".TP\n\\fB{}\\fR=\\fI{}\\fR\nAs \\fB\\-{}\\fR: {}.\n",
            esc(k.key),
            k.value,
            k.option,
            esc(&help)
        );
    }
    section(&mut out, "LOGGING", &LOGGING);
    section(&mut out, "SERVICE MANAGERS", &SERVICE);
    section(&mut out, "FSFREEZE HOOK", &HOOK);
    section(&mut out, "SIGNALS", &SIGNALS);
    section(&mut out, "FILES", &FILES);
    section(&mut out, "ENVIRONMENT", &ENVIRONMENT);
    section(&mut out, "EXIT STATUS", &EXIT_STATUS);
    let _ = write!(out, ".SH SEE ALSO\n{}\n", esc(SEE_ALSO));
    out
}

/// `\fB\-c\fR, \fB\-\-config\fR=\fIPATH\fR`.
fn option_synopsis(o: &OptionDoc) -> String {
    let value = match o.value {
        Value::Flag => String::new(),
        Value::Required(v) => format!("=\\fI{v}\\fR"),
        Value::Attached(v) => format!("[=\\fI{v}\\fR]"),
    };
    format!(
        "\\fB\\-{}\\fR, \\fB\\-\\-{}\\fR{value}",
        o.short,
        esc(o.long)
    )
}

fn section(out: &mut String, title: &str, body: &Body) {
    let _ = writeln!(out, ".SH {title}");
    match body {
        Body::Text(paras) => paragraphs(out, paras),
        Body::List(items) => {
            for (term, text) in *items {
                let _ = write!(out, ".TP\n\\fB{}\\fR\n{}\n", esc(term), esc(text));
            }
        }
    }
}

fn paragraphs(out: &mut String, paras: &[&str]) {
    for (i, p) in paras.iter().enumerate() {
        if i > 0 {
            out.push_str(".PP\n");
        }
        out.push_str(&esc(p));
        out.push('\n');
    }
}

/// Plain text as roff: backslashes and hyphens escaped, and a leading `.`
/// or `'` kept from being read as a request.
fn esc(text: &str) -> String {
    let body = text.replace('\\', "\\e").replace('-', "\\-");
    match body.chars().next() {
        Some('.' | '\'') => format!("\\&{body}"),
        _ => body,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::{FileConfig, Settings};
    use std::path::Path;

    const SHIPPED: &str = include_str!("../dist/qga.8");

    #[test]
    fn shipped_page_is_the_generated_one() {
        assert!(
            SHIPPED == page(),
            "std-shim/dist/qga.8 is stale: run std-shim/dist/gen-man.sh"
        );
    }

    /// Writes the page (`std-shim/dist/gen-man.sh` runs this).
    #[test]
    #[ignore = "writes std-shim/dist/qga.8"]
    fn regenerate() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/qga.8");
        std::fs::write(path, page()).unwrap();
    }

    #[test]
    fn page_has_every_option_and_key() {
        let p = page();
        for o in OPTIONS {
            assert!(p.contains(&option_synopsis(o)), "{}", o.long);
        }
        for k in CONFIG_KEYS {
            assert!(
                p.contains(&format!(".TP\n\\fB{}\\fR=", esc(k.key))),
                "{}",
                k.key
            );
            assert!(OPTIONS.iter().any(|o| o.short == k.option), "{}", k.key);
        }
        assert!(p.contains("\\-\\-retry\\-path"));
    }

    #[test]
    fn every_documented_key_is_read() {
        for k in CONFIG_KEYS {
            let value = match k.value {
                "BOOL" => "true",
                "METHOD" => "isa-serial",
                _ => "/x",
            };
            let text = format!("[general]\n{}={value}\n", k.key);
            let cfg = FileConfig::parse(Path::new("t.conf"), text.as_bytes()).unwrap();
            assert_ne!(cfg, FileConfig::default(), "key {} is ignored", k.key);
        }
    }

    #[test]
    fn every_dumped_key_is_documented_in_order() {
        let text = "[general]\npath=/p\nlogfile=/l\nfsfreeze-hook=/h\nallow-rpcs=a\n";
        let file = FileConfig::parse(Path::new("t.conf"), text.as_bytes()).unwrap();
        let dump = Settings::merge(Default::default(), file).unwrap().dump();
        let dumped: Vec<&str> = dump
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k))
            .collect();
        let documented: Vec<&str> = CONFIG_KEYS.iter().map(|k| k.key).collect();
        assert_eq!(dumped, documented);
    }

    #[test]
    fn escapes() {
        assert_eq!(esc("a-b\\c"), "a\\-b\\ec");
        assert_eq!(esc(".x"), "\\&.x");
        assert_eq!(esc("'x"), "\\&'x");
    }
}
