//! Unit tests of `tz`: calendar and POSIX rules, TZif files, both checked
//! against glibc and zic where a real tool can say what is right.

use super::super::testutil::temp_dir;
use super::*;

/// 2024-mm-dd hh:00:00 UTC.
fn utc(m: i64, d: i64, h: i64) -> i64 {
    days_from_civil(2024, m, d) * DAY + h * 3600
}

fn zone(tz: &str, now: i64) -> (String, i64) {
    local_zone(Some(tz), now).unwrap()
}

#[test]
fn civil_calendar() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    assert_eq!(year_of(0), 1970);
    assert_eq!(year_of(utc(12, 31, 23)), 2024);
    assert_eq!(year_of(days_from_civil(2025, 1, 1) * DAY), 2025);
    assert_eq!(year_of(-1), 1969);
}

#[test]
fn posix_rule_northern_hemisphere_with_exact_switches() {
    let cet = "CET-1CEST,M3.5.0,M10.5.0/3";
    assert_eq!(zone(cet, utc(1, 15, 12)), ("CET".into(), 3600));
    assert_eq!(zone(cet, utc(7, 1, 0)), ("CEST".into(), 7200));
    // 2024-03-31 01:00 UTC and 2024-10-27 01:00 UTC.
    assert_eq!(zone(cet, utc(3, 31, 1) - 1).1, 3600);
    assert_eq!(zone(cet, utc(3, 31, 1)).1, 7200);
    assert_eq!(zone(cet, utc(10, 27, 1) - 1).1, 7200);
    assert_eq!(zone(cet, utc(10, 27, 1)).1, 3600);
}

#[test]
fn posix_rule_southern_hemisphere_and_defaults() {
    let aus = "AEST-10AEDT,M10.1.0,M4.1.0/3";
    assert_eq!(zone(aus, utc(1, 1, 0)), ("AEDT".into(), 39_600));
    assert_eq!(zone(aus, utc(7, 1, 0)), ("AEST".into(), 36_000));
    assert_eq!(
        Posix::parse("EST5EDT").unwrap().at(utc(7, 1, 0)),
        ("EDT", -14_400)
    );
    assert_eq!(
        Posix::parse("EST5EDT").unwrap().at(utc(1, 1, 0)),
        ("EST", -18_000)
    );
    assert_eq!(
        Posix::parse("<+0330>-3:30").unwrap().at(0),
        ("+0330", 12_600)
    );
    assert_eq!(Posix::parse("X"), None);
    assert_eq!(Posix::parse("CET-1CEST,M3"), None);
}

#[test]
fn julian_and_zero_based_days() {
    assert_eq!(
        rule_day(Date::Julian(60), 2024),
        days_from_civil(2024, 3, 1)
    );
    assert_eq!(rule_day(Date::Zero(59), 2024), days_from_civil(2024, 2, 29));
    assert_eq!(
        rule_day(Date::Month(2, 5, 4), 2024),
        days_from_civil(2024, 2, 29)
    );
}

/// A v2 TZif with transitions at 1000 (-> BBB +1h) and 3000 (-> AAA)
/// and the footer `footer`.
fn tzif(footer: &str) -> Vec<u8> {
    let header = |time: u32, types: u32, chars: u32| {
        let mut h = b"TZif2".to_vec();
        h.extend([0u8; 15]);
        for c in [0, 0, 0, time, types, chars] {
            h.extend(u32::to_be_bytes(c));
        }
        h
    };
    let mut f = header(0, 1, 4);
    f.extend([0, 0, 0, 0, 0, 0]);
    f.extend(b"UTC\0");
    f.extend(header(2, 2, 8));
    f.extend(1000i64.to_be_bytes());
    f.extend(3000i64.to_be_bytes());
    f.extend([1, 0]);
    f.extend([0, 0, 0, 0, 0, 0, 0, 0, 0x0e, 0x10, 0, 4]);
    f.extend(b"AAA\0BBB\0");
    f.extend(format!("\n{footer}\n").bytes());
    f
}

#[test]
fn tzif_transitions_then_footer() {
    let data = tzif("CCC-2");
    assert_eq!(tzif_at(&data, 500), Some(("AAA".into(), 0)));
    assert_eq!(tzif_at(&data, 1000), Some(("BBB".into(), 3600)));
    assert_eq!(tzif_at(&data, 2999), Some(("BBB".into(), 3600)));
    assert_eq!(tzif_at(&data, 3000), Some(("CCC".into(), 7200)));
    assert_eq!(tzif_at(&tzif(""), 5000), Some(("AAA".into(), 0)));
    assert_eq!(tzif_at(&data[..50], 0), None);
}

#[test]
fn tz_variable_forms() {
    let dir = temp_dir("tz");
    let file = dir.join("zone");
    std::fs::write(&file, tzif("CCC-2")).unwrap();
    let path = file.display().to_string();
    assert_eq!(zone(&path, 2000), ("BBB".into(), 3600));
    assert_eq!(zone(&format!(":{path}"), 2000), ("BBB".into(), 3600));
    assert_eq!(local_zone(Some(""), 0), None);
    assert_eq!(local_zone(Some("Not/A/Zone/.."), 0), None);
    let mut got = (String::new(), -1);
    timezone(Some("garbage!"), 0, &mut |t| {
        got = (t.zone.unwrap_or("").to_string(), t.offset);
        Ok(())
    })
    .unwrap();
    assert_eq!(got, ("UTC".into(), 0));
}

/// Zones written by the system's `zic` (a real TZif writer, not this
/// parser's idea of the format): northern and southern rules, a
/// half-hour offset, a numeric abbreviation and offset changes that no
/// footer can predict.
const ZONE_SOURCE: &str = "\
Rule EU 1981 max - Mar lastSun 1:00u 1:00 S
Rule EU 1981 max - Oct lastSun 1:00u 0 -
Zone Test/Berlin 0:53:28 - LMT 1893 Apr
                 1:00 EU CE%sT
Rule AN 2008 max - Apr Sun>=1 2:00s 0 S
Rule AN 2008 max - Oct Sun>=1 2:00s 1:00 D
Zone Test/Sydney 10:00 AN AE%sT
Zone Test/Kolkata 5:30 - IST
Zone Test/Moscow 3:00 - MSK 2011 Mar 27 2:00s
                 4:00 - MSK 2014 Oct 26 2:00s
                 3:00 - MSK
Zone Test/Half -3:30 - -0330
";
const TEST_ZONES: [&str; 5] = ["Berlin", "Sydney", "Kolkata", "Moscow", "Half"];

/// `zic -b <bloat>` output for [`ZONE_SOURCE`] (`slim` keeps only what
/// the footer cannot derive; `fat` the whole transition table), with
/// leap-second records when `leap`.
fn zic(bloat: &str, leap: bool) -> std::path::PathBuf {
    let dir = temp_dir(&format!("zic-{bloat}"));
    std::fs::write(dir.join("zones"), ZONE_SOURCE).unwrap();
    std::fs::write(dir.join("leaps"), LEAP_SOURCE).unwrap();
    let mut zic = std::process::Command::new("zic");
    zic.args(["-b", bloat, "-d"]).arg(&dir);
    if leap {
        zic.arg("-L").arg(dir.join("leaps"));
    }
    let ok = zic
        .arg(dir.join("zones"))
        .status()
        .expect("zic (Debian libc-bin)");
    assert!(ok.success(), "zic -b {bloat}");
    dir.join("Test")
}

/// Two leap seconds, in zic's leap-second file format.
const LEAP_SOURCE: &str = "Leap 2012 Jun 30 23:59:60 + S\nLeap 2016 Dec 31 23:59:60 + S\n";

/// Instants around 2024's switches, then every 9 days from 1960 to 2100.
fn instants() -> Vec<i64> {
    let mut v = Vec::new();
    for switch in [utc(3, 31, 1), utc(10, 27, 1), utc(4, 6, 16), utc(10, 5, 16)] {
        v.extend([switch - 1, switch, switch + 1]);
    }
    let (start, end) = (days_from_civil(1960, 1, 1), days_from_civil(2100, 1, 1));
    v.extend((start..end).step_by(9).map(|d| d * DAY + 11 * 3600));
    v
}

/// What glibc's `date` (its own TZif reader and rule evaluator) says
/// for `TZ=tz` at each instant: `(abbreviation, seconds east)`.
fn glibc_zone(tz: impl AsRef<std::ffi::OsStr>, at: &[i64]) -> Vec<(String, i64)> {
    use std::io::Write;
    let mut child = std::process::Command::new("date")
        .args(["-f", "-", "+%Z %z"])
        .env("TZ", tz)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("date (coreutils)");
    let input: String = at.iter().map(|t| format!("@{t}\n")).collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let parse = |l: &str| {
        let (name, off) = l.rsplit_once(' ').unwrap();
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (h, m): (i64, i64) = (off[1..3].parse().unwrap(), off[3..5].parse().unwrap());
        (name.to_string(), sign * (h * 3600 + m * 60))
    };
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(parse)
        .collect()
}

#[test]
fn zic_output_agrees_with_glibc() {
    let at = instants();
    for bloat in ["slim", "fat"] {
        let dir = zic(bloat, false);
        for name in TEST_ZONES {
            let file = dir.join(name);
            let ours: Vec<(String, i64)> = at
                .iter()
                .map(|&t| zone(&file.display().to_string(), t))
                .collect();
            let glibc = glibc_zone(&file, &at);
            assert_eq!(glibc.len(), at.len(), "{bloat} {name}");
            for ((t, o), g) in at.iter().zip(&ours).zip(&glibc) {
                assert_eq!(o, g, "{bloat} {name} at {t}");
            }
        }
    }
}

/// Leap-second records change where every later block starts, not what
/// the zone says (away from the switches, which move by the leap
/// seconds): the same answers as without them.
#[test]
fn leap_second_records_are_skipped() {
    let at: Vec<i64> = instants().into_iter().skip(12).collect();
    for bloat in ["slim", "fat"] {
        let (plain, leap) = (zic(bloat, false), zic(bloat, true));
        for name in TEST_ZONES {
            let read = |dir: &std::path::Path| std::fs::read(dir.join(name)).unwrap();
            let (a, b) = (read(&plain), read(&leap));
            assert_ne!(a, b, "{bloat} {name}: zic wrote no leap records");
            for &t in &at {
                assert_eq!(tzif_at(&a, t), tzif_at(&b, t), "{bloat} {name} at {t}");
            }
        }
    }
}

/// A version-1 file (32-bit times only): zic's fat output cut before
/// its second header and marked version 0, as old writers produced.
#[test]
fn version_1_files_use_their_32_bit_table() {
    let dir = zic("fat", false);
    let at: Vec<i64> = instants()
        .into_iter()
        .filter(|&t| i32::try_from(t).is_ok())
        .collect();
    for name in TEST_ZONES {
        let mut data = std::fs::read(dir.join(name)).unwrap();
        let second = data.windows(4).rposition(|w| w == b"TZif").unwrap();
        data.truncate(second);
        data[4] = 0;
        let v1 = dir.join(format!("{name}.v1"));
        std::fs::write(&v1, &data).unwrap();
        let ours: Vec<(String, i64)> = at.iter().map(|&t| tzif_at(&data, t).unwrap()).collect();
        assert_eq!(ours, glibc_zone(&v1, &at), "{name}");
    }
}

/// RFC 8536 3.1: magic, version, 15 unused bytes, six big-endian
/// 32-bit counts (isut, isstd, leap, time, type, char).
#[test]
fn header_counts_are_six_big_endian_words() {
    let mut h = b"TZif3".to_vec();
    h.extend([0u8; 15]);
    for c in [
        0x0102_0304u32,
        0x0506_0708,
        9,
        0x0a0b_0c0d,
        0x0e0f,
        0x10_0000,
    ] {
        h.extend(c.to_be_bytes());
    }
    let p = Header::parse(&h).unwrap();
    assert_eq!(
        (p.version, p.isut, p.isstd, p.leap, p.time, p.types, p.chars),
        (
            b'3',
            0x0102_0304,
            0x0506_0708,
            9,
            0x0a0b_0c0d,
            0x0e0f,
            0x10_0000
        )
    );
    assert!(Header::parse(&h[..43]).is_none(), "short");
    assert!(Header::parse(&h[..5]).is_none(), "short, magic fine");
    h[3] = b'F';
    assert!(Header::parse(&h).is_none(), "bad magic");
}

/// POSIX rule strings as glibc evaluates them: every date form, explicit
/// and implied DST offsets, signs, negative and late switch times,
/// switches in December and early January, both hemispheres. (None
/// switches across the UTC turn of the year: there glibc takes the
/// rules of the UTC year, see the next test.)
const POSIX_RULES: &[&str] = &[
    "CET-1CEST,M3.5.0,M10.5.0/3",
    "AEST-10AEDT,M10.1.0,M4.1.0/3",
    "QQQ+5RRR4,M3.2.0/2,M12.5.0/-1",
    "<-03>3<-02>,M3.5.0/-2,M10.5.0/-1",
    "JJJ-2KKK,J60/2,J300/2",
    "LLL3MMM,J30,J365/20",
    "NNN-9OOO-10:30,59/1:30,300",
    "PPP-12SSS,J2/5,M12.3.6/26",
    "IST-1GMT0,M10.5.0,M3.5.0/1",
    "UUU0",
    "<+0530>-5:30",
];

/// Instants every 9 days plus hourly around the turn of the year and
/// daily through the leap years around 2000 and 2100.
fn rule_instants() -> Vec<i64> {
    let mut v = instants();
    for y in [1999, 2000, 2024, 2099, 2100] {
        let jan1 = days_from_civil(y, 1, 1) * DAY;
        v.extend((-48..48).map(|h| jan1 + h * 3600));
    }
    for (from, to) in [(1996, 2005), (2099, 2101)] {
        let days = days_from_civil(from, 1, 1)..days_from_civil(to, 1, 1);
        v.extend(days.map(|d| d * DAY + 11 * 3600));
    }
    v
}

/// A year's rules hold until its last switch in local time, also when
/// that falls in the next UTC year (glibc: the UTC year's rules; GLib
/// builds each year's switches in local time, as here).
#[test]
fn posix_rules_at_the_turn_of_the_year() {
    // DST of 1998 ends Dec 31 23:00 local (UTC-2), 1999-01-01 01:00 UTC.
    let west = Posix::parse("LLL3MMM,J30,J365/23").unwrap();
    let jan1 = days_from_civil(1999, 1, 1) * DAY;
    assert_eq!(west.at(jan1), ("MMM", -7200));
    assert_eq!(west.at(jan1 + 3599), ("MMM", -7200));
    assert_eq!(west.at(jan1 + 3600), ("LLL", -10800));
    // DST of 1999 starts Jan 1 05:00 local (UTC+12), 1998-12-31 17:00 UTC.
    let east = Posix::parse("PPP-12SSS,J1/5,M12.3.6/26").unwrap();
    let start = jan1 - 7 * 3600;
    assert_eq!(east.at(start - 1), ("PPP", 43_200));
    assert_eq!(east.at(start), ("SSS", 46_800));
}

/// From 1970 on: glibc evaluates rules only from its epoch year (it
/// says CET for 1960-03-31 under the CET rule; the rule, and we, CEST).
#[test]
fn posix_rules_agree_with_glibc() {
    let cet = Posix::parse("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
    assert_eq!(cet.at(days_from_civil(1960, 3, 31) * DAY), ("CEST", 7200));
    let at: Vec<i64> = rule_instants().into_iter().filter(|&t| t >= 0).collect();
    for rule in POSIX_RULES {
        let p = Posix::parse(rule).expect(rule);
        let ours: Vec<(String, i64)> = at
            .iter()
            .map(|&t| p.at(t))
            .map(|(n, o)| (n.to_string(), o))
            .collect();
        let glibc = glibc_zone(rule, &at);
        for ((t, o), g) in at.iter().zip(&ours).zip(&glibc) {
            assert_eq!(o, g, "{rule} at {t}");
        }
        assert_eq!(ours.len(), glibc.len(), "{rule}");
    }
}

#[test]
fn localtime_is_readable() {
    let z = local_zone(None, utc(1, 1, 0));
    assert_eq!(z.is_some(), std::path::Path::new(LOCALTIME).exists());
}
