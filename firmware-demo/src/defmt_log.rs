//! The `defmt` global logger: frames go into a RAM ring buffer.
//!
//! Why RAM and not a UART: QEMU's virt machine has exactly one 16550, and it
//! carries the QGA protocol, where stray bytes would break the host's
//! parser. A 1 KiB ring costs nothing at run time and is read from the host
//! without stopping the guest: look up `DEFMT_RING` and `DEFMT_RING_HEAD`
//! with `nm`, dump them with QMP `pmemsave` (or gdb), unroll the ring at
//! `DEFMT_RING_HEAD % 1024` and feed the bytes to `defmt-print -e <elf>`.
//!
//! One hart, interrupts off: nothing can preempt a frame, so the lock is a
//! reentrancy flag only.

use core::ptr::addr_of_mut;
use core::sync::atomic::{AtomicBool, Ordering};

/// Size of the ring, a power of two.
const RING_LEN: usize = 1024;

/// The ring: bytes of rzCOBS-encoded defmt frames, oldest overwritten first.
#[no_mangle]
static mut DEFMT_RING: [u8; RING_LEN] = [0; RING_LEN];
/// Bytes ever written; the next byte goes to `DEFMT_RING_HEAD % RING_LEN`.
#[no_mangle]
static mut DEFMT_RING_HEAD: usize = 0;

static TAKEN: AtomicBool = AtomicBool::new(false);
static mut ENCODER: defmt::Encoder = defmt::Encoder::new();

#[defmt::global_logger]
struct RingLogger;

// SAFETY: acquire/release bracket every frame and the flag refuses
// reentrancy, so ENCODER and the ring have one user at a time.
unsafe impl defmt::Logger for RingLogger {
    #[allow(clippy::panic)] // a log call inside a log call is a bug
    fn acquire() {
        if TAKEN.swap(true, Ordering::Acquire) {
            panic!("defmt logger taken reentrantly");
        }
        // SAFETY: TAKEN was false, so this is the only user of ENCODER.
        unsafe { (*addr_of_mut!(ENCODER)).start_frame(push) }
    }

    unsafe fn flush() {}

    unsafe fn release() {
        // SAFETY: called after `acquire` by the same (only) context.
        unsafe { (*addr_of_mut!(ENCODER)).end_frame(push) };
        TAKEN.store(false, Ordering::Release);
    }

    unsafe fn write(bytes: &[u8]) {
        // SAFETY: called between `acquire` and `release`.
        unsafe { (*addr_of_mut!(ENCODER)).write(bytes, push) }
    }
}

fn push(bytes: &[u8]) {
    // SAFETY: only reached from the logger while TAKEN is held; one hart,
    // no interrupts.
    unsafe {
        let ring = &mut *addr_of_mut!(DEFMT_RING);
        let head = &mut *addr_of_mut!(DEFMT_RING_HEAD);
        for &b in bytes {
            ring[*head % RING_LEN] = b;
            *head = head.wrapping_add(1);
        }
    }
}
