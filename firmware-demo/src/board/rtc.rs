//! Goldfish RTC at 0x10_1000: a 64-bit nanosecond counter since the epoch.
//!
//! QEMU (hw/rtc/goldfish_rtc.c) latches the high word when TIME_LOW is
//! read, so TIME_LOW must be read first. A write to either half replaces
//! that half of the current count (the other half keeps running), so a set
//! writes TIME_HIGH, then TIME_LOW. QEMU starts the counter at the host's
//! time truncated to whole seconds.

use super::mmio::Mmio;

/// Base address of the virt machine's RTC.
pub const RTC_BASE: usize = 0x10_1000;

const TIME_LOW: usize = 0x00;
const TIME_HIGH: usize = 0x04;

/// The RTC.
pub struct Rtc {
    regs: Mmio,
}

impl Rtc {
    /// The virt machine's RTC.
    pub const fn new() -> Rtc {
        // SAFETY: RTC_BASE is the goldfish RTC's MMIO block on virt (0x24 bytes).
        let regs = unsafe { Mmio::new(RTC_BASE) };
        Rtc { regs }
    }

    /// Nanoseconds since the epoch.
    pub fn now_ns(&self) -> u64 {
        let low = self.regs.read32(TIME_LOW); // latches TIME_HIGH
        let high = self.regs.read32(TIME_HIGH);
        u64::from(high) << 32 | u64::from(low)
    }

    /// Sets the clock to `ns` nanoseconds since the epoch.
    pub fn set_ns(&mut self, ns: u64) {
        self.regs.write32(TIME_HIGH, (ns >> 32) as u32);
        self.regs.write32(TIME_LOW, ns as u32);
    }
}

impl Default for Rtc {
    fn default() -> Self {
        Rtc::new()
    }
}
