//! Logging in qemu-ga's format: `<unix-time.µs>: <level>: <msg>` (notes 4.7).
//!
//! One process-wide logger, set up once by [`init`] (stderr until then). By
//! default only `error` and `critical` lines are written; `-v` writes all.
#![forbid(unsafe_code)]

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

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
}

struct Logger {
    verbose: bool,
    file: Option<Mutex<File>>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Opens the log file (append, created 0600 if missing) or keeps stderr.
/// Call once, early; later calls are ignored.
pub fn init(logfile: Option<&Path>, verbose: bool) -> std::io::Result<()> {
    let file = match logfile {
        Some(path) => Some(Mutex::new(open_append(path)?)),
        None => None,
    };
    let _ = LOGGER.set(Logger { verbose, file });
    Ok(())
}

fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

/// Writes one line at `level` if that level is enabled.
pub fn log(level: Level, args: fmt::Arguments<'_>) {
    let verbose = LOGGER.get().is_some_and(|l| l.verbose);
    if !verbose && !matches!(level, Level::Error | Level::Critical) {
        return;
    }
    let line = format_line(SystemTime::now(), level, args);
    match LOGGER.get().and_then(|l| l.file.as_ref()) {
        Some(file) => {
            if let Ok(mut f) = file.lock() {
                let _ = f.write_all(line.as_bytes());
            }
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
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

/// An I/O error's text without std's ` (os error N)` suffix.
pub fn errno_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(cut) if text.ends_with(')') => text[..cut].to_owned(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn line_format_pads_microseconds() {
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
    fn errno_text_drops_os_error_suffix() {
        let e = std::io::Error::from_raw_os_error(2);
        assert_eq!(errno_text(&e), "No such file or directory");
        let e = std::io::Error::other("plain");
        assert_eq!(errno_text(&e), "plain");
    }

    #[test]
    fn level_names() {
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
}
