//! Property: any split of the same byte stream gives byte-identical output.
//! Streams are random sequences of real requests, broken requests, stray
//! bytes, 0xFF resyncs and streamed payloads; splits fall anywhere,
//! including inside strings, escapes and around 0xFF.

mod common;
use common::{agent, replies};
use proptest::prelude::*;

fn big_write() -> Vec<u8> {
    let b64 = "QUJD".repeat(300); // 900 bytes of data, larger than the 512-byte buffer
    format!(r#"{{"execute":"guest-file-write","arguments":{{"handle":1,"buf-b64":"{b64}"}}}}"#)
        .into_bytes()
}

fn pieces() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        &br#"{"execute":"guest-ping"}"#[..],
        b"{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":42}}\n",
        br#"{"execute":"guest-file-open","arguments":{"path":"/dev/zero","mode":"r+"}}"#,
        br#"{"execute":"guest-file-open","arguments":{"path":"/a\u00e9","mode":"w+"}}"#,
        br#"{"execute":"guest-file-write","arguments":{"handle":1000,"buf-b64":"aGVs\nbG8=","count":3}}"#,
        br#"{"execute":"guest-file-read","arguments":{"handle":1,"count":1000}}"#,
        br#"{"execute":"guest-info","id":{"k":[1,2.5e3,"s\"q"]}}"#,
        b"{'execute':'guest-sync','arguments':{'id':-1}}",
        br#"{"execute":"guest-exec","arguments":{"path":"cat","input-data":"aGk=","capture-output":"merged"}}"#,
        br#"{"execute":"guest-exec-status","arguments":{"pid":100}}"#,
        b"\xff",
        b"\x01garbage",
        b"\xfe",
        b"{\"execute\":\"guest-sy",
        b"}",
        b"[1, 2 3]",
        b"  \r\n\t",
        b"123 ",
        b"tru ",
        br#"{"execute":"\u0067uest-ping"}"#,
        br#"{"execute":"guest-ping","arguments":{"x":"\ud83d\ude00"}}"#,
    ]
    .iter()
    .map(|p| p.to_vec())
    .collect();
    v.push(big_write());
    v.push([&b"["[..]; 80].concat());
    v
}

fn whole(stream: &[u8]) -> String {
    replies(&mut agent(), stream)
}

/// A channel that takes at most `short[i]` bytes per write and answers
/// `Interrupted` (embedded-io's retryable error; its traits have no
/// WouldBlock) whenever `short[i]` is 0.
struct Choppy {
    out: Vec<u8>,
    short: Vec<usize>,
    at: usize,
}

impl embedded_io::ErrorType for Choppy {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io::Write for Choppy {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let n = self.short[self.at % self.short.len()];
        self.at += 1;
        if n == 0 {
            return Err(embedded_io::ErrorKind::Interrupted);
        }
        let n = n.min(buf.len());
        self.out.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Feeds `stream` cut at `cuts` (positions inside it) into a choppy channel.
fn split(stream: &[u8], cuts: &[usize], short: Vec<usize>) -> String {
    let mut a = agent();
    let mut ch = Choppy {
        out: Vec::new(),
        short,
        at: 0,
    };
    let mut at = 0;
    for &c in cuts.iter().chain([stream.len()].iter()) {
        let c = c.clamp(at, stream.len());
        assert_eq!(
            a.feed(&stream[at..c], &mut ch),
            Ok(()),
            "Interrupted is retried"
        );
        at = c;
    }
    String::from_utf8_lossy(&ch.out).into_owned()
}

fn stream_of(picks: &[usize]) -> Vec<u8> {
    let all = pieces();
    picks
        .iter()
        .flat_map(|&i| all[i % all.len()].clone())
        .collect()
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // proptest cannot find lib.rs for an integration test: say where.
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(
                "tests/split.proptest-regressions",
            ),
        )),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(400))]
    #[test]
    fn any_split_gives_the_same_output(
        picks in prop::collection::vec(0usize..23, 1..12),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
        short in prop::collection::vec(0usize..64, 1..8),
    ) {
        let stream = stream_of(&picks);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(stream.len())).collect();
        cuts.sort_unstable();
        let mut short = short;
        short.push(1); // never only `Interrupted`
        prop_assert_eq!(whole(&stream), split(&stream, &cuts, short));
    }

    #[test]
    fn one_byte_at_a_time_is_the_same(picks in prop::collection::vec(0usize..23, 1..8)) {
        let stream = stream_of(&picks);
        let cuts: Vec<usize> = (1..stream.len()).collect();
        prop_assert_eq!(whole(&stream), split(&stream, &cuts, vec![7, 0, 1]));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_reply_in_lines(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let out = whole(&bytes);
        for line in out.split_terminator('\n') {
            let line = line.trim_start_matches('\u{FFFD}');
            let v: serde_json::Value = serde_json::from_str(line).expect("every reply line is JSON");
            let first = line.get(2..8).unwrap_or("");
            prop_assert!(first == "return" || first == "error\"", "{}", line);
            prop_assert!(v.is_object());
        }
    }
}
