//! `guest-get-time` / `guest-set-time`.
//!
//! The hardware clock is synchronised by `/sbin/hwclock` as in qemu-ga.
//! Writing the RTC directly (`RTC_SET_TIME`) would need an `ioctl`, which
//! rustix only offers as `unsafe`, so without hwclock `set_time(Some)` fails
//! after the system clock was set, like qemu-ga 9.1+. Reading the RTC needs
//! no ioctl: without hwclock, `set_time(None)` takes the time from
//! `/sys/class/rtc/rtc0/since_epoch` (the kernel's RTC reading, as UTC).

use qga_core::errno::EINVAL;
use qga_core::platform::{Error, Result};
use rustix::time::{ClockId, Timespec};

use super::sys::{is_executable, run_helper, rx_errno};

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
    let ts = rustix::time::clock_gettime(ClockId::Realtime);
    ts.tv_sec * NANOS + ts.tv_nsec / 1000 * 1000
}

/// `guest-set-time`.
pub(crate) fn set_time(time_ns: Option<i64>) -> Result<()> {
    match time_ns {
        Some(ns) => {
            set_system_clock(validate(ns)?)?;
            run_helper(&[HWCLOCK, "-w"], HWCLOCK_ACTION)
        }
        None if is_executable(HWCLOCK) => run_helper(&[HWCLOCK, "-s"], HWCLOCK_ACTION),
        None => set_system_clock(read_rtc()?),
    }
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

    #[test]
    fn rtc_reading_is_plausible_when_present() {
        match read_rtc() {
            Ok(ts) => assert!(ts.tv_sec > 1_500_000_000, "rtc says {}", ts.tv_sec),
            Err(e) => {
                assert!(
                    e.text().starts_with("cannot read hardware clock: "),
                    "{}",
                    e.text()
                );
                eprintln!("skipped: no RTC here ({})", e.text());
            }
        }
    }
}
