//! The `--help` text and the option table it is rendered from, which the
//! qga(8) man page ([`crate::man`]) renders too, so the two cannot drift.
//! Parsing is [`crate::cli`]'s.
#![forbid(unsafe_code)]

/// How an option takes its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// A flag.
    Flag,
    /// A value named so: `-x VALUE`, `-xVALUE`, `--long VALUE`, `--long=VALUE`.
    Required(&'static str),
    /// A value that must be attached (`-xVALUE`, `--long=VALUE`) or left out.
    Attached(&'static str),
}

/// One option as `--help` and the qga(8) man page ([`crate::man`]) show
/// it: the single source of both, so they cannot drift.
#[derive(Clone, Copy, Debug)]
pub struct OptionDoc {
    /// The short name.
    pub short: char,
    /// The long name, without `--`.
    pub long: &'static str,
    /// Its value.
    pub value: Value,
    /// One sentence without the final period, in the lines `--help` prints
    /// (each at most [`HELP_WIDTH`] - [`HELP_COLUMN`] characters; wrapped
    /// here rather than at run time, which would cost the binary).
    pub help: &'static [&'static str],
}

const fn opt(
    short: char,
    long: &'static str,
    value: Value,
    help: &'static [&'static str],
) -> OptionDoc {
    OptionDoc {
        short,
        long,
        value,
        help,
    }
}

/// Every option, in `--help` order.
pub const OPTIONS: &[OptionDoc] = &[
    opt(
        'c',
        "config",
        Value::Required("PATH"),
        &[
            "configuration file (default /etc/qemu/qemu-ga.conf, or",
            "$QGA_CONF); only an explicit PATH must exist",
        ],
    ),
    opt(
        'm',
        "method",
        Value::Required("METHOD"),
        &[
            "transport method: virtio-serial (default), isa-serial,",
            "unix-listen or vsock-listen",
        ],
    ),
    opt(
        'p',
        "path",
        Value::Required("PATH"),
        &[
            "device or socket path (virtio-serial default",
            "/dev/virtio-ports/org.qemu.guest_agent.0, isa-serial",
            "default /dev/ttyS0; vsock-listen takes CID:PORT)",
        ],
    ),
    opt(
        'l',
        "logfile",
        Value::Required("PATH"),
        &[
            "append log lines to PATH (default: syslog, or stderr when",
            "it is a terminal or no syslog daemon listens on /dev/log)",
        ],
    ),
    opt(
        'f',
        "pidfile",
        Value::Required("PATH"),
        &[
            "pid file written when daemonized (default",
            "/var/run/qemu-ga.pid)",
        ],
    ),
    opt(
        'F',
        "fsfreeze-hook",
        Value::Attached("PATH"),
        &[
            "run the fsfreeze hook PATH (default",
            "/etc/qemu/fsfreeze-hook) with 'freeze' before freezing",
            "and 'thaw' after thawing",
        ],
    ),
    opt(
        't',
        "statedir",
        Value::Required("PATH"),
        &["state directory (default /var/run)"],
    ),
    opt(
        'v',
        "verbose",
        Value::Flag,
        &["log all messages, not only errors"],
    ),
    opt(
        'V',
        "version",
        Value::Flag,
        &["print version information and exit"],
    ),
    opt('d', "daemonize", Value::Flag, &["become a daemon"]),
    opt(
        'b',
        "block-rpcs",
        Value::Required("LIST"),
        &["comma-separated commands to disable ('help' lists them)"],
    ),
    opt(
        'a',
        "allow-rpcs",
        Value::Required("LIST"),
        &["comma-separated commands to allow, all others disabled"],
    ),
    opt(
        'D',
        "dump-conf",
        Value::Flag,
        &["print the effective configuration as a key file and exit"],
    ),
    opt(
        'r',
        "retry-path",
        Value::Flag,
        &["retry opening the channel every 5 s instead of exiting"],
    ),
    opt('h', "help", Value::Flag, &["display this help and exit"]),
];

/// Long-only options kept for old command lines: `(synopsis, help)`.
pub const DEPRECATED: &[(&str, &str)] = &[(
    "--blacklist=LIST",
    "deprecated alias of --block-rpcs (gone from qemu-ga 9.1)",
)];

/// Where `--help` starts the help texts.
pub const HELP_COLUMN: usize = 22;
/// `--help` lines stay within this width.
pub const HELP_WIDTH: usize = 79;

impl OptionDoc {
    /// `-c, --config=PATH` (`-F, --fsfreeze-hook[=PATH]`).
    pub fn synopsis(&self) -> String {
        let (open, name, close) = match self.value {
            Value::Flag => ("", "", ""),
            Value::Required(v) => ("=", v, ""),
            Value::Attached(v) => ("[=", v, "]"),
        };
        format!("-{}, --{}{open}{name}{close}", self.short, self.long)
    }
}

/// The `--help` text, rendered from [`OPTIONS`].
pub fn usage(argv0: &str) -> String {
    let mut out = format!(
        "Usage: {argv0} [-m <method> -p <path>] [<options>]\n\
         QEMU Guest Agent {} (qga-rs)\n\n",
        env!("CARGO_PKG_VERSION"),
    );
    for o in OPTIONS {
        out.push_str("  ");
        out.push_str(&o.synopsis());
        let mut col = out.len() - out.rfind('\n').map_or(0, |i| i + 1);
        if col + 2 > HELP_COLUMN {
            out.push('\n');
            col = 0;
        }
        for line in o.help {
            out.extend(std::iter::repeat_n(' ', HELP_COLUMN - col));
            out.push_str(line);
            out.push('\n');
            col = 0;
        }
    }
    for (synopsis, help) in DEPRECATED {
        // Long-only, and as wide as the column: the text goes below.
        out.push_str("      ");
        out.push_str(synopsis);
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', HELP_COLUMN));
        out.push_str(help);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{parse, CliError, DEFAULT_FSFREEZE_HOOK};

    #[test]
    fn help_lists_every_option_within_the_width() {
        let text = usage("qga");
        for o in OPTIONS {
            assert!(text.contains(&format!("  {}", o.synopsis())), "{}", o.long);
            let last = o.help.last().copied().unwrap_or_default();
            assert!(!last.is_empty() && !last.ends_with('.'), "{}", o.long);
            let lines = o.help.iter();
            assert!(lines
                .clone()
                .all(|l| !l.starts_with(' ') && !l.ends_with(' ')));
            // Wrapped as a greedy wrap would: no line could take the next word.
            for (l, next) in lines.clone().zip(lines.skip(1)) {
                let word = next.split(' ').next().unwrap_or_default();
                assert!(l.len() + 1 + word.len() > HELP_WIDTH - HELP_COLUMN, "{l}");
            }
        }
        assert!(text.lines().all(|l| l.len() <= HELP_WIDTH), "{text}");
        let wrapped: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("  -p"))
            .take(4)
            .collect();
        assert_eq!(
            wrapped,
            [
                "  -p, --path=PATH     device or socket path (virtio-serial default",
                "                      /dev/virtio-ports/org.qemu.guest_agent.0, isa-serial",
                "                      default /dev/ttyS0; vsock-listen takes CID:PORT)",
                "  -l, --logfile=PATH  append log lines to PATH (default: syslog, or stderr when",
            ]
        );
        assert!(text
            .contains("  -F, --fsfreeze-hook[=PATH]\n                      run the fsfreeze hook"));
        assert!(text.contains(DEFAULT_FSFREEZE_HOOK));
    }

    #[test]
    fn every_documented_option_is_parsed() {
        for o in OPTIONS {
            let short = format!("-{}", o.short);
            let long = format!("--{}", o.long);
            let forms: Vec<Vec<String>> = match o.value {
                Value::Flag => vec![vec![short], vec![long]],
                Value::Required(_) => vec![
                    vec![short.clone(), "guest-ping".into()],
                    vec![format!("{short}guest-ping")],
                    vec![format!("{long}=guest-ping")],
                ],
                Value::Attached(_) => vec![vec![short], vec![format!("{long}=/h")]],
            };
            for args in forms {
                let r = parse(args.iter().map(String::as_str));
                assert!(r.is_ok(), "{args:?}: {r:?}");
            }
        }
        let shorts: Vec<char> = OPTIONS.iter().map(|o| o.short).collect();
        for c in ('a'..='z').chain('A'..='Z').filter(|c| !shorts.contains(c)) {
            let r = parse([format!("-{c}")]);
            assert_eq!(
                r,
                Err(CliError::UnknownOption(format!("-{c}"))),
                "undocumented -{c}"
            );
        }
    }
}
