//! Side-by-side benchmark: our `qga` against QEMU's reference `qemu-ga`.
//!
//! ```text
//! cargo bench -p qga --bench versus -- [--quick]
//! ```
//!
//! Both agents run as `AGENT -m unix-listen -p SOCK -t STATEDIR`, each in its
//! own temporary state directory, and are driven by the *same* client code:
//! a plain [`UnixStream`], requests written as JSON text, replies read one
//! line at a time and parsed with `serde_json`. Rounds alternate the agents
//! (A B A B ...); every figure in the table is the median over the rounds
//! (start-up time: the median over all starts). Nothing is asserted: this is
//! a benchmark, not a test.
//!
//! Binaries: ours is `QGA_BIN`, or else built here with
//! `cargo build --release -p qga --target x86_64-unknown-linux-musl`;
//! qemu-ga is `QEMU_GA_BIN`, or else `/usr/sbin/qemu-ga`. Without qemu-ga
//! only ours is measured.
//!
//! # Contents (in file order)
//!
//! 1. [`main`], [`Plan`]: options, sizes, the A B A B round loop.
//! 2. [`metrics`]: what is measured ([`metrics::M`]), samples, medians, the table.
//! 3. [`machine`]: the machine facts printed at the top.
//! 4. [`binaries`]: finding/building the agents; stripped size with libraries.
//! 5. [`agent`]: one agent process in a temp dir; `/proc` readings; start-up time.
//! 6. [`client`]: the line-based JSON client shared by both agents.
//! 7. [`workloads`]: one function per measurement, each documented.

#[path = "../tests/common/mod.rs"]
mod common;

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use agent::Agent;
use metrics::{Figures, M};
use workloads::Payloads;

/// Every fallible step returns this; the message names what failed.
type Res<T> = Result<T, Box<dyn Error>>;

/// One MiB.
const MIB: usize = 1 << 20;

/// How much work one run does (full or `--quick`).
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Quick mode (`--quick`).
    quick: bool,
    /// Rounds per agent (A B A B ...).
    rounds: usize,
    /// Sequential `guest-ping` round trips per round.
    pings: usize,
    /// Requests in the pipelined burst.
    pipelined: usize,
    /// Size of the file written and read back.
    file_bytes: usize,
    /// `guest-exec` runs per round.
    exec_runs: usize,
    /// Fresh starts per round for the start-up time.
    starts: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        Plan {
            quick,
            rounds: if quick { 2 } else { 3 },
            pings: if quick { 2_000 } else { 20_000 },
            pipelined: 10_000,
            file_bytes: if quick { 16 * MIB } else { 256 * MIB },
            exec_runs: if quick { 50 } else { 300 },
            starts: if quick { 2 } else { 4 },
        }
    }
}

/// One agent under test.
struct Side {
    name: &'static str,
    bin: PathBuf,
    figures: Figures,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("versus: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Res<()> {
    let began = Instant::now();
    // `cargo bench` appends `--bench`; everything but `--quick` is ignored.
    let plan = Plan::new(std::env::args().any(|a| a == "--quick"));
    let mut sides = vec![side("qga", binaries::ours()?)];
    match binaries::qemu_ga() {
        Some(bin) => sides.push(side("qemu-ga", bin)),
        None => println!(
            "NOTE: qemu-ga not found (set QEMU_GA_BIN or install the Debian package \
             qemu-guest-agent); measuring qga only.\n"
        ),
    }
    machine::print_facts(&plan, &sides);
    let payloads = Payloads::new();
    for side in &mut sides {
        binaries::measure_size(&side.bin, &mut side.figures)?;
    }
    for round in 1..=plan.rounds {
        for side in &mut sides {
            let t = Instant::now();
            run_round(&side.bin, &plan, &payloads, &mut side.figures)?;
            eprintln!(
                "round {round}/{}: {} done in {:.1} s",
                plan.rounds,
                side.name,
                t.elapsed().as_secs_f64()
            );
        }
    }
    let theirs = sides.get(1).map(|s| &s.figures);
    metrics::print_table(&sides[0].figures, theirs);
    println!("\ntotal run time: {:.0} s", began.elapsed().as_secs_f64());
    Ok(())
}

fn side(name: &'static str, bin: PathBuf) -> Side {
    Side {
        name,
        bin,
        figures: Figures::default(),
    }
}

/// One round for one agent: the start-ups, the 64 MiB write on a fresh
/// process, then every other workload on one long-lived process.
fn run_round(bin: &Path, plan: &Plan, p: &Payloads, fig: &mut Figures) -> Res<()> {
    for _ in 0..plan.starts {
        let (_agent, _client, startup) = Agent::start(bin)?;
        fig.push(M::Startup, startup.as_secs_f64() * 1e3);
    }
    fig.push(M::PeakRssBigWrite, workloads::big_write_peak(bin, p)?);
    let (agent, mut client, _) = Agent::start(bin)?;
    workloads::suite(&agent, &mut client, plan, p, fig)
}

// ---------------------------------------------------------------------------

/// What is measured, the samples, and the final table.
mod metrics {
    use Better::{Higher, Lower};

    /// Which way is better for a metric.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Better {
        Lower,
        Higher,
    }

    /// Every figure in the table.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub enum M {
        PingMedian,
        PingP99,
        Pipelined,
        WriteBig,
        WriteBigCpu,
        ReadBig,
        ReadBigCpu,
        WriteSmall,
        WriteSmallCpu,
        ReadSmall,
        ReadSmallCpu,
        Exec,
        ExecPolls,
        PeakRss,
        IdleRss,
        PeakRssBigWrite,
        Size,
        Startup,
    }

    /// The table rows, in order: metric, label, unit, which way is better.
    #[rustfmt::skip] // one row per line reads better than rustfmt's 4 lines each
    const ROWS: [(M, &str, &str, Better); 18] = [
        (M::PingMedian,        "guest-ping round trip, median",    "us",    Lower),
        (M::PingP99,           "guest-ping round trip, p99",       "us",    Lower),
        (M::Pipelined,         "guest-ping pipelined (10k burst)", "req/s", Higher),
        (M::WriteBig,          "guest-file-write, 4 MiB chunks",   "MiB/s", Higher),
        (M::WriteBigCpu,       "  agent CPU for it",               "s",     Lower),
        (M::ReadBig,           "guest-file-read, count 4 MiB",     "MiB/s", Higher),
        (M::ReadBigCpu,        "  agent CPU for it",               "s",     Lower),
        (M::WriteSmall,        "guest-file-write, 4 KiB chunks",   "MiB/s", Higher),
        (M::WriteSmallCpu,     "  agent CPU for it",               "s",     Lower),
        (M::ReadSmall,         "guest-file-read, default count",   "MiB/s", Higher),
        (M::ReadSmallCpu,      "  agent CPU for it",               "s",     Lower),
        (M::Exec,              "guest-exec /bin/true + status",    "runs/s", Higher),
        (M::ExecPolls,         "  exec-status polls per run",      "polls", Lower),
        (M::PeakRss,           "peak RSS during the run (VmHWM)",  "MiB",   Lower),
        (M::IdleRss,           "RSS at idle (start + 1 ping)",     "MiB",   Lower),
        (M::PeakRssBigWrite,   "peak RSS, one 64 MiB file-write",  "MiB",   Lower),
        (M::Size,              "stripped size incl. shared libs",  "MiB",   Lower),
        (M::Startup,           "exec to first sync-delimited",     "ms",    Lower),
    ];

    /// All samples of one agent, per metric.
    #[derive(Default)]
    pub struct Figures {
        samples: Vec<(M, f64)>,
    }

    impl Figures {
        pub fn push(&mut self, m: M, v: f64) {
            self.samples.push((m, v));
        }

        /// The median of `m`'s samples (one per round, or one per start).
        pub fn median(&self, m: M) -> Option<f64> {
            let v: Vec<f64> = self
                .samples
                .iter()
                .filter(|s| s.0 == m)
                .map(|s| s.1)
                .collect();
            median(v)
        }
    }

    /// The median (mean of the middle two for an even count).
    pub fn median(mut v: Vec<f64>) -> Option<f64> {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(v[n / 2]),
            _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
        }
    }

    /// Nearest-rank percentile of an already sorted slice.
    pub fn percentile(sorted: &[f64], pct: f64) -> f64 {
        let rank = (pct / 100.0 * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    /// The table: both figures and how many times ours is ahead (> 1.00x:
    /// qga is better, whichever direction "better" is for the metric).
    pub fn print_table(ours: &Figures, theirs: Option<&Figures>) {
        println!(
            "\n{:<36} {:>6} {:>12} {:>12} {:>10}",
            "metric", "unit", "qga", "qemu-ga", "qga ahead"
        );
        println!("{}", "-".repeat(80));
        for (m, label, unit, better) in ROWS {
            let a = ours.median(m);
            let b = theirs.and_then(|t| t.median(m));
            let ratio = match (a, b, better) {
                (Some(a), Some(b), Better::Higher) if b > 0.0 => format!("{:.2}x", a / b),
                (Some(a), Some(b), Better::Lower) if a > 0.0 => format!("{:.2}x", b / a),
                _ => "-".into(),
            };
            println!(
                "{label:<36} {unit:>6} {:>12} {:>12} {ratio:>10}",
                fmt(a),
                fmt(b)
            );
        }
    }

    fn fmt(v: Option<f64>) -> String {
        match v {
            None => "-".into(),
            Some(v) if v.abs() >= 1000.0 => format!("{v:.0}"),
            Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
            Some(v) => format!("{v:.3}"),
        }
    }
}

// ---------------------------------------------------------------------------

/// The machine facts printed above the table.
mod machine {
    use super::{Plan, Side};

    pub fn print_facts(plan: &Plan, sides: &[Side]) {
        let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
        println!("machine: {nproc} CPUs, {}", cpu_model());
        println!("kernel:  Linux {}", read_trim("/proc/sys/kernel/osrelease"));
        println!("load:    {} (1/5/15 min, at start)", load_average());
        for s in sides {
            println!(
                "agent:   {} = {} ({})",
                s.name,
                s.bin.display(),
                version(&s.bin)
            );
        }
        println!(
            "mode:    {} ({} rounds per agent, alternating; {} pings, {} MiB file)\n",
            if plan.quick { "--quick" } else { "full" },
            plan.rounds,
            plan.pings,
            plan.file_bytes / super::MIB
        );
    }

    fn read_trim(path: &str) -> String {
        std::fs::read_to_string(path).map_or_else(|_| "?".into(), |s| s.trim().to_string())
    }

    fn cpu_model() -> String {
        let info = read_trim("/proc/cpuinfo");
        info.lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown CPU".into(), |(_, m)| m.trim().to_string())
    }

    fn load_average() -> String {
        let l = read_trim("/proc/loadavg");
        l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    }

    /// First line of `BIN -V` (both agents print `QEMU Guest Agent <ver>`).
    fn version(bin: &std::path::Path) -> String {
        std::process::Command::new(bin)
            .arg("-V")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.lines().next().map(str::to_string))
            .unwrap_or_else(|| "version unknown".into())
    }
}

// ---------------------------------------------------------------------------

/// Finding or building the two agents, and their on-disk size.
mod binaries {
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};

    use super::common::TempDir;
    use super::metrics::{Figures, M};
    use super::{Res, MIB};

    /// The static target our agent ships for.
    const MUSL: &str = "x86_64-unknown-linux-musl";
    /// Where Debian's `qemu-guest-agent` installs the reference agent.
    const QEMU_GA: &str = "/usr/sbin/qemu-ga";

    /// `QGA_BIN`, or the release musl build (built now; cargo prints progress).
    pub fn ours() -> Res<PathBuf> {
        if let Some(bin) = std::env::var_os("QGA_BIN") {
            return Ok(bin.into());
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .ok_or("no workspace root")?;
        let out = Command::new(cargo)
            .current_dir(root)
            .args(["build", "--release", "-p", "qga", "--target", MUSL])
            .arg("--message-format=json-render-diagnostics")
            .stderr(Stdio::inherit())
            .output()?;
        if !out.status.success() {
            return Err(format!("cargo build of qga for {MUSL} failed").into());
        }
        built_executable(&out.stdout).ok_or_else(|| "cargo reported no qga executable".into())
    }

    /// The `executable` of the last `compiler-artifact` message for `qga`
    /// (this works whatever the target directory is).
    fn built_executable(messages: &[u8]) -> Option<PathBuf> {
        let text = String::from_utf8_lossy(messages);
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "qga")
            .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
            .next_back()
    }

    /// `QEMU_GA_BIN`, or `/usr/sbin/qemu-ga` if it exists.
    pub fn qemu_ga() -> Option<PathBuf> {
        let bin =
            std::env::var_os("QEMU_GA_BIN").map_or_else(|| PathBuf::from(QEMU_GA), Into::into);
        bin.exists().then_some(bin)
    }

    /// **Size**: the binary plus every shared library `ldd` lists (none for
    /// our static binary), each copied to a temp dir and `strip`ped there;
    /// if `strip` fails, the unstripped size counts and a note says so.
    pub fn measure_size(bin: &Path, fig: &mut Figures) -> Res<()> {
        let dir = TempDir::new("versus-size");
        let mut total = 0u64;
        for (i, file) in std::iter::once(bin.to_path_buf())
            .chain(shared_libs(bin))
            .enumerate()
        {
            let copy = dir.path().join(format!("f{i}"));
            std::fs::copy(&file, &copy)?; // follows symlinks: the real library
            let stripped = Command::new("strip").arg(&copy).status();
            if !stripped.is_ok_and(|s| s.success()) {
                println!(
                    "NOTE: strip failed on {}: unstripped size counted",
                    file.display()
                );
            }
            total += std::fs::metadata(&copy)?.len();
        }
        fig.push(M::Size, total as f64 / MIB as f64);
        Ok(())
    }

    /// Paths from `ldd` (`name => /path (addr)` or `/path (addr)`); empty for
    /// a static binary (`not a dynamic executable`) or without `ldd`.
    fn shared_libs(bin: &Path) -> Vec<PathBuf> {
        let Ok(out) = Command::new("ldd").arg(bin).output() else {
            return Vec::new();
        };
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let l = l.split_once("=>").map_or(l, |(_, path)| path).trim();
                let path = l.split(" (").next().unwrap_or("").trim();
                path.starts_with('/').then(|| PathBuf::from(path))
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------

/// One agent process, its temp state dir, and what `/proc` says about it.
mod agent {
    use std::fs::File;
    use std::os::unix::net::UnixStream;
    use std::path::Path;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use super::client::Client;
    use super::common::TempDir;
    use super::Res;

    /// How long a start may take before it counts as failed.
    const START_TIMEOUT: Duration = Duration::from_secs(10);
    /// Pause between connection attempts while the agent starts.
    const CONNECT_RETRY: Duration = Duration::from_micros(50);

    /// A running agent (`-m unix-listen -p DIR/sock -t DIR`), killed on drop.
    pub struct Agent {
        child: Child,
        dir: TempDir,
    }

    impl Agent {
        /// **Start-up time**: from just before the exec to the first
        /// `guest-sync-delimited` reply, connecting in a retry loop (every
        /// 50 us) until the socket accepts. Returns the agent, the connected
        /// client (already synchronised) and that time.
        pub fn start(bin: &Path) -> Res<(Agent, Client, Duration)> {
            let dir = TempDir::new("versus-agent");
            let sock = dir.path().join("sock");
            let log = File::create(dir.path().join("agent.log"))?;
            let t0 = Instant::now();
            let child = Command::new(bin)
                .args(["-m", "unix-listen", "-p"])
                .arg(&sock)
                .arg("-t")
                .arg(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()?;
            let mut agent = Agent { child, dir };
            let mut client = Client::new(agent.connect(&sock, t0)?)?;
            client.sync(1)?;
            Ok((agent, client, t0.elapsed()))
        }

        fn connect(&mut self, sock: &Path, t0: Instant) -> Res<UnixStream> {
            loop {
                if let Ok(s) = UnixStream::connect(sock) {
                    return Ok(s);
                }
                if self.child.try_wait()?.is_some() || t0.elapsed() > START_TIMEOUT {
                    let log = std::fs::read_to_string(self.dir.path().join("agent.log"));
                    return Err(format!("agent did not start: {}", log.unwrap_or_default()).into());
                }
                std::thread::sleep(CONNECT_RETRY);
            }
        }

        /// The agent's state dir (also where the benchmark's files go).
        pub fn dir(&self) -> &Path {
            self.dir.path()
        }

        /// A `/proc/<pid>/status` size field (`VmRSS`, `VmHWM`) in MiB.
        pub fn status_mib(&self, field: &str) -> Res<f64> {
            let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
            let kib: f64 = status
                .lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .ok_or_else(|| format!("no {field} in /proc status"))?;
            Ok(kib / 1024.0)
        }

        /// User + system CPU seconds so far, all threads (`/proc/<pid>/stat`
        /// fields 14 and 15, in clock ticks).
        pub fn cpu_seconds(&self) -> Res<f64> {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
            // Fields after the parenthesised command name start at field 3.
            let rest = stat.rsplit_once(')').ok_or("bad /proc stat")?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks: u64 = f[11].parse::<u64>()? + f[12].parse::<u64>()?;
            Ok(ticks as f64 / clock_ticks())
        }
    }

    impl Drop for Agent {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// `sysconf(_SC_CLK_TCK)` via `getconf` (100 on every Linux port we run).
    fn clock_ticks() -> f64 {
        static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
        *TICKS.get_or_init(|| {
            Command::new("getconf")
                .arg("CLK_TCK")
                .output()
                .ok()
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(100.0)
        })
    }
}

// ---------------------------------------------------------------------------

/// The client both agents are driven with: requests are written as given,
/// replies are read one `\n`-terminated line at a time and parsed.
mod client {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    use serde_json::Value;

    use super::Res;

    /// A stuck agent fails the benchmark instead of hanging it.
    const IO_TIMEOUT: Duration = Duration::from_secs(300);

    pub struct Client {
        reader: BufReader<UnixStream>,
        writer: UnixStream,
        line: Vec<u8>,
    }

    impl Client {
        pub fn new(stream: UnixStream) -> Res<Client> {
            stream.set_read_timeout(Some(IO_TIMEOUT))?;
            stream.set_write_timeout(Some(IO_TIMEOUT))?;
            Ok(Client {
                writer: stream.try_clone()?,
                reader: BufReader::with_capacity(64 * 1024, stream),
                line: Vec::new(),
            })
        }

        /// A second handle on the socket, for a writer thread.
        pub fn writer(&self) -> Res<UnixStream> {
            Ok(self.writer.try_clone()?)
        }

        pub fn send(&mut self, request: &str) -> Res<()> {
            Ok(self.writer.write_all(request.as_bytes())?)
        }

        /// The next reply's `return` value; an `error` reply is an error.
        /// A leading 0xFF (the `guest-sync-delimited` marker) is skipped.
        pub fn recv(&mut self) -> Res<Value> {
            self.line.clear();
            if self.reader.read_until(b'\n', &mut self.line)? == 0 {
                return Err("the agent closed the connection".into());
            }
            let text = self.line.strip_prefix(&[0xFF]).unwrap_or(&self.line);
            match serde_json::from_slice(text)? {
                Value::Object(mut reply) => match reply.remove("return") {
                    Some(v) => Ok(v),
                    None => Err(format!("agent replied {}", Value::Object(reply)).into()),
                },
                other => Err(format!("agent replied {other}").into()),
            }
        }

        pub fn call(&mut self, request: &str) -> Res<Value> {
            self.send(request)?;
            self.recv()
        }

        /// `guest-sync-delimited` on a fresh connection (no 0xFF flush needed:
        /// the agent's parser has seen nothing yet).
        pub fn sync(&mut self, id: u64) -> Res<()> {
            let r = self.call(&format!(
                r#"{{"execute":"guest-sync-delimited","arguments":{{"id":{id}}}}}"#
            ))?;
            match r.as_u64() == Some(id) {
                true => Ok(()),
                false => Err(format!("sync: expected {id}, got {r}").into()),
            }
        }
    }
}

// ---------------------------------------------------------------------------

/// The measurements. Each function's doc says exactly what is timed.
mod workloads {
    use std::io::Write;
    use std::path::Path;
    use std::time::{Duration, Instant};

    use serde_json::Value;

    use super::agent::Agent;
    use super::client::Client;
    use super::common::{b64_encode, pattern};
    use super::metrics::{percentile, Figures, M};
    use super::{Plan, Res, MIB};

    const PING: &str = r#"{"execute":"guest-ping"}"#;
    /// `guest-file-write`'s "default" in this benchmark: 4 KiB per request
    /// (the write has no default size; 4 KiB mirrors the read default).
    const SMALL_CHUNK: usize = 4096;
    /// The large chunk for both reads (`count`) and writes.
    const BIG_CHUNK: usize = 4 * MIB;
    /// Data of the single huge write: 48 MiB - 3 KiB, whose base64 makes the
    /// request just under 64 MiB, qemu-ga's per-message token limit
    /// (protocol notes 1.4); 48 MiB exactly would be refused by qemu-ga.
    const HUGE_WRITE: usize = 48 * MIB - 3 * 1024;
    /// Pause between `guest-exec-status` polls. Back-to-back polling keeps
    /// the client and the agent's main thread busy on two CPUs and starves
    /// the very child being waited for (the faster an agent answers, the
    /// slower its children run); a short pause, as real clients make,
    /// leaves the child a CPU and still ends the wait within 0.1 ms.
    const EXEC_POLL_PAUSE: Duration = Duration::from_micros(100);

    /// One write payload: its size and its base64 text.
    pub struct Chunk {
        len: usize,
        b64: String,
    }

    impl Chunk {
        fn new(len: usize) -> Chunk {
            Chunk {
                len,
                b64: b64_encode(&pattern(len, 0x9E37_79B9_7F4A_7C15)),
            }
        }
    }

    /// The write payloads, encoded once so no client time goes into encoding.
    pub struct Payloads {
        small: Chunk,
        big: Chunk,
        huge: Chunk,
    }

    impl Payloads {
        pub fn new() -> Payloads {
            Payloads {
                small: Chunk::new(SMALL_CHUNK),
                big: Chunk::new(BIG_CHUNK),
                huge: Chunk::new(HUGE_WRITE),
            }
        }
    }

    /// All workloads on one long-lived agent, in a fixed order.
    pub fn suite(
        a: &Agent,
        c: &mut Client,
        plan: &Plan,
        p: &Payloads,
        fig: &mut Figures,
    ) -> Res<()> {
        fig.push(M::IdleRss, idle_rss(a, c)?);
        let (median, p99) = ping_latency(c, plan.pings)?;
        fig.push(M::PingMedian, median);
        fig.push(M::PingP99, p99);
        fig.push(M::Pipelined, pipelined(c, plan.pipelined)?);
        let file = a.dir().join("data.bin");
        let n = plan.file_bytes;
        let mut cpu = |m: M, cpu_m: M, (rate, secs): (f64, f64)| {
            fig.push(m, rate);
            fig.push(cpu_m, secs);
        };
        cpu(
            M::WriteBig,
            M::WriteBigCpu,
            file_write(a, c, &file, n, &p.big)?,
        );
        cpu(
            M::ReadBig,
            M::ReadBigCpu,
            file_read(a, c, &file, n, Some(BIG_CHUNK))?,
        );
        cpu(
            M::WriteSmall,
            M::WriteSmallCpu,
            file_write(a, c, &file, n, &p.small)?,
        );
        cpu(
            M::ReadSmall,
            M::ReadSmallCpu,
            file_read(a, c, &file, n, None)?,
        );
        std::fs::remove_file(&file)?;
        let (runs, polls) = exec_rate(c, plan.exec_runs)?;
        fig.push(M::Exec, runs);
        fig.push(M::ExecPolls, polls);
        // **Peak RSS during the run**: VmHWM after all of the above.
        fig.push(M::PeakRss, a.status_mib("VmHWM")?);
        Ok(())
    }

    /// **RSS at idle**: VmRSS right after start-up plus one `guest-ping`.
    fn idle_rss(a: &Agent, c: &mut Client) -> Res<f64> {
        c.call(PING)?;
        a.status_mib("VmRSS")
    }

    /// **Latency**: `n` sequential `guest-ping` round trips, each timed from
    /// before the write to after its reply line is parsed. Returns the
    /// median and the p99 in microseconds.
    fn ping_latency(c: &mut Client, n: usize) -> Res<(f64, f64)> {
        let mut us = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            c.call(PING)?;
            us.push(t.elapsed().as_secs_f64() * 1e6);
        }
        us.sort_by(f64::total_cmp);
        Ok((percentile(&us, 50.0), percentile(&us, 99.0)))
    }

    /// **Pipelined throughput**: a writer thread writes `n` `guest-ping`
    /// requests in one `write_all` burst while this thread reads the `n`
    /// replies; requests per second from the burst's start to the last reply.
    fn pipelined(c: &mut Client, n: usize) -> Res<f64> {
        let burst = format!("{PING}\n").repeat(n);
        let mut w = c.writer()?;
        let t = Instant::now();
        std::thread::scope(|s| {
            let writer = s.spawn(move || w.write_all(burst.as_bytes()));
            let read = (0..n).try_for_each(|_| c.recv().map(drop));
            let wrote = writer.join().map_err(|_| "writer thread panicked")?;
            wrote?;
            read
        })?;
        Ok(n as f64 / t.elapsed().as_secs_f64())
    }

    /// **File write throughput**: opens `path` (`w`), then writes `total`
    /// bytes with `guest-file-write` requests carrying `chunk` each (handle
    /// before `buf-b64`, as libvirt/Proxmox send it). Only the write loop is
    /// timed. Returns MiB/s and the agent's CPU seconds during the loop.
    fn file_write(
        a: &Agent,
        c: &mut Client,
        path: &Path,
        total: usize,
        chunk: &Chunk,
    ) -> Res<(f64, f64)> {
        let h = open(c, path, "w")?;
        let req = write_request(h, &chunk.b64);
        let (elapsed, cpu) = timed(a, || {
            for _ in 0..total / chunk.len {
                check_count(&c.call(&req)?, chunk.len)?;
            }
            Ok(())
        })?;
        close(c, h)?;
        Ok((total as f64 / MIB as f64 / elapsed.as_secs_f64(), cpu))
    }

    /// **File read throughput**: opens `path` (`r`) and reads it to EOF with
    /// `guest-file-read` of `count` (`None`: the default, 4096). The reply
    /// is parsed, its base64 is not decoded (the client's cost is the same
    /// for both agents). Only the read loop is timed. Returns MiB/s and the
    /// agent's CPU seconds during the loop.
    fn file_read(
        a: &Agent,
        c: &mut Client,
        path: &Path,
        total: usize,
        count: Option<usize>,
    ) -> Res<(f64, f64)> {
        let h = open(c, path, "r")?;
        let req = match count {
            Some(n) => format!(
                r#"{{"execute":"guest-file-read","arguments":{{"handle":{h},"count":{n}}}}}"#
            ),
            None => format!(r#"{{"execute":"guest-file-read","arguments":{{"handle":{h}}}}}"#),
        };
        let mut got = 0;
        let (elapsed, cpu) = timed(a, || loop {
            let r = c.call(&req)?;
            got += r["count"].as_u64().ok_or("guest-file-read: no count")? as usize;
            if r["eof"] == Value::Bool(true) {
                return Ok(());
            }
        })?;
        close(c, h)?;
        if got != total {
            return Err(format!("guest-file-read returned {got} bytes of {total}").into());
        }
        Ok((total as f64 / MIB as f64 / elapsed.as_secs_f64(), cpu))
    }

    /// **Exec rate**: `runs` times `guest-exec` of `/bin/true` (no capture),
    /// then `guest-exec-status` polled every [`EXEC_POLL_PAUSE`] until
    /// `exited`. Returns runs per second and the mean number of status
    /// polls per run.
    fn exec_rate(c: &mut Client, runs: usize) -> Res<(f64, f64)> {
        let exec = r#"{"execute":"guest-exec","arguments":{"path":"/bin/true"}}"#;
        let mut polls = 0usize;
        let t = Instant::now();
        for _ in 0..runs {
            let pid = c.call(exec)?["pid"].as_i64().ok_or("guest-exec: no pid")?;
            let status =
                format!(r#"{{"execute":"guest-exec-status","arguments":{{"pid":{pid}}}}}"#);
            loop {
                polls += 1;
                let st = c.call(&status)?;
                if st["exited"] == Value::Bool(true) {
                    break;
                }
                std::thread::sleep(EXEC_POLL_PAUSE);
            }
        }
        Ok((
            runs as f64 / t.elapsed().as_secs_f64(),
            polls as f64 / runs as f64,
        ))
    }

    /// **Peak RSS for one huge write**: a fresh agent (so its VmHWM belongs
    /// to this request alone, plus start-up), one `guest-file-write` request
    /// of just under 64 MiB (48 MiB of data), then VmHWM in MiB.
    pub fn big_write_peak(bin: &Path, p: &Payloads) -> Res<f64> {
        let (a, mut c, _) = Agent::start(bin)?;
        let path = a.dir().join("huge.bin");
        let h = open(&mut c, &path, "w")?;
        let req = write_request(h, &p.huge.b64);
        check_count(&c.call(&req)?, p.huge.len)?;
        let peak = a.status_mib("VmHWM")?;
        close(&mut c, h)?;
        Ok(peak)
    }

    /// Runs `f`; returns its wall time and the agent's CPU seconds during it.
    fn timed(a: &Agent, f: impl FnOnce() -> Res<()>) -> Res<(Duration, f64)> {
        let cpu0 = a.cpu_seconds()?;
        let t = Instant::now();
        f()?;
        let elapsed = t.elapsed();
        Ok((elapsed, a.cpu_seconds()? - cpu0))
    }

    fn open(c: &mut Client, path: &Path, mode: &str) -> Res<i64> {
        let path = serde_json::to_string(&path.to_string_lossy())?;
        let r = c.call(&format!(
            r#"{{"execute":"guest-file-open","arguments":{{"path":{path},"mode":"{mode}"}}}}"#
        ))?;
        r.as_i64()
            .ok_or_else(|| format!("guest-file-open returned {r}").into())
    }

    fn close(c: &mut Client, h: i64) -> Res<()> {
        c.call(&format!(
            r#"{{"execute":"guest-file-close","arguments":{{"handle":{h}}}}}"#
        ))?;
        Ok(())
    }

    fn write_request(h: i64, b64: &str) -> String {
        format!(
            r#"{{"execute":"guest-file-write","arguments":{{"handle":{h},"buf-b64":"{b64}"}}}}"#
        )
    }

    fn check_count(reply: &Value, want: usize) -> Res<()> {
        match reply["count"].as_u64() {
            Some(n) if n as usize == want => Ok(()),
            _ => Err(format!("guest-file-write: expected count {want}, got {reply}").into()),
        }
    }
}
