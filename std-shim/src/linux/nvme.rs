//! The NVMe SMART / Health Information log for `guest-get-disks`' `smart`
//! member (protocol notes 3.3): an admin Get Log Page command (opcode 02h,
//! log 02h, all namespaces) sent through `NVME_IOCTL_ADMIN_CMD` on the
//! disk's device node, as qemu-ga's `get_nvme_smart` does. Any failure
//! leaves `smart` out, as there.
//!
//! The ioctl is this module's only `unsafe`, in [`read_smart_log`].

use std::path::Path;

use qga_core::platform::NvmeSmart;
use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::ioctl::{opcode, Ioctl, IoctlOutput, Opcode};

use super::sys::retry;

/// Bytes of the SMART / Health Information log page.
const LOG_LEN: usize = 512;
/// Admin command opcode Get Log Page.
const GET_LOG_PAGE: u8 = 0x02;
/// Log identifier SMART / Health Information.
const LOG_SMART: u32 = 0x02;
/// Retain Asynchronous Event: reading the log must not clear a pending
/// SMART event that the guest's own driver has not seen yet.
const RAE: u32 = 1 << 15;
/// The whole controller, not one namespace.
const NSID_BROADCAST: u32 = 0xffff_ffff;

/// `struct nvme_passthru_cmd` (linux/nvme_ioctl.h), a.k.a. `nvme_admin_cmd`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct PassthruCmd {
    opcode: u8,
    flags: u8,
    rsvd1: u16,
    nsid: u32,
    cdw2: u32,
    cdw3: u32,
    metadata: u64,
    addr: u64,
    metadata_len: u32,
    data_len: u32,
    cdw10: u32,
    cdw11: u32,
    cdw12: u32,
    cdw13: u32,
    cdw14: u32,
    cdw15: u32,
    timeout_ms: u32,
    result: u32,
}

/// `NVME_IOCTL_ADMIN_CMD = _IOWR('N', 0x41, struct nvme_admin_cmd)`.
const NVME_IOCTL_ADMIN_CMD: Opcode = opcode::read_write::<PassthruCmd>(b'N', 0x41);

/// One Get Log Page command whose data buffer is `log`.
struct GetSmartLog<'a> {
    cmd: PassthruCmd,
    /// The buffer `cmd.addr` points to, borrowed for as long as the command.
    _log: std::marker::PhantomData<&'a mut [u8; LOG_LEN]>,
}

impl<'a> GetSmartLog<'a> {
    fn new(log: &'a mut [u8; LOG_LEN]) -> Self {
        let dwords = (LOG_LEN / 4 - 1) as u32; // NUMDL: dwords to transfer, 0-based
        let cmd = PassthruCmd {
            opcode: GET_LOG_PAGE,
            nsid: NSID_BROADCAST,
            addr: log.as_mut_ptr() as u64,
            data_len: LOG_LEN as u32,
            cdw10: LOG_SMART | RAE | (dwords << 16),
            ..PassthruCmd::default()
        };
        GetSmartLog {
            cmd,
            _log: std::marker::PhantomData,
        }
    }
}

// SAFETY: NVME_IOCTL_ADMIN_CMD takes a `struct nvme_passthru_cmd`, which
// `PassthruCmd` mirrors (`repr(C)`, 72 bytes, checked by a test); the
// kernel reads the command, writes at most `data_len` bytes to `addr` (the
// exclusively borrowed 512-byte `log` of `GetSmartLog::new`) and writes
// `result` back. The output is the ioctl's return value: the NVMe status,
// 0 on success.
#[allow(unsafe_code)]
unsafe impl Ioctl for GetSmartLog<'_> {
    type Output = IoctlOutput;
    const IS_MUTATING: bool = true;

    fn opcode(&self) -> Opcode {
        NVME_IOCTL_ADMIN_CMD
    }

    fn as_ptr(&mut self) -> *mut core::ffi::c_void {
        (&mut self.cmd as *mut PassthruCmd).cast()
    }

    unsafe fn output_from_ptr(
        out: IoctlOutput,
        _: *mut core::ffi::c_void,
    ) -> rustix::io::Result<IoctlOutput> {
        Ok(out)
    }
}

/// Sends Get Log Page (SMART) to the controller behind `fd`; `None` when the
/// ioctl fails or the controller answers with a non-zero status.
#[allow(unsafe_code)]
fn read_smart_log(fd: BorrowedFd<'_>) -> Option<[u8; LOG_LEN]> {
    let mut log = [0u8; LOG_LEN];
    // SAFETY: see the `Ioctl` impl; `log` outlives the call.
    let status = retry(|| unsafe { rustix::ioctl::ioctl(fd, GetSmartLog::new(&mut log)) });
    (status == Ok(0)).then_some(log)
}

/// The SMART log of the NVMe disk whose device node is `node`, if `node`
/// is the block device `devnum` (a node that is not, e.g. replaced by
/// something else, is not sent an ioctl).
pub(crate) fn smart(node: &Path, devnum: (u32, u32)) -> Option<NvmeSmart> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = rustix::fs::open(node, flags, Mode::empty()).ok()?;
    let st = rustix::fs::fstat(&fd).ok()?;
    let rdev = (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
    if FileType::from_raw_mode(st.st_mode) != FileType::BlockDevice || rdev != devnum {
        return None;
    }
    read_smart_log(fd.as_fd()).map(|log| parse(&log))
}

/// Decodes the log page (NVMe base specification, "SMART / Health
/// Information (Log Identifier 02h)"): little-endian throughout, the
/// temperature at the unaligned offset 1, the 128-bit counters from 32 on.
fn parse(log: &[u8; LOG_LEN]) -> NvmeSmart {
    let counter = |i: usize| {
        let at = 32 + 16 * i;
        let mut b = [0u8; 16];
        b.copy_from_slice(&log[at..at + 16]);
        u128::from_le_bytes(b)
    };
    NvmeSmart {
        critical_warning: log[0].into(),
        temperature: u16::from_le_bytes([log[1], log[2]]).into(),
        available_spare: log[3].into(),
        available_spare_threshold: log[4].into(),
        percentage_used: log[5].into(),
        data_units_read: counter(0),
        data_units_written: counter(1),
        host_read_commands: counter(2),
        host_write_commands: counter(3),
        controller_busy_time: counter(4),
        power_cycles: counter(5),
        power_on_hours: counter(6),
        unsafe_shutdowns: counter(7),
        media_errors: counter(8),
        number_of_error_log_entries: counter(9),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testutil::{fd_count_guard, temp_dir};
    use super::*;

    #[test]
    fn passthru_layout_and_opcode_match_linux_nvme_ioctl_h() {
        assert_eq!(core::mem::size_of::<PassthruCmd>(), 72);
        assert_eq!(NVME_IOCTL_ADMIN_CMD, 0xC048_4E41);
    }

    #[test]
    fn get_log_page_command_asks_for_512_bytes_of_log_2_retaining_events() {
        let mut log = [0u8; LOG_LEN];
        let addr = log.as_mut_ptr() as u64;
        let c = GetSmartLog::new(&mut log).cmd;
        assert_eq!((c.opcode, c.nsid, c.addr, c.data_len), (2, !0, addr, 512));
        assert_eq!(c.cdw10, 0x007f_8002, "NUMDL 127, RAE, log id 2");
        assert_eq!((c.cdw11, c.cdw12, c.cdw13, c.timeout_ms), (0, 0, 0, 0));
    }

    #[test]
    fn log_page_fields_decode_little_endian() {
        let mut log = [0u8; LOG_LEN];
        log[..6].copy_from_slice(&[0x05, 0x43, 0x01, 100, 10, 7]);
        log[32] = 0x11; // data units read, low byte
        log[47] = 0x80; // ... and the top byte of its high half
        log[64..66].copy_from_slice(&[0x34, 0x12]); // host read commands
        log[96] = 1; // controller busy time
        log[112] = 2; // power cycles
        log[128] = 3; // power-on hours
        log[144] = 4; // unsafe shutdowns
        log[160] = 5; // media errors
        log[176..184].copy_from_slice(&u64::MAX.to_le_bytes());
        log[191] = 1; // error log entries: 2^120 + 2^64 - 1
        log[200] = 0xee; // beyond the decoded fields
        let want = NvmeSmart {
            critical_warning: 5,
            temperature: 0x0143,
            available_spare: 100,
            available_spare_threshold: 10,
            percentage_used: 7,
            data_units_read: (0x80u128 << 120) | 0x11,
            data_units_written: 0,
            host_read_commands: 0x1234,
            host_write_commands: 0,
            controller_busy_time: 1,
            power_cycles: 2,
            power_on_hours: 3,
            unsafe_shutdowns: 4,
            media_errors: 5,
            number_of_error_log_entries: (1u128 << 120) | u128::from(u64::MAX),
        };
        assert_eq!(parse(&log), want);
    }

    #[test]
    fn only_the_expected_block_device_gets_the_ioctl() {
        let _fds = fd_count_guard();
        let d = temp_dir("nvme");
        std::fs::write(d.join("nvme0n1"), "not a device").unwrap();
        assert_eq!(smart(&d.join("nvme0n1"), (259, 0)), None);
        assert_eq!(smart(&d.join("missing"), (259, 0)), None);
        // /dev/null is a character device: refused before any ioctl.
        assert_eq!(smart(Path::new("/dev/null"), (1, 3)), None);
    }
}
