//! SiFive test device ("finisher") at 0x10_0000: the writes that end QEMU.

use super::mmio::Mmio;

/// Base address of the virt machine's test device.
pub const TEST_BASE: usize = 0x10_0000;

const FINISHER_FAIL: u32 = 0x3333;
const FINISHER_PASS: u32 = 0x5555;
const FINISHER_RESET: u32 = 0x7777;

/// The test device.
pub struct Power {
    regs: Mmio,
}

impl Power {
    /// The virt machine's test device.
    pub const fn new() -> Power {
        // SAFETY: TEST_BASE is the sifive_test MMIO block on virt (0x1000 bytes).
        let regs = unsafe { Mmio::new(TEST_BASE) };
        Power { regs }
    }

    /// Powers off; QEMU exits with status 0.
    pub fn poweroff(&self) -> ! {
        self.finish(FINISHER_PASS)
    }

    /// Resets the machine: QEMU reloads the ELF and starts it again.
    pub fn reset(&self) -> ! {
        self.finish(FINISHER_RESET)
    }

    /// Powers off with a failure; QEMU exits with status `code`.
    pub fn fail(&self, code: u16) -> ! {
        self.finish(FINISHER_FAIL | u32::from(code) << 16)
    }

    fn finish(&self, value: u32) -> ! {
        loop {
            self.regs.write32(0, value);
        }
    }
}

impl Default for Power {
    fn default() -> Self {
        Power::new()
    }
}
