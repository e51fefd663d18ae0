//! Volatile access to one device's register block: the only place where the
//! board dereferences raw addresses.

use core::ptr::{read_volatile, write_volatile};

/// The register block of one memory-mapped device.
#[derive(Clone, Copy)]
pub struct Mmio {
    base: usize,
}

impl Mmio {
    /// A register block at `base`.
    ///
    /// # Safety
    ///
    /// `base` must be the start of a device's MMIO region on this machine,
    /// large enough for every offset the caller passes to the accessors,
    /// and the device must tolerate accesses from every copy of the handle.
    pub const unsafe fn new(base: usize) -> Mmio {
        Mmio { base }
    }

    /// Reads the 8-bit register at `offset`.
    pub fn read8(self, offset: usize) -> u8 {
        // SAFETY: `new`'s contract: base + offset is a device register.
        unsafe { read_volatile((self.base + offset) as *const u8) }
    }

    /// Writes the 8-bit register at `offset`.
    pub fn write8(self, offset: usize, value: u8) {
        // SAFETY: `new`'s contract: base + offset is a device register.
        unsafe { write_volatile((self.base + offset) as *mut u8, value) }
    }

    /// Reads the 32-bit register at `offset` (4-byte aligned).
    pub fn read32(self, offset: usize) -> u32 {
        // SAFETY: `new`'s contract; device registers are naturally aligned.
        unsafe { read_volatile((self.base + offset) as *const u32) }
    }

    /// Writes the 32-bit register at `offset` (4-byte aligned).
    pub fn write32(self, offset: usize, value: u32) {
        // SAFETY: `new`'s contract; device registers are naturally aligned.
        unsafe { write_volatile((self.base + offset) as *mut u32, value) }
    }

    /// Reads the 64-bit register at `offset` (8-byte aligned).
    pub fn read64(self, offset: usize) -> u64 {
        // SAFETY: `new`'s contract; device registers are naturally aligned.
        unsafe { read_volatile((self.base + offset) as *const u64) }
    }

    /// Writes the 64-bit register at `offset` (8-byte aligned).
    pub fn write64(self, offset: usize, value: u64) {
        // SAFETY: `new`'s contract; device registers are naturally aligned.
        unsafe { write_volatile((self.base + offset) as *mut u64, value) }
    }
}
