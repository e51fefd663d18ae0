//! Logging in qemu-ga's format: `<unix-time.µs>: <level>: <msg>` (notes 4.7).
//!
//! One process-wide logger, set up once by [`init`] (stderr until then). By
//! default only `error` and `critical` lines are written; `-v` writes all.
//! They go to the `-l` file; without `-l`, to syslog ([`crate::syslog`])
//! unless stderr is a terminal or nothing listens on `/dev/log`, then to
//! stderr. [`audit`] lines (qemu-ga's `slog`) always go to syslog at `info`
//! when it listens, else they are ordinary `info` lines.
//!
//! While filesystems are frozen nothing is written anywhere (the log file
//! or a redirected stderr may live on a frozen filesystem, and one write
//! there blocks the agent for good, so the thaw could never arrive): lines
//! go to a small bounded ring ([`HELD_LINES`], [`HELD_BYTES`]) and are
//! written after the thaw, followed by a count of those that did not fit.
#![forbid(unsafe_code)]

use std::fmt;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::syslog::{self, Severity, Syslog};

/// GLib's log levels, as qemu-ga names them in its log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// `error`: the agent cannot go on.
    Error,
    /// `critical`: a serious failure.
    Critical,
    /// `warning`.
    Warning,
    /// `message`.
    Message,
    /// `info`.
    Info,
    /// `debug`.
    Debug,
}

impl Level {
    /// The word in the log line.
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Critical => "critical",
            Level::Warning => "warning",
            Level::Message => "message",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }

    /// The syslog severity qemu-ga maps it to.
    fn severity(self) -> Severity {
        match self {
            Level::Error => Severity::Error,
            Level::Critical => Severity::Critical,
            Level::Warning => Severity::Warning,
            Level::Message => Severity::Notice,
            Level::Info => Severity::Info,
            Level::Debug => Severity::Debug,
        }
    }
}

/// Lines held while frozen: at most this many ...
pub const HELD_LINES: usize = 64;
/// ... and this many bytes; later lines are counted and dropped.
pub const HELD_BYTES: usize = 16 * 1024;

struct Logger {
    verbose: bool,
    out: Mutex<Output>,
}

/// Where a line goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dest {
    /// The `-l` file, or stderr.
    Text,
    /// syslog, at this severity.
    Syslog(Severity),
}

/// One line, formatted for its destination.
struct Entry {
    dest: Dest,
    text: String,
}

/// Where lines go, and the lines held while filesystems are frozen.
struct Output {
    /// The log file (`None`: stderr).
    file: Option<File>,
    /// A log file not opened yet because the agent started frozen.
    deferred: Option<PathBuf>,
    /// `/dev/log`, when a syslog daemon listens there.
    syslog: Option<Syslog>,
    /// Ordinary lines go to syslog (no `-l`, stderr not a terminal).
    to_syslog: bool,
    /// `Some` while frozen: nothing is written to any file then (a write
    /// to a frozen filesystem would block the agent for good).
    held: Option<Held>,
}

/// The bounded ring of lines held while frozen.
#[derive(Default)]
struct Held {
    lines: Vec<Entry>,
    bytes: usize,
    dropped: u64,
}

impl Held {
    fn push(&mut self, entry: Entry) {
        if self.lines.len() < HELD_LINES && self.bytes + entry.text.len() <= HELD_BYTES {
            self.bytes += entry.text.len();
            self.lines.push(entry);
        } else {
            self.dropped += 1;
        }
    }
}

impl Output {
    fn new(file: Option<File>, deferred: Option<PathBuf>, syslog: Option<Syslog>) -> Output {
        let to_syslog = file.is_none()
            && deferred.is_none()
            && syslog.is_some()
            && !std::io::stderr().is_terminal();
        Output {
            file,
            deferred,
            syslog,
            to_syslog,
            held: None,
        }
    }

    /// An ordinary line at `level`, formatted for where it goes.
    fn entry(&self, level: Level, args: fmt::Arguments<'_>) -> Entry {
        match self.to_syslog {
            true => syslog_entry(level, args),
            false => Entry {
                dest: Dest::Text,
                text: format_line(SystemTime::now(), level, args),
            },
        }
    }

    /// Writes `entry`, or holds it while frozen.
    fn line(&mut self, entry: Entry) {
        match &mut self.held {
            Some(held) => held.push(entry),
            None => self.write(&entry),
        }
    }

    fn write(&mut self, entry: &Entry) {
        let line = entry.text.as_bytes();
        match (entry.dest, &mut self.syslog, &mut self.file) {
            (Dest::Syslog(sev), Some(s), _) => s.send(sev, format_args!("{}", entry.text)),
            (_, _, Some(f)) => drop(f.write_all(line)),
            _ => drop(std::io::stderr().write_all(line)),
        }
    }

    /// Leaves frozen state: opens a deferred log file, then writes the held
    /// lines and how many did not fit.
    fn thaw(&mut self) {
        let Some(held) = self.held.take() else { return };
        if let Some(path) = self.deferred.take() {
            match open_append(&path) {
                Ok(f) => self.file = Some(f),
                Err(e) => {
                    let why = errno_text(&e);
                    let note = format_args!("cannot open log file {}: {why}", path.display());
                    let entry = self.entry(Level::Critical, note);
                    self.write(&entry);
                }
            }
        }
        for entry in &held.lines {
            self.write(entry);
        }
        if held.dropped > 0 {
            let note = format_args!("{} log lines dropped while frozen", held.dropped);
            let entry = self.entry(Level::Warning, note);
            self.write(&entry);
        }
    }
}

/// A syslog line: `LEVEL: MESSAGE` at the level's severity.
fn syslog_entry(level: Level, args: fmt::Arguments<'_>) -> Entry {
    Entry {
        dest: Dest::Syslog(level.severity()),
        text: format!("{}: {args}", level.name()),
    }
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Opens the log file (append, created 0600 if missing, never through a
/// link) or, without one, sends lines to syslog (stderr when it is a
/// terminal or nothing listens on `/dev/log`). With `frozen` (the agent
/// starts frozen, protocol notes 4.3) the file is opened only after the
/// thaw and lines are held until then. Call once, early; later calls are
/// ignored.
pub fn init(logfile: Option<&Path>, verbose: bool, frozen: bool) -> std::io::Result<()> {
    let syslog = Syslog::connect(Path::new(syslog::DEV_LOG)).ok();
    let mut out = match (logfile, frozen) {
        (Some(path), false) => Output::new(Some(open_append(path)?), None, syslog),
        (path, _) => Output::new(None, path.map(Path::to_path_buf), syslog),
    };
    out.held = frozen.then(Held::default);
    let _ = LOGGER.set(Logger {
        verbose,
        out: Mutex::new(out),
    });
    Ok(())
}

/// Enters (`true`) or leaves frozen state. While frozen, lines are held
/// in a bounded ring; leaving writes them (and how many were dropped).
pub fn set_frozen(frozen: bool) {
    let Some(logger) = LOGGER.get() else { return };
    let mut out = logger.out.lock().unwrap_or_else(|e| e.into_inner());
    match frozen {
        true if out.held.is_none() => out.held = Some(Held::default()),
        true => {}
        false => out.thaw(),
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        // std adds O_CLOEXEC itself.
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
}

/// Writes one line at `level` if that level is enabled.
pub fn log(level: Level, args: fmt::Arguments<'_>) {
    let Some(logger) = LOGGER.get() else {
        if matches!(level, Level::Error | Level::Critical) {
            let line = format_line(SystemTime::now(), level, args);
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        return;
    };
    if !logger.verbose && !matches!(level, Level::Error | Level::Critical) {
        return;
    }
    let mut out = logger.out.lock().unwrap_or_else(|e| e.into_inner());
    let entry = out.entry(level, args);
    out.line(entry);
}

/// An audit line (qemu-ga's `slog`): syslog at `info` whatever `-l` and
/// `-v` say, or an ordinary `info` line when no syslog daemon listens.
/// Held like any other line while frozen.
pub fn audit(args: fmt::Arguments<'_>) {
    let Some(logger) = LOGGER.get() else { return };
    let mut out = logger.out.lock().unwrap_or_else(|e| e.into_inner());
    if out.syslog.is_none() {
        drop(out);
        return log(Level::Info, args);
    }
    out.line(syslog_entry(Level::Info, args));
}
/// One formatted line, newline included.
fn format_line(now: SystemTime, level: Level, args: fmt::Arguments<'_>) -> String {
    let t = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!(
        "{}.{:06}: {}: {}\n",
        t.as_secs(),
        t.subsec_micros(),
        level.name(),
        args
    )
}

/// Logs at `error`.
pub fn error(args: fmt::Arguments<'_>) {
    log(Level::Error, args);
}

/// Logs at `critical`.
pub fn critical(args: fmt::Arguments<'_>) {
    log(Level::Critical, args);
}

/// Logs at `warning` (only with `-v`).
pub fn warning(args: fmt::Arguments<'_>) {
    log(Level::Warning, args);
}

/// Logs at `debug` (only with `-v`).
pub fn debug(args: fmt::Arguments<'_>) {
    log(Level::Debug, args);
}

/// An I/O error's text: glibc's `strerror` text (the core's table, as
/// qemu-ga prints it, on every build) for an OS error, else its message.
/// Never std's `Display` of `io::Error`, which would link musl's table too.
pub fn errno_text(e: &std::io::Error) -> String {
    match (e.raw_os_error(), e.get_ref()) {
        (Some(n), _) => qga_core::errno::strerror(n).to_owned(),
        (None, Some(inner)) => inner.to_string(),
        (None, None) => e.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn line_format_pads_microseconds() {
        let _fds = crate::linux::testutil::fd_count_guard();
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 42_000);
        assert_eq!(
            format_line(t, Level::Warning, format_args!("x {}", 1)),
            "1700000000.000042: warning: x 1\n"
        );
        let t = UNIX_EPOCH + Duration::new(5, 999_999_999);
        assert_eq!(
            format_line(t, Level::Critical, format_args!("y")),
            "5.999999: critical: y\n"
        );
    }

    #[test]
    fn errno_text_is_glibcs_text_or_the_message() {
        let _fds = crate::linux::testutil::fd_count_guard();
        let e = std::io::Error::from_raw_os_error(2);
        assert_eq!(errno_text(&e), "No such file or directory");
        // musl says "Not supported".
        let e = std::io::Error::from_raw_os_error(95);
        assert_eq!(errno_text(&e), "Operation not supported");
        let e = std::io::Error::other("plain");
        assert_eq!(errno_text(&e), "plain");
        let e = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(errno_text(&e), "entity not found");
    }

    #[test]
    fn level_names() {
        let _fds = crate::linux::testutil::fd_count_guard();
        let all = [
            Level::Error,
            Level::Critical,
            Level::Warning,
            Level::Message,
            Level::Info,
            Level::Debug,
        ];
        let names: Vec<_> = all.iter().map(|l| l.name()).collect();
        assert_eq!(
            names,
            ["error", "critical", "warning", "message", "info", "debug"]
        );
    }

    #[test]
    fn frozen_lines_are_held_bounded_and_written_after_thaw() {
        let _fds = crate::linux::testutil::fd_count_guard();
        let dir = std::env::temp_dir().join(format!("qga-log-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("agent.log");
        let _ = std::fs::remove_file(&path);
        let mut out = Output::new(None, Some(path.clone()), None);
        out.held = Some(Held::default());
        for i in 0..HELD_LINES + 3 {
            out.line(Entry {
                dest: Dest::Text,
                text: format!("line {i}\n"),
            });
        }
        assert!(!path.exists(), "nothing may be written while frozen");
        out.thaw();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), HELD_LINES + 1);
        assert_eq!((lines[0], lines[HELD_LINES - 1]), ("line 0", "line 63"));
        assert!(lines[HELD_LINES].ends_with(": warning: 3 log lines dropped while frozen"));
        out.line(Entry {
            dest: Dest::Text,
            text: "after\n".into(),
        });
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(text.ends_with("dropped while frozen\nafter\n"), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn log_file_is_never_opened_through_a_link() {
        let _fds = crate::linux::testutil::fd_count_guard();
        let dir = std::env::temp_dir().join(format!("qga-loglink-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let target = dir.join("target");
        let _ = std::fs::write(&target, "keep");
        let link = dir.join("agent.log");
        let _ = std::fs::remove_file(&link);
        let _ = std::os::unix::fs::symlink(&target, &link);
        let e = open_append(&link).err().and_then(|e| e.raw_os_error());
        assert_eq!(e, Some(40), "ELOOP");
        assert_eq!(std::fs::read_to_string(&target).unwrap_or_default(), "keep");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
