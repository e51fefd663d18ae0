//! `guest-get-timezone`: the local zone's current abbreviation and UTC
//! offset, as GLib's local time zone yields them: `$TZ` (a zoneinfo name, a
//! file, or a POSIX rule string), else `/etc/localtime`; `UTC`/0 otherwise.
//!
//! TZif files (RFC 8536) are read through their transition table; past the
//! last transition the footer's POSIX rule decides (slim zic output keeps
//! only the footer for current rules).

use qga_core::platform::{Result, Timezone};

/// The system zone file.
const LOCALTIME: &str = "/etc/localtime";
/// Where zone names in `$TZ` are looked up (unless `$TZDIR` says otherwise).
const ZONEINFO: &str = "/usr/share/zoneinfo";

const DAY: i64 = 86_400;

/// `guest-get-timezone` for the zone selected by `tz` (the value of `$TZ`).
pub(crate) fn timezone(
    tz: Option<&str>,
    now: i64,
    out: &mut dyn FnMut(&Timezone<'_>) -> Result<()>,
) -> Result<()> {
    let (zone, offset) = local_zone(tz, now).unwrap_or_else(|| ("UTC".to_string(), 0));
    out(&Timezone {
        zone: Some(&zone),
        offset,
    })
}

/// (abbreviation, seconds east of UTC) at `now`.
fn local_zone(tz: Option<&str>, now: i64) -> Option<(String, i64)> {
    let Some(tz) = tz else {
        return zone_file(LOCALTIME, now);
    };
    let tz = tz.strip_prefix(':').unwrap_or(tz);
    if tz.is_empty() {
        return None;
    }
    if tz.starts_with('/') {
        return zone_file(tz, now);
    }
    let dir = std::env::var("TZDIR").unwrap_or_else(|_| ZONEINFO.to_string());
    let named = (!tz.contains(".."))
        .then(|| zone_file(&format!("{dir}/{tz}"), now))
        .flatten();
    named.or_else(|| {
        Posix::parse(tz)
            .map(|p| p.at(now))
            .map(|(n, o)| (n.to_string(), o))
    })
}

/// The zone in force at `now` according to the TZif file at `path`.
fn zone_file(path: &str, now: i64) -> Option<(String, i64)> {
    tzif_at(&std::fs::read(path).ok()?, now)
}

/// The counts of a TZif header.
#[derive(Clone, Copy, Debug)]
struct Header {
    version: u8,
    isut: usize,
    isstd: usize,
    leap: usize,
    time: usize,
    types: usize,
    chars: usize,
}

/// Size of a TZif header.
const HEADER: usize = 44;

impl Header {
    /// Parses the 44-byte header at the start of `data`.
    fn parse(data: &[u8]) -> Option<Header> {
        if data.len() < HEADER || &data[..4] != b"TZif" {
            return None;
        }
        let count = |i: usize| {
            let at = 20 + 4 * i;
            u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]) as usize
        };
        let (isut, isstd, leap, time, types, chars) =
            (count(0), count(1), count(2), count(3), count(4), count(5));
        Some(Header {
            version: data[4],
            isut,
            isstd,
            leap,
            time,
            types,
            chars,
        })
    }

    /// Length of the data block with `tsize`-byte times (4 in v1, 8 after).
    fn block_len(&self, tsize: usize) -> usize {
        self.time * (tsize + 1)
            + self.types * 6
            + self.chars
            + self.leap * (tsize + 4)
            + self.isstd
            + self.isut
    }
}

/// Evaluates a TZif file at `now`, preferring the 64-bit (v2+) data.
fn tzif_at(data: &[u8], now: i64) -> Option<(String, i64)> {
    let v1 = Header::parse(data)?;
    if v1.version == 0 {
        return block_at(v1, data.get(HEADER..)?, 4, "", now);
    }
    let rest = data.get(HEADER + v1.block_len(4)..)?;
    let v2 = Header::parse(rest)?;
    let block = rest.get(HEADER..)?;
    let footer = block.get(v2.block_len(8)..).unwrap_or_default();
    let footer = std::str::from_utf8(footer).unwrap_or("").trim_matches('\n');
    block_at(v2, block, 8, footer, now)
}

/// The local time type in force at `now` in one data block; after the last
/// transition a non-empty POSIX `footer` rules.
fn block_at(
    h: Header,
    block: &[u8],
    tsize: usize,
    footer: &str,
    now: i64,
) -> Option<(String, i64)> {
    let block = block.get(..h.block_len(tsize))?;
    let time_at = |i: usize| read_time(&block[i * tsize..(i + 1) * tsize]);
    let after_last = h.time == 0 || time_at(h.time - 1) <= now;
    if let (true, Some(posix)) = (after_last, Posix::parse(footer)) {
        let (name, offset) = posix.at(now);
        return Some((name.to_string(), offset));
    }
    let idx = (0..h.time).rev().find(|&i| time_at(i) <= now);
    let ty = idx.map_or(0, |i| usize::from(block[h.time * tsize + i]));
    local_type(&block[h.time * (tsize + 1)..], h, ty)
}

/// A big-endian signed time of 4 or 8 bytes.
fn read_time(b: &[u8]) -> i64 {
    match b.len() {
        4 => i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        _ => i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
    }
}

/// Local time type `ty` (`ttinfo` + abbreviation) from `types_and_chars`.
fn local_type(types_and_chars: &[u8], h: Header, ty: usize) -> Option<(String, i64)> {
    let t = types_and_chars.get(ty * 6..ty * 6 + 6)?;
    let offset = i64::from(i32::from_be_bytes([t[0], t[1], t[2], t[3]]));
    let chars = types_and_chars.get(h.types * 6..h.types * 6 + h.chars)?;
    let name = chars.get(usize::from(t[5])..)?;
    let len = name.iter().position(|&c| c == 0).unwrap_or(name.len());
    Some((String::from_utf8_lossy(&name[..len]).into_owned(), offset))
}

/// A POSIX TZ rule string (`CET-1CEST,M3.5.0,M10.5.0/3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Posix<'a> {
    std: &'a str,
    /// Seconds east of UTC (the string says west).
    std_offset: i64,
    dst: Option<Dst<'a>>,
}

/// The daylight-saving part of a POSIX rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Dst<'a> {
    name: &'a str,
    offset: i64,
    start: Rule,
    end: Rule,
}

/// A transition date and local time of day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rule {
    date: Date,
    time: i64,
}

/// The date forms of a POSIX rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Date {
    /// `Jn`: day 1..=365, February 29 never counted.
    Julian(i64),
    /// `n`: zero-based day of the year, leap days counted.
    Zero(i64),
    /// `Mm.w.d`: weekday `d` of week `w` (5 = last) of month `m`.
    Month(i64, i64, i64),
}

impl<'a> Posix<'a> {
    /// Parses a rule string; `None` if it is not one.
    fn parse(s: &'a str) -> Option<Posix<'a>> {
        let (std, rest) = name(s)?;
        let (west, rest) = offset(rest)?;
        let std_offset = -west;
        if rest.is_empty() {
            return Some(Posix {
                std,
                std_offset,
                dst: None,
            });
        }
        let (dst_name, rest) = name(rest)?;
        let (dst_offset, rest) = match offset(rest) {
            Some((w, r)) => (-w, r),
            None => (std_offset + 3600, rest),
        };
        let (start, end) = rules(rest)?;
        Some(Posix {
            std,
            std_offset,
            dst: Some(Dst {
                name: dst_name,
                offset: dst_offset,
                start,
                end,
            }),
        })
    }

    /// (abbreviation, offset) in force at `now`.
    fn at(&self, now: i64) -> (&'a str, i64) {
        let Some(dst) = self.dst else {
            return (self.std, self.std_offset);
        };
        let year = year_of(now + self.std_offset);
        let start = rule_day(dst.start.date, year) * DAY + dst.start.time - self.std_offset;
        let end = rule_day(dst.end.date, year) * DAY + dst.end.time - dst.offset;
        let in_dst = if start < end {
            (start..end).contains(&now)
        } else {
            !(end..start).contains(&now)
        };
        if in_dst {
            (dst.name, dst.offset)
        } else {
            (self.std, self.std_offset)
        }
    }
}

/// A zone name: `<...>` or at least three letters.
fn name(s: &str) -> Option<(&str, &str)> {
    if let Some(quoted) = s.strip_prefix('<') {
        let end = quoted.find('>')?;
        return Some((&quoted[..end], &quoted[end + 1..]));
    }
    let len = s
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(s.len());
    (len >= 3).then(|| s.split_at(len))
}

/// `[+-]hh[:mm[:ss]]` in seconds.
fn offset(s: &str) -> Option<(i64, &str)> {
    let (sign, s) = match s.as_bytes().first()? {
        b'-' => (-1, &s[1..]),
        b'+' => (1, &s[1..]),
        _ => (1, s),
    };
    let (h, mut rest) = number(s)?;
    let mut secs = h * 3600;
    for unit in [60, 1] {
        match rest.strip_prefix(':').and_then(number) {
            Some((v, r)) => (secs, rest) = (secs + v * unit, r),
            None => break,
        }
    }
    Some((sign * secs, rest))
}

/// A run of decimal digits.
fn number(s: &str) -> Option<(i64, &str)> {
    let len = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    Some((s[..len].parse().ok()?, &s[len..]))
}

/// `,start[/time],end[/time]`, or the US default when absent.
fn rules(s: &str) -> Option<(Rule, Rule)> {
    if s.is_empty() {
        let at2 = |date| Rule { date, time: 7200 };
        return Some((at2(Date::Month(3, 2, 0)), at2(Date::Month(11, 1, 0))));
    }
    let (start, rest) = rule(s.strip_prefix(',')?)?;
    let (end, rest) = rule(rest.strip_prefix(',')?)?;
    rest.is_empty().then_some((start, end))
}

/// One `date[/time]`.
fn rule(s: &str) -> Option<(Rule, &str)> {
    let (date, rest) = if let Some(r) = s.strip_prefix('J') {
        number(r).map(|(n, r)| (Date::Julian(n), r))?
    } else if let Some(r) = s.strip_prefix('M') {
        let (m, r) = number(r)?;
        let (w, r) = number(r.strip_prefix('.')?)?;
        let (d, r) = number(r.strip_prefix('.')?)?;
        (Date::Month(m, w, d), r)
    } else {
        number(s).map(|(n, r)| (Date::Zero(n), r))?
    };
    match rest.strip_prefix('/') {
        Some(t) => offset(t).map(|(time, r)| (Rule { date, time }, r)),
        None => Some((Rule { date, time: 7200 }, rest)),
    }
}

/// Days since the epoch of the rule's date in `year`.
fn rule_day(date: Date, year: i64) -> i64 {
    let jan1 = days_from_civil(year, 1, 1);
    match date {
        Date::Julian(n) => jan1 + n - 1 + i64::from(is_leap(year) && n >= 60),
        Date::Zero(n) => jan1 + n,
        Date::Month(m, w, d) => {
            let first = days_from_civil(year, m, 1);
            let weekday = (first + 4).rem_euclid(7); // 1970-01-01 was a Thursday
            let mut day = first + (d - weekday).rem_euclid(7) + (w - 1) * 7;
            let next_month = if m == 12 {
                days_from_civil(year + 1, 1, 1)
            } else {
                days_from_civil(year, m + 1, 1)
            };
            while day >= next_month {
                day -= 7;
            }
            day
        }
    }
}

/// Gregorian leap year.
fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// The year containing `secs` since the epoch.
fn year_of(secs: i64) -> i64 {
    let days = secs.div_euclid(DAY);
    let mut y = 1970 + days.div_euclid(366);
    while days_from_civil(y + 1, 1, 1) <= days {
        y += 1;
    }
    y
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "tz_tests.rs"]
mod tests;
