//! QEMU Guest Agent firmware for `qemu-system-riscv64 -machine virt`.
//!
//! Boots bare metal (`rt.rs`), then serves the QGA protocol on the
//! NS16550 UART with `qga_core::Agent`, polling: when the UART has nothing
//! to read the hart sleeps ~200 µs (`board::idle`). All memory is static:
//! the agent (request, reply and scratch buffers) is in `.bss`, the file
//! store in `.data`, and the stack is reserved in `link.x` and painted at
//! boot so `guest-get-osinfo` can report its high-water mark.
//!
//! A panic writes its message to the UART and powers off with QEMU exit
//! status 101; an exception powers off with status 0x80 | mcause.
#![no_std]
#![no_main]

mod board;
#[cfg(feature = "defmt")]
mod defmt_log;
mod rt;

use core::panic::PanicInfo;
use core::ptr::addr_of_mut;

use board::power::Power;
use board::uart::Uart;
use board::{Board, Files};
use embedded_io::Write as _;
use qga_core::Agent;

/// QEMU exit status after a panic.
const PANIC_EXIT_CODE: u16 = 101;

/// The file store behind guest-file-* (16 KiB of file data). `const`-built,
/// so it needs no stack at boot.
static mut FILES: Files = Files::new();

/// The agent: request buffer, reply stage, scratch, and the board borrowing
/// `FILES`. Built at compile time (`new_thawed` is `const`; the board has
/// no fsfreeze capability, so there is nothing to ask at start-up): no
/// stack at boot, and its size shows in the image instead of the stack.
// SAFETY: the only reference to FILES ever made.
static mut AGENT: Agent<Board> =
    Agent::new_thawed(Board::new(unsafe { &mut *addr_of_mut!(FILES) }));

/// Called by `_start` (rt.rs) on hart 0 with a fresh stack and zeroed `.bss`.
#[no_mangle]
extern "C" fn qga_main() -> ! {
    let mut uart = Uart::new();
    uart.init();
    #[cfg(feature = "defmt")]
    defmt::info!("qga-firmware {=str} up", env!("CARGO_PKG_VERSION"));
    // SAFETY: the only reference to AGENT ever made: `qga_main` runs once,
    // on the only running hart, with interrupts off.
    let agent = unsafe { &mut *addr_of_mut!(AGENT) };
    agent.platform_mut().start_clock();
    rt::repaint_stack();
    loop {
        match agent.poll(&mut uart) {
            Ok(()) => {}
            Err(nb::Error::WouldBlock) => board::idle(),
            Err(nb::Error::Other(never)) => match never {},
        }
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    // The message goes to the QGA channel: a host client sees one line that
    // is not JSON, then the channel closes as QEMU exits.
    let mut uart = Uart::new();
    let _ = write!(uart, "\r\npanic: {info}\r\n");
    Power::new().fail(PANIC_EXIT_CODE)
}
