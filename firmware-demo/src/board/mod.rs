//! The QEMU `virt` board as a QGA [`Platform`]: real devices where the
//! machine has them (RTC, test device, one hart), a RAM file store for the
//! guest-file-* commands. It offers the capabilities it implements (clock,
//! power, files, system info, vcpus) and no others, so `guest-info` lists
//! exactly their commands (plus the core's built-ins) as enabled.

pub mod clock;
pub mod mmio;
pub mod power;
pub mod rtc;
pub mod uart;

use core::fmt::Write as _;

use qga_core::errno::EINVAL;
use qga_core::platform::memfs::MemFs;
use qga_core::platform::{
    self, Clock, Error, HostName, LogicalProcessor, OpenMode, OsInfo, Platform, Result,
    ShutdownMode, SuspendMode, SystemInfo, Timezone, Vcpus, Whence,
};

use clock::{SystemClock, CLINT_BASE, CLINT_MTIME};
use mmio::Mmio;
use power::Power;
use rtc::Rtc;

/// `guest-get-host-name`'s answer.
pub const HOST_NAME: &str = "qga-firmware";

/// The file store behind guest-file-*: 4 files of up to 4 KiB, 4 handles.
pub type Files = MemFs<4, 4096, 4>;

/// qemu-ga refuses times from 2070 on (`Invalid time`); so do we.
const YEAR_2070_NS: i64 = 3_155_760_000 * 1_000_000_000;

/// The board: its devices and the file store.
///
/// The store is borrowed, not owned: it lives in its own `static`, built at
/// compile time, so that building the `Agent` at boot (`Agent::new` is not
/// `const`) moves only the small rest through the stack.
pub struct Board {
    rtc: Rtc,
    clock: SystemClock,
    power: Power,
    files: &'static mut Files,
}

impl Board {
    /// The board, keeping its files in `files`.
    pub const fn new(files: &'static mut Files) -> Board {
        Board {
            rtc: Rtc::new(),
            clock: SystemClock::new(),
            power: Power::new(),
            files,
        }
    }

    /// Sets the system clock from the RTC, as an OS does at boot.
    pub fn start_clock(&mut self) {
        self.clock.set_from(&self.rtc);
    }
}

impl Platform for Board {
    qga_core::offer!(clock: Clock, power: Power, files: Files, system_info: SystemInfo, vcpus: Vcpus);
}

impl Clock for Board {
    fn get_time(&mut self) -> Result<i64> {
        Ok(self.clock.now_ns())
    }

    fn set_time(&mut self, time_ns: Option<i64>) -> Result<()> {
        // Without a time qemu-ga copies the RTC into the system clock (the
        // RTC's counter fits i64 until the year 2262).
        let Some(ns) = time_ns else {
            self.clock.set_from(&self.rtc);
            return Ok(());
        };
        if !(0..YEAR_2070_NS).contains(&ns) {
            return Err(Error::errno(EINVAL, format_args!("Invalid time")));
        }
        self.clock.set_ns(ns);
        self.rtc.set_ns(ns as u64);
        Ok(())
    }
}

impl platform::Power for Board {
    fn shutdown(&mut self, mode: ShutdownMode) -> Result<()> {
        #[cfg(feature = "defmt")]
        defmt::info!("guest-shutdown {}", mode);
        match mode {
            ShutdownMode::Powerdown | ShutdownMode::Halt => self.power.poweroff(),
            ShutdownMode::Reboot => self.power.reset(),
        }
    }

    fn suspend(&mut self, _mode: SuspendMode) -> Result<()> {
        // qemu-ga's text on a guest that cannot suspend.
        Err(Error::msg(format_args!(
            "the requested suspend mode is not supported by the guest"
        )))
    }
}

impl platform::Files for Board {
    fn open(&mut self, path: &str, mode: OpenMode) -> Result<i64> {
        self.files.open(path, mode)
    }

    fn close(&mut self, handle: i64) -> Result<()> {
        self.files.close(handle)
    }

    fn read(&mut self, handle: i64, buf: &mut [u8]) -> Result<usize> {
        self.files.read(handle, buf)
    }

    fn write(&mut self, handle: i64, data: &[u8]) -> Result<usize> {
        self.files.write(handle, data)
    }

    fn seek(&mut self, handle: i64, offset: i64, whence: Whence) -> Result<i64> {
        self.files.seek(handle, offset, whence)
    }

    fn flush(&mut self, handle: i64) -> Result<()> {
        self.files.flush(handle)
    }

    fn check(&mut self, handle: i64) -> Result<()> {
        self.files.check(handle)
    }
}

impl SystemInfo for Board {
    fn host_name(&mut self, out: &mut dyn FnMut(&HostName<'_>) -> Result<()>) -> Result<()> {
        out(&HostName {
            host_name: HOST_NAME,
        })
    }

    fn timezone(&mut self, out: &mut dyn FnMut(&Timezone<'_>) -> Result<()>) -> Result<()> {
        out(&Timezone {
            zone: Some("UTC"),
            offset: 0,
        })
    }

    /// Besides the system's identity, `variant-id` carries the stack
    /// high-water mark while serving and at boot
    /// (`stack-peak-<used>-of-<size>-boot-<used>`), so a host can measure
    /// stack use without a debugger.
    fn os_info(&mut self, out: &mut dyn FnMut(&OsInfo<'_>) -> Result<()>) -> Result<()> {
        let (used, reserved) = crate::rt::stack_peak();
        let boot = crate::rt::boot_peak();
        let mut peak = heapless::String::<48>::new();
        let _ = write!(peak, "stack-peak-{used}-of-{reserved}-boot-{boot}");
        out(&OsInfo {
            kernel_release: Some(env!("CARGO_PKG_VERSION")),
            kernel_version: Some("bare metal, qga-core"),
            machine: Some("riscv64"),
            id: Some("qga-firmware"),
            name: Some("QGA firmware demo"),
            pretty_name: Some("QGA firmware demo (QEMU virt, riscv64)"),
            version: Some(env!("CARGO_PKG_VERSION")),
            version_id: Some(env!("CARGO_PKG_VERSION")),
            variant: Some("stack high-water marks in bytes"),
            variant_id: Some(&peak),
        })
    }
}

impl Vcpus for Board {
    fn list(&mut self, out: &mut dyn FnMut(&LogicalProcessor) -> Result<()>) -> Result<()> {
        // Only hart 0 runs (rt.rs parks the others), and it cannot go offline.
        out(&LogicalProcessor {
            logical_id: 0,
            online: true,
            can_offline: Some(false),
        })
    }

    fn set(&mut self, logical_id: i64, online: bool) -> Result<()> {
        match (logical_id, online) {
            (0, true) => Ok(()),
            (0, false) => Err(Error::msg(format_args!(
                "logical processor #0 can't be offlined"
            ))),
            (n, _) => Err(Error::msg(format_args!(
                "logical processor #{n} does not exist"
            ))),
        }
    }
}

/// The CLINT's timer compare register of hart 0.
const CLINT_MTIMECMP0: usize = 0x4000;
/// mtime runs at 10 MHz on virt: 2000 ticks = 200 µs.
const IDLE_TICKS: u64 = 2000;

/// Sleeps about 200 µs or until the next interrupt, whichever is first.
///
/// Called when the UART had nothing to read, so an idle agent does not spin
/// a host CPU at 100 %. The machine timer is armed 200 µs ahead; `wfi`
/// returns once it is due (rt.rs enables mie.MTIE but leaves interrupts
/// globally off, so nothing traps). No input is lost meanwhile: QEMU stops
/// taking bytes from the socket while the 16-byte receive FIFO is full, so
/// the delay only bounds the latency of the first byte of a request.
pub fn idle() {
    // SAFETY: the CLINT's MMIO block on virt (0x10000 bytes).
    let clint = unsafe { Mmio::new(CLINT_BASE) };
    let now = clint.read64(CLINT_MTIME);
    clint.write64(CLINT_MTIMECMP0, now + IDLE_TICKS);
    // SAFETY: `wfi` only pauses the hart; it touches no memory or registers.
    unsafe { core::arch::asm!("wfi", options(nomem, nostack, preserves_flags)) };
}
