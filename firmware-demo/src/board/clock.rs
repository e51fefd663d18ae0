//! The system clock, kept apart from the RTC as an operating system keeps
//! its own: the CLINT's machine timer plus an offset, set from the RTC at
//! boot. `guest-get-time` reads it; `guest-set-time` with a time sets both
//! clocks (qemu-ga: `settimeofday`, then `hwclock -w`), without one it
//! copies the RTC into the system clock (`hwclock -s`).
//!
//! QEMU drives the timer from its virtual clock and the goldfish RTC from
//! the host's clock, so the two drift apart while the VM is stopped
//! (QMP `stop` / `cont`), as a guest's clocks do across a pause.

use super::mmio::Mmio;
use super::rtc::Rtc;

/// The CLINT (core-local interruptor) of the virt machine.
pub const CLINT_BASE: usize = 0x200_0000;
/// Offset of the free-running 64-bit `mtime` counter in the CLINT.
pub const CLINT_MTIME: usize = 0xbff8;
/// mtime runs at 10 MHz on virt: 100 ns per tick.
const NS_PER_TICK: i64 = 100;

/// Nanoseconds of machine time since reset.
fn mtime_ns() -> i64 {
    // SAFETY: the CLINT's MMIO block on virt (0x10000 bytes).
    let clint = unsafe { Mmio::new(CLINT_BASE) };
    // 2^63 ticks at 10 MHz are 29,000 years.
    clint.read64(CLINT_MTIME) as i64 * NS_PER_TICK
}

/// The system clock: machine time plus an offset.
pub struct SystemClock {
    offset_ns: i64,
}

impl SystemClock {
    /// A clock at machine time (the epoch at reset) until [`Self::set_ns`]:
    /// `const`, so the board can be built at compile time.
    pub const fn new() -> SystemClock {
        SystemClock { offset_ns: 0 }
    }

    /// Sets the clock from the RTC (at boot, and for `hwclock -s`).
    pub fn set_from(&mut self, rtc: &Rtc) {
        // The RTC's counter fits i64 until the year 2262.
        self.set_ns(rtc.now_ns() as i64);
    }

    /// Nanoseconds since the epoch.
    pub fn now_ns(&self) -> i64 {
        mtime_ns() + self.offset_ns
    }

    /// Sets the clock to `ns` nanoseconds since the epoch.
    pub fn set_ns(&mut self, ns: i64) {
        self.offset_ns = ns - mtime_ns();
    }
}
