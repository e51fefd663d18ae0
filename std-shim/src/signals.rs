//! SIGTERM and SIGINT, as qemu-ga handles them (protocol notes 4.7): an
//! orderly exit (pidfile removed), except while filesystems are frozen,
//! when they are ignored so a frozen guest keeps its agent until thawed.
//!
//! A small thread waits for the signals (signal-hook's iterator), so no
//! code runs in signal context and the poll loop needs no changes.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::log;

/// Whether filesystems are frozen now; the channel loop keeps it current.
static FROZEN: AtomicBool = AtomicBool::new(false);

/// Records the agent's frozen state (called after every request batch).
pub fn set_frozen(frozen: bool) {
    FROZEN.store(frozen, Ordering::Relaxed);
}

/// Starts the signal thread. `pidfile` is removed on an orderly exit.
pub fn install(pidfile: Option<PathBuf>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGTERM, SIGINT])?;
    std::thread::Builder::new()
        .name("signals".into())
        .stack_size(32 * 1024)
        .spawn(move || {
            for sig in signals.forever() {
                if FROZEN.load(Ordering::Relaxed) {
                    log::warning(format_args!("signal {sig} ignored: filesystems are frozen"));
                    continue;
                }
                log::debug(format_args!("signal {sig}: exiting"));
                if let Some(p) = &pidfile {
                    let _ = std::fs::remove_file(p);
                }
                std::process::exit(0);
            }
        })?;
    Ok(())
}
