//! `guest-get-time` / `guest-set-time`.
//!
//! The hardware clock is synchronised by `/sbin/hwclock` as in qemu-ga.
//! Writing the RTC directly (`RTC_SET_TIME`) would need an `ioctl`, which
//! rustix only offers as `unsafe`, so without hwclock `set_time(Some)` fails
//! after the system clock was set, like qemu-ga 9.1+. Reading the RTC needs
//! no ioctl: without hwclock, `set_time(None)` takes the time from
//! `/sys/class/rtc/rtc0/since_epoch` (the kernel's RTC reading, as UTC).

use std::ffi::OsStr;
use std::time::{SystemTime, UNIX_EPOCH};

use qga_core::errno::EINVAL;
use qga_core::platform::{Error, Result};
use rustix::time::{ClockId, Timespec};

use super::helper::{helper, ACTION_TIME};
use super::sys::{is_executable, rx_errno};

/// qemu-ga's hard-coded hwclock path.
const HWCLOCK: &str = "/sbin/hwclock";

/// The action text of qemu-ga's hwclock failures (for `-w` and `-s` alike).
const HWCLOCK_ACTION: &str = "set hardware clock to system time";

/// The kernel's view of the first RTC, in seconds since the epoch.
const RTC_SINCE_EPOCH: &str = "/sys/class/rtc/rtc0/since_epoch";

/// 2070-01-01T00:00:00Z: qemu-ga refuses dates from 2070 on.
const YEAR_2070: i64 = 3_155_760_000;

const NANOS: i64 = 1_000_000_000;

/// `guest-get-time`: CLOCK_REALTIME in ns, cut to microseconds like qemu-ga.
pub(crate) fn get_time() -> i64 {
    let ns = realtime_ns();
    ns - ns.rem_euclid(1000)
}

/// CLOCK_REALTIME in ns since the epoch, read through std (musl's
/// `clock_gettime`, linked anyway; rustix's own vDSO reader is 2 KiB more).
pub(crate) fn realtime_ns() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH);
    match since {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

/// `guest-set-time`.
pub(crate) fn set_time(time_ns: Option<i64>) -> Result<()> {
    match time_ns {
        Some(ns) => {
            set_system_clock(validate(ns)?)?;
            hwclock("-w")
        }
        None if is_executable(HWCLOCK) => hwclock("-s"),
        None => set_system_clock(read_rtc()?),
    }
}

/// Runs `/sbin/hwclock <flag>` (`-w`: system -> RTC, `-s`: RTC -> system).
fn hwclock(flag: &str) -> Result<()> {
    helper(
        &[HWCLOCK, flag].map(OsStr::new),
        None,
        HWCLOCK_ACTION,
        ACTION_TIME,
    )
}

/// qemu-ga's checks: the date must lie in [1970, 2070). Like qemu-ga the
/// seconds are `ns / 1e9` truncated and the microseconds keep their sign
/// (a negative remainder then fails in the kernel with EINVAL). qemu-ga
/// judges the year in local time; we judge it in UTC. On LP64 every `i64`
/// of nanoseconds fits `time_t`, so `Time <ns> is too large` cannot occur.
fn validate(ns: i64) -> Result<Timespec> {
    let secs = ns / NANOS;
    if !(0..YEAR_2070).contains(&secs) {
        return Err(Error::errno(EINVAL, format_args!("Invalid time")));
    }
    Ok(Timespec {
        tv_sec: secs,
        tv_nsec: ns % NANOS / 1000 * 1000,
    })
}

/// Sets CLOCK_REALTIME (what `settimeofday` does).
fn set_system_clock(ts: Timespec) -> Result<()> {
    rustix::time::clock_settime(ClockId::Realtime, ts)
        .map_err(|e| Error::errno(rx_errno(e), format_args!("Failed to set time to guest")))
}

/// The RTC time from sysfs.
fn read_rtc() -> Result<Timespec> {
    let err = |e| Error::errno(e, format_args!("cannot read hardware clock"));
    let text =
        std::fs::read_to_string(RTC_SINCE_EPOCH).map_err(|e| err(super::sys::os_errno(&e)))?;
    let secs = text.trim().parse().map_err(|_| err(EINVAL))?;
    Ok(Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testutil::in_private_mounts;
    use super::*;

    #[test]
    fn get_time_is_now_in_whole_microseconds() {
        let t = get_time();
        assert_eq!(t % 1000, 0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let diff = (now.as_nanos() as i64 - t).abs();
        assert!(diff < 5 * NANOS, "get_time {t} is {diff} ns away from now");
    }

    #[test]
    fn times_before_1970_are_invalid() {
        let e = set_time(Some(-10 * NANOS)).unwrap_err();
        assert_eq!(e.text(), "Invalid time: Invalid argument");
    }

    #[test]
    fn times_from_2070_are_invalid() {
        assert!(set_time(Some(YEAR_2070 * NANOS)).is_err());
        assert!(set_time(Some(i64::MAX)).is_err());
        let e = validate(YEAR_2070 * NANOS).unwrap_err();
        assert_eq!(e.text(), "Invalid time: Invalid argument");
    }

    #[test]
    fn valid_times_split_like_settimeofday() {
        let ts = validate(1_700_000_000_123_456_789).unwrap();
        assert_eq!((ts.tv_sec, ts.tv_nsec), (1_700_000_000, 123_456_000));
        let ts = validate((YEAR_2070 - 1) * NANOS).unwrap();
        assert_eq!(ts.tv_sec, YEAR_2070 - 1);
        // Like qemu-ga: -1 ns truncates to second 0 and passes the year check.
        assert_eq!(validate(-1).unwrap().tv_sec, 0);
    }

    /// The RTC as the kernel shows it in sysfs, in a private mount
    /// namespace where `/sys/class/rtc/rtc0/since_epoch` holds a known
    /// value; so the test runs the same on machines with and without an RTC.
    #[test]
    fn rtc_is_read_from_sysfs() {
        let setup = "mount -t tmpfs none /sys/class
                     mkdir -p /sys/class/rtc/rtc0
                     echo 1234567890 > /sys/class/rtc/rtc0/since_epoch";
        if !in_private_mounts("linux::time::tests::rtc_is_read_from_sysfs", setup) {
            return;
        }
        let ts = read_rtc().unwrap();
        assert_eq!((ts.tv_sec, ts.tv_nsec), (1_234_567_890, 0));
        std::fs::write(RTC_SINCE_EPOCH, "soon\n").unwrap();
        let e = read_rtc().unwrap_err();
        assert_eq!(e.text(), "cannot read hardware clock: Invalid argument");
        std::fs::remove_file(RTC_SINCE_EPOCH).unwrap();
        let e = read_rtc().unwrap_err();
        assert_eq!(
            e.text(),
            "cannot read hardware clock: No such file or directory"
        );
    }
}
