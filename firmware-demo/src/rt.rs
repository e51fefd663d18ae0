//! Boot code: the entry point, the trap vector and the stack high-water mark.
//!
//! A dozen instructions of `global_asm!` and `link.x` instead of `riscv-rt`:
//! with `-bios none` QEMU starts every hart at `_start` in M-mode with the
//! ELF already in RAM, so all that is left is to park the other harts, set
//! the stack pointer and a trap vector, enable the FPU (the target's ABI is
//! lp64d), zero `.bss`, paint the stack and lock a PMP guard below it.
//! `.data` needs no copying (its load address is its run address).
//!
//! Stack overflow: the lowest [`GUARD`] bytes of the stack region are a
//! locked PMP region without permissions, which M-mode must obey too, so a
//! frame that runs into them faults (QEMU exits with status 0x87, store
//! access fault) instead of silently overwriting `.bss`.

use core::ptr::{addr_of, read_volatile, write_volatile};
use core::sync::atomic::{AtomicUsize, Ordering};

/// The word the stack is filled with at boot; the deepest word that no
/// longer holds it marks the high-water mark.
const PAINT: u64 = 0x5354_4143_4b5f_5041; // "STACK_PA"

/// Size of the PMP guard at the bottom of the stack (a power of two; link.x
/// aligns the stack to it).
const GUARD: usize = 256;

core::arch::global_asm!(
    ".section .text.start, \"ax\"",
    ".global _start",
    "_start:",
    // Only hart 0 runs the agent; any other hart waits forever.
    "    csrr   t0, mhartid",
    "    bnez   t0, 9f",
    "    la     sp, _stack_top",
    "    la     t0, _trap",
    "    csrw   mtvec, t0",
    // mstatus.FS = Initial: floating-point instructions no longer trap.
    "    li     t0, 0x2000",
    "    csrs   mstatus, t0",
    // mie.MTIE: a due machine timer ends `wfi` (board::idle); mstatus.MIE
    // stays clear, so it never traps.
    "    li     t0, 0x80",
    "    csrs   mie, t0",
    // Zero .bss.
    "    la     t0, _sbss",
    "    la     t1, _ebss",
    "1:  bgeu   t0, t1, 2f",
    "    sd     zero, 0(t0)",
    "    addi   t0, t0, 8",
    "    j      1b",
    // Paint the whole (still unused) stack.
    "2:  la     t0, _stack_bottom",
    "    li     t2, {paint}",
    "3:  bgeu   t0, sp, 4f",
    "    sd     t2, 0(t0)",
    "    addi   t0, t0, 8",
    "    j      3b",
    // PMP entry 0: NAPOT region [_stack_bottom, +GUARD), no R/W/X, locked
    // (L = 0x80, NAPOT = 0x18); pmpaddr = base >> 2 | (GUARD >> 3) - 1.
    "4:  la     t0, _stack_bottom",
    "    srli   t0, t0, 2",
    "    ori    t0, t0, {napot}",
    "    csrw   pmpaddr0, t0",
    "    li     t0, 0x98",
    "    csrw   pmpcfg0, t0",
    "    call   qga_main",
    "9:  wfi",
    "    j      9b",
    "",
    // Any exception: power off with exit status 0x80 | mcause (so that
    // mcause 0 does not read as success), via the SiFive test device.
    ".balign 4",
    "_trap:",
    "    csrr   t0, mcause",
    "    andi   t0, t0, 0x7f",
    "    ori    t0, t0, 0x80",
    "    slli   t0, t0, 16",
    "    li     t1, 0x3333",
    "    or     t0, t0, t1",
    "    li     t1, {test_dev}",
    "    sw     t0, 0(t1)",
    "    j      _trap",
    paint = const PAINT,
    napot = const (GUARD >> 3) - 1,
    test_dev = const crate::board::power::TEST_BASE,
);

/// The stack high-water mark of boot, saved by [`repaint_stack`].
static BOOT_PEAK: AtomicUsize = AtomicUsize::new(0);

extern "C" {
    static _stack_bottom: u64;
    static _stack_top: u64;
}

/// Bytes of stack used so far at most (the high-water mark), and the
/// usable stack size (without the guard). Scans up from the guard for the
/// first word that is no longer the boot-time paint.
pub fn stack_peak() -> (usize, usize) {
    let bottom = addr_of!(_stack_bottom) as usize + GUARD;
    let top = addr_of!(_stack_top) as usize;
    let mut at = bottom;
    // SAFETY: [bottom, top) is the stack region reserved by link.x above
    // the guard, 8-byte aligned and always mapped; volatile because the compiler cannot know
    // that the words below the current frame were written by earlier frames.
    while at < top && unsafe { read_volatile(at as *const u64) } == PAINT {
        at += 8;
    }
    (top - at, top - bottom)
}

/// Bytes of stack boot needed at most (0 before [`repaint_stack`]).
pub fn boot_peak() -> usize {
    BOOT_PEAK.load(Ordering::Relaxed)
}

/// Saves the high-water mark so far as [`boot_peak`] and paints the unused
/// stack again, so [`stack_peak`] measures from here on.
#[inline(never)]
pub fn repaint_stack() {
    BOOT_PEAK.store(stack_peak().0, Ordering::Relaxed);
    let sp: usize;
    // SAFETY: only copies the stack pointer into a register.
    unsafe { core::arch::asm!("mv {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
    let mut at = addr_of!(_stack_bottom) as usize + GUARD;
    while at < sp {
        // SAFETY: [bottom + GUARD, sp) is stack memory below every live
        // frame (the RISC-V ABI has no red zone), 8-byte aligned.
        unsafe { write_volatile(at as *mut u64, PAINT) };
        at += 8;
    }
}
