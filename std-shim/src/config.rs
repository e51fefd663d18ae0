//! The config file (GLib key file, group `[general]`) and the effective
//! settings: file + command line + defaults (protocol notes 4.1, 4.2).
//!
//! Lists from the file and the command line accumulate; for scalars the
//! command line wins. Unknown command names in the lists are kept (for
//! `-D`) and ignored when the filters are built, as in qemu-ga.
#![forbid(unsafe_code)]

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use qga_core::schema::{Command, CommandSet};

use crate::cli::{split_list, CliOptions};

/// The config file read when `-c` is not given and `$QGA_CONF` is unset.
pub const DEFAULT_CONFIG: &str = "/etc/qemu/qemu-ga.conf";
/// The pidfile written with `-d` unless `-f` says otherwise.
pub const DEFAULT_PIDFILE: &str = "/var/run/qemu-ga.pid";
/// The state directory unless `-t` says otherwise.
pub const DEFAULT_STATEDIR: &str = "/var/run";
/// The virtio-serial port unless `-p` says otherwise.
pub const DEFAULT_VIRTIO_PATH: &str = "/dev/virtio-ports/org.qemu.guest_agent.0";
/// The isa-serial port unless `-p` says otherwise.
pub const DEFAULT_SERIAL_PATH: &str = "/dev/ttyS0";
/// The vsock CID that accepts any address.
pub const VSOCK_ANY_CID: u32 = u32::MAX;

/// A config file or setting that cannot be used (fatal, exit 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The file could not be read (an explicit file that is missing, or any
    /// error other than "not found" on the default file).
    Read(PathBuf, String),
    /// A line that is not a group, a key, a comment or blank.
    Syntax(PathBuf, usize),
    /// A key outside any group.
    NoGroup(PathBuf, usize),
    /// A boolean key whose value is not true/false/1/0.
    NotBoolean(PathBuf, &'static str),
    /// A value that is not valid UTF-8.
    NotUnicode(PathBuf, usize),
    /// `-m` / `method=` is not one of the four channels.
    Method(String),
    /// unix-listen and vsock-listen have no default path.
    NoPath,
    /// A vsock path that is not `CID:PORT`.
    VsockAddress(String),
    /// The state directory does not exist.
    Statedir(PathBuf),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read(p, e) => write!(
                f,
                "error loading configuration from path: {}, {e}",
                p.display()
            ),
            ConfigError::Syntax(p, l) => {
                write!(f, "error parsing configuration file {}: line {l} is not a key-value pair, group, or comment", p.display())
            }
            ConfigError::NoGroup(p, l) => {
                write!(f, "error parsing configuration file {}: line {l}: key file does not start with a group", p.display())
            }
            ConfigError::NotBoolean(p, k) => {
                write!(f, "error parsing configuration file {}: key '{k}' has a value that cannot be interpreted as a boolean", p.display())
            }
            ConfigError::NotUnicode(p, l) => {
                write!(
                    f,
                    "error parsing configuration file {}: line {l} is not valid UTF-8",
                    p.display()
                )
            }
            ConfigError::Method(m) => write!(f, "unsupported channel method/type: {m}"),
            ConfigError::NoPath => f.write_str("must specify a path for this channel"),
            ConfigError::VsockAddress(a) => write!(
                f,
                "invalid vsock address '{a}': expected CID:PORT (decimal)"
            ),
            ConfigError::Statedir(p) => write!(f, "state directory {} does not exist", p.display()),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The `[general]` keys found in a config file; `None` = absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileConfig {
    /// `daemon`.
    pub daemon: Option<bool>,
    /// `method`.
    pub method: Option<String>,
    /// `path`.
    pub path: Option<String>,
    /// `logfile`.
    pub logfile: Option<PathBuf>,
    /// `pidfile`.
    pub pidfile: Option<PathBuf>,
    /// `fsfreeze-hook`.
    pub fsfreeze_hook: Option<PathBuf>,
    /// `statedir`.
    pub statedir: Option<PathBuf>,
    /// `verbose`.
    pub verbose: Option<bool>,
    /// `retry-path`.
    pub retry_path: Option<bool>,
    /// `block-rpcs` (or legacy `blacklist`), split on commas.
    pub block_rpcs: Vec<String>,
    /// `allow-rpcs`, split on commas.
    pub allow_rpcs: Option<Vec<String>>,
    /// Deprecation warnings for the keys used (`blacklist`).
    pub deprecations: Vec<&'static str>,
}

/// qemu-ga 7.2-9.0's warning for the `blacklist` key (9.1 removed the key;
/// it still works here, so that old config files keep working).
pub const BLACKLIST_KEY_DEPRECATED: &str =
    "config using deprecated 'blacklist' key, should be replaced with the 'block-rpcs' key.";

impl FileConfig {
    /// Reads the config file: `explicit` (`-c`) must exist; otherwise
    /// `env_conf` (`$QGA_CONF`) or [`DEFAULT_CONFIG`] may be missing.
    pub fn load(
        explicit: Option<&Path>,
        env_conf: Option<PathBuf>,
    ) -> Result<FileConfig, ConfigError> {
        let path = explicit
            .map(Path::to_path_buf)
            .or(env_conf)
            .unwrap_or_else(|| DEFAULT_CONFIG.into());
        match std::fs::read(&path) {
            Ok(bytes) => FileConfig::parse(&path, &bytes),
            Err(e) if explicit.is_none() && e.kind() == std::io::ErrorKind::NotFound => {
                Ok(FileConfig::default())
            }
            Err(e) => Err(ConfigError::Read(path, crate::log::errno_text(&e))),
        }
    }

    /// Parses key-file text; `path` only names the file in errors.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<FileConfig, ConfigError> {
        let mut cfg = FileConfig::default();
        let mut group: Option<&str> = None;
        for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = std::str::from_utf8(raw)
                .map_err(|_| ConfigError::NotUnicode(path.into(), i + 1))?;
            let line = line.trim_start().trim_end_matches('\r');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                group = Some(name);
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| ConfigError::Syntax(path.into(), i + 1))?;
            match group {
                None => return Err(ConfigError::NoGroup(path.into(), i + 1)),
                Some("general") => cfg.set(path, key.trim(), &unescape(value.trim_start()))?,
                Some(_) => {}
            }
        }
        Ok(cfg)
    }

    /// Stores one `[general]` key; unknown keys are ignored like qemu-ga.
    fn set(&mut self, path: &Path, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            "daemon" => self.daemon = Some(boolean(path, "daemon", value)?),
            "verbose" => self.verbose = Some(boolean(path, "verbose", value)?),
            "retry-path" => self.retry_path = Some(boolean(path, "retry-path", value)?),
            "method" => self.method = Some(value.to_owned()),
            "path" => self.path = Some(value.to_owned()),
            "logfile" => self.logfile = Some(value.into()),
            "pidfile" => self.pidfile = Some(value.into()),
            "fsfreeze-hook" => self.fsfreeze_hook = Some(value.into()),
            "statedir" => self.statedir = Some(value.into()),
            "block-rpcs" => self.block_rpcs.extend(split_list(value)),
            "blacklist" => {
                if !self.deprecations.contains(&BLACKLIST_KEY_DEPRECATED) {
                    self.deprecations.push(BLACKLIST_KEY_DEPRECATED);
                }
                self.block_rpcs.extend(split_list(value));
            }
            "allow-rpcs" => self
                .allow_rpcs
                .get_or_insert_with(Vec::new)
                .extend(split_list(value)),
            _ => {}
        }
        Ok(())
    }
}

/// GLib booleans: `true`/`false`, also `1`/`0` (trailing blanks ignored).
fn boolean(path: &Path, key: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim_end() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ConfigError::NotBoolean(path.into(), key)),
    }
}

/// Undoes key-file string escapes (`\s \n \t \r \\`); others stay as written.
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => out.push(' '),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(other) => out.extend(['\\', other]),
            None => out.push('\\'),
        }
    }
    out
}

/// Key-file string escapes for `-D` (what `g_key_file_set_string` writes).
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        match c {
            ' ' if i == 0 => out.push_str("\\s"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out
}

/// How the agent talks to the host (`-m`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `virtio-serial` (the default).
    VirtioSerial,
    /// `isa-serial`.
    IsaSerial,
    /// `unix-listen`.
    UnixListen,
    /// `vsock-listen`.
    VsockListen,
}

impl Method {
    /// Parses a method name, with qemu-ga's error text.
    pub fn parse(name: &str) -> Result<Method, ConfigError> {
        match name {
            "virtio-serial" => Ok(Method::VirtioSerial),
            "isa-serial" => Ok(Method::IsaSerial),
            "unix-listen" => Ok(Method::UnixListen),
            "vsock-listen" => Ok(Method::VsockListen),
            other => Err(ConfigError::Method(other.to_owned())),
        }
    }

    /// The name used on the command line and in `-D` output.
    pub fn name(self) -> &'static str {
        match self {
            Method::VirtioSerial => "virtio-serial",
            Method::IsaSerial => "isa-serial",
            Method::UnixListen => "unix-listen",
            Method::VsockListen => "vsock-listen",
        }
    }
}

/// A channel with its resolved address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A virtio-serial port device.
    VirtioSerial(PathBuf),
    /// A serial tty.
    IsaSerial(PathBuf),
    /// A listening unix socket at this path.
    UnixListen(PathBuf),
    /// A listening vsock socket.
    VsockListen {
        /// Local CID to bind ([`VSOCK_ANY_CID`] for any).
        cid: u32,
        /// Port.
        port: u32,
    },
}

/// The effective configuration: command line over config file over defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Fork into the background after opening the channel.
    pub daemonize: bool,
    /// The channel kind.
    pub method: Method,
    /// The channel path as given (`None`: the method's default).
    pub path: Option<String>,
    /// Log file (`None`: stderr).
    pub logfile: Option<PathBuf>,
    /// Pidfile, written only when daemonizing.
    pub pidfile: PathBuf,
    /// fsfreeze hook, if enabled.
    pub fsfreeze_hook: Option<PathBuf>,
    /// State directory.
    pub statedir: PathBuf,
    /// Log every level, not only errors.
    pub verbose: bool,
    /// Retry the channel every 5 s instead of exiting.
    pub retry_path: bool,
    /// Block list names as given.
    pub block_rpcs: Vec<String>,
    /// Allow list names as given (`None`: no allow list).
    pub allow_rpcs: Option<Vec<String>>,
    /// Warnings for deprecated options and keys, for stderr at startup.
    pub deprecations: Vec<&'static str>,
}

impl Settings {
    /// Merges the command line over the file and fills in defaults.
    pub fn merge(cli: CliOptions, file: FileConfig) -> Result<Settings, ConfigError> {
        let method = cli
            .method
            .or(file.method)
            .map_or(Ok(Method::VirtioSerial), |m| Method::parse(&m))?;
        Ok(Settings {
            daemonize: cli.daemonize || file.daemon.unwrap_or(false),
            method,
            path: cli.path.or(file.path),
            logfile: cli.logfile.or(file.logfile),
            pidfile: cli
                .pidfile
                .or(file.pidfile)
                .unwrap_or_else(|| DEFAULT_PIDFILE.into()),
            fsfreeze_hook: cli.fsfreeze_hook.or(file.fsfreeze_hook),
            statedir: cli
                .statedir
                .or(file.statedir)
                .unwrap_or_else(|| DEFAULT_STATEDIR.into()),
            verbose: cli.verbose || file.verbose.unwrap_or(false),
            retry_path: cli.retry_path || file.retry_path.unwrap_or(false),
            block_rpcs: concat(file.block_rpcs, cli.block_rpcs),
            deprecations: concat(file.deprecations, cli.deprecations),
            allow_rpcs: match (file.allow_rpcs, cli.allow_rpcs) {
                (None, None) => None,
                (f, c) => Some(concat(f.unwrap_or_default(), c.unwrap_or_default())),
            },
        })
    }

    /// The channel address, with the per-method default path.
    pub fn endpoint(&self) -> Result<Endpoint, ConfigError> {
        let given = self.path.as_deref();
        match self.method {
            Method::VirtioSerial => Ok(Endpoint::VirtioSerial(
                given.unwrap_or(DEFAULT_VIRTIO_PATH).into(),
            )),
            Method::IsaSerial => Ok(Endpoint::IsaSerial(
                given.unwrap_or(DEFAULT_SERIAL_PATH).into(),
            )),
            Method::UnixListen => given
                .map(|p| Endpoint::UnixListen(p.into()))
                .ok_or(ConfigError::NoPath),
            Method::VsockListen => parse_vsock(given.ok_or(ConfigError::NoPath)?),
        }
    }

    /// Checks the state directory and makes the paths used after `chdir /`
    /// (statedir, pidfile) absolute.
    pub fn resolve_paths(&mut self) -> Result<(), ConfigError> {
        if !self.statedir.is_dir() {
            return Err(ConfigError::Statedir(self.statedir.clone()));
        }
        self.statedir = std::path::absolute(&self.statedir)
            .map_err(|_| ConfigError::Statedir(self.statedir.clone()))?;
        if let Ok(abs) = std::path::absolute(&self.pidfile) {
            self.pidfile = abs;
        }
        Ok(())
    }

    /// The block and allow lists as command sets (unknown names ignored).
    pub fn filters(&self) -> (CommandSet, Option<CommandSet>) {
        (
            command_set(&self.block_rpcs),
            self.allow_rpcs.as_deref().map(command_set),
        )
    }

    /// The `-D` output: a key file with group `[general]`.
    pub fn dump(&self) -> String {
        let mut out = String::from("[general]\n");
        let mut put = |key: &str, value: &str| {
            let _ = writeln!(out, "{key}={}", escape(value));
        };
        put("daemon", bool_text(self.daemonize));
        put("method", self.method.name());
        if let Some(p) = &self.path {
            put("path", p);
        }
        if let Some(l) = &self.logfile {
            put("logfile", &l.to_string_lossy());
        }
        put("pidfile", &self.pidfile.to_string_lossy());
        if let Some(h) = &self.fsfreeze_hook {
            put("fsfreeze-hook", &h.to_string_lossy());
        }
        put("statedir", &self.statedir.to_string_lossy());
        put("verbose", bool_text(self.verbose));
        put("retry-path", bool_text(self.retry_path));
        put("block-rpcs", &self.block_rpcs.join(","));
        put(
            "allow-rpcs",
            &self.allow_rpcs.as_deref().unwrap_or_default().join(","),
        );
        out
    }
}

fn bool_text(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

fn concat<T>(mut first: Vec<T>, second: Vec<T>) -> Vec<T> {
    first.extend(second);
    first
}

fn command_set(names: &[String]) -> CommandSet {
    let mut set = CommandSet::EMPTY;
    names
        .iter()
        .filter_map(|n| Command::from_name(n.as_bytes()))
        .for_each(|c| set.insert(c));
    set
}

/// `CID:PORT`, both decimal `u32`.
fn parse_vsock(addr: &str) -> Result<Endpoint, ConfigError> {
    let bad = || ConfigError::VsockAddress(addr.to_owned());
    let (cid, port) = addr.split_once(':').ok_or_else(bad)?;
    let number = |s: &str| {
        s.parse::<u32>()
            .ok()
            .filter(|_| s.bytes().all(|b| b.is_ascii_digit()))
    };
    Ok(Endpoint::VsockListen {
        cid: number(cid).ok_or_else(bad)?,
        port: number(port).ok_or_else(bad)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Result<FileConfig, ConfigError> {
        FileConfig::parse(Path::new("t.conf"), text.as_bytes())
    }

    fn settings(cli: CliOptions, text: &str) -> Settings {
        Settings::merge(cli, file(text).unwrap_or_default()).unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn parses_every_general_key() {
        let f = file(
            "# comment\n\n[general]\ndaemon=true\nmethod = unix-listen\npath=/run/s\nlogfile=/l\n\
             pidfile=/p\nfsfreeze-hook=/h\nstatedir=/st\nverbose=1\nretry-path=0\n\
             block-rpcs=guest-ping,guest-info\nblacklist=x\nallow-rpcs=a,b\nunknown-key=1\n",
        );
        let f = f.unwrap_or_default();
        assert_eq!(f.daemon, Some(true));
        assert_eq!(f.method.as_deref(), Some("unix-listen"));
        assert_eq!(f.path.as_deref(), Some("/run/s"));
        assert_eq!(
            (f.logfile, f.pidfile),
            (Some("/l".into()), Some("/p".into()))
        );
        assert_eq!(
            (f.fsfreeze_hook, f.statedir),
            (Some("/h".into()), Some("/st".into()))
        );
        assert_eq!((f.verbose, f.retry_path), (Some(true), Some(false)));
        assert_eq!(f.block_rpcs, ["guest-ping", "guest-info", "x"]);
        assert_eq!(f.allow_rpcs, Some(vec!["a".into(), "b".into()]));
        assert_eq!(f.deprecations, [BLACKLIST_KEY_DEPRECATED]);
    }

    #[test]
    fn legacy_blacklist_still_blocks_and_warns_once() {
        let cli = CliOptions {
            block_rpcs: vec!["guest-info".into()],
            deprecations: vec![crate::cli::BLACKLIST_DEPRECATED],
            ..CliOptions::default()
        };
        let s = settings(
            cli,
            "[general]\nblacklist=guest-ping\nblacklist=guest-exec\n",
        );
        assert_eq!(s.block_rpcs, ["guest-ping", "guest-exec", "guest-info"]);
        let (block, _) = s.filters();
        assert!(block.contains(Command::GuestPing) && block.contains(Command::GuestExec));
        assert_eq!(
            s.deprecations,
            [BLACKLIST_KEY_DEPRECATED, crate::cli::BLACKLIST_DEPRECATED]
        );
        assert!(s
            .dump()
            .contains("\nblock-rpcs=guest-ping,guest-exec,guest-info\n"));
        assert!(settings(CliOptions::default(), "[general]\nblock-rpcs=a\n")
            .deprecations
            .is_empty());
    }

    #[test]
    fn other_groups_escapes_and_crlf() {
        let f =
            file("[other]\ndaemon=bogus\n[general]\r\npath=\\sa\\\\b\\n\r\n").unwrap_or_default();
        assert_eq!(f.daemon, None);
        assert_eq!(f.path.as_deref(), Some(" a\\b\n"));
        assert_eq!(unescape("x\\q\\"), "x\\q\\");
    }

    #[test]
    fn escape_writes_what_glib_writes() {
        // g_key_file_set_string: only a leading space becomes \s.
        assert_eq!(escape(" a b\t\n\r\\"), "\\sa b\\t\\n\\r\\\\");
        assert_eq!(unescape(&escape(" x y ")), " x y ");
    }

    #[test]
    fn flags_from_either_side_turn_on() {
        for (cli, text, want) in [
            (false, "", false),
            (true, "", true),
            (false, "verbose=true\nretry-path=true\n", true),
            (true, "verbose=false\nretry-path=false\n", true),
        ] {
            let opts = CliOptions {
                verbose: cli,
                retry_path: cli,
                ..CliOptions::default()
            };
            let s = settings(opts, &format!("[general]\n{text}"));
            assert_eq!((s.verbose, s.retry_path), (want, want), "{cli} {text:?}");
        }
    }

    #[test]
    fn semicolon_list_is_one_bogus_name() {
        let f = file("[general]\nblock-rpcs=guest-ping;guest-info\n").unwrap_or_default();
        assert_eq!(f.block_rpcs, ["guest-ping;guest-info"]);
        let s = settings(
            CliOptions::default(),
            "[general]\nblock-rpcs=guest-ping;guest-info\n",
        );
        assert!(s.filters().0.is_empty());
    }

    #[test]
    fn file_error_paths() {
        let p = PathBuf::from("t.conf");
        assert_eq!(
            file("[general]\njunk\n"),
            Err(ConfigError::Syntax(p.clone(), 2))
        );
        assert_eq!(
            file("daemon=true\n"),
            Err(ConfigError::NoGroup(p.clone(), 1))
        );
        assert_eq!(
            file("[general]\ndaemon=yes\n"),
            Err(ConfigError::NotBoolean(p.clone(), "daemon"))
        );
        assert_eq!(
            file("[general]\nverbose=2\n"),
            Err(ConfigError::NotBoolean(p.clone(), "verbose"))
        );
        assert_eq!(
            file("[general]\nretry-path=\n"),
            Err(ConfigError::NotBoolean(p.clone(), "retry-path"))
        );
        let r = FileConfig::parse(&p, b"[general]\npath=\xff\n");
        assert_eq!(r, Err(ConfigError::NotUnicode(p, 2)));
    }

    #[test]
    fn load_missing_default_is_fine_missing_explicit_is_fatal() {
        let missing = PathBuf::from("/nonexistent/qga-test.conf");
        assert_eq!(
            FileConfig::load(None, Some(missing.clone())),
            Ok(FileConfig::default())
        );
        let r = FileConfig::load(Some(&missing), None);
        assert!(
            matches!(&r, Err(ConfigError::Read(p, _)) if *p == missing),
            "{r:?}"
        );
        let text = r.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("No such file or directory"), "{text}");
        // A directory is not "missing": fatal even as the default.
        assert!(matches!(
            FileConfig::load(None, Some("/".into())),
            Err(ConfigError::Read(..))
        ));
    }

    #[test]
    fn load_reads_a_real_file() {
        let dir = std::env::temp_dir().join(format!("qga-config-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("qga.conf");
        let _ = std::fs::write(&path, "[general]\nmethod=isa-serial\n");
        let f = FileConfig::load(Some(&path), None);
        assert_eq!(f.map(|f| f.method), Ok(Some("isa-serial".into())));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn defaults() {
        let s = settings(CliOptions::default(), "");
        assert_eq!(s.method, Method::VirtioSerial);
        assert_eq!(
            s.endpoint(),
            Ok(Endpoint::VirtioSerial(DEFAULT_VIRTIO_PATH.into()))
        );
        assert_eq!(
            (s.pidfile.to_str(), s.statedir.to_str()),
            (Some(DEFAULT_PIDFILE), Some(DEFAULT_STATEDIR))
        );
        assert!(!s.daemonize && !s.verbose && !s.retry_path);
        assert_eq!(s.filters(), (CommandSet::EMPTY, None));
    }

    #[test]
    fn cli_wins_for_scalars_lists_accumulate() {
        let cli = CliOptions {
            method: Some("isa-serial".into()),
            statedir: Some("/cli".into()),
            block_rpcs: vec!["guest-info".into()],
            allow_rpcs: Some(vec!["guest-sync".into()]),
            ..CliOptions::default()
        };
        let s = settings(cli, "[general]\nmethod=unix-listen\nstatedir=/file\nblock-rpcs=guest-ping,nonsense\nverbose=true\n");
        assert_eq!(s.method, Method::IsaSerial);
        assert_eq!(s.statedir, PathBuf::from("/cli"));
        assert!(s.verbose);
        assert_eq!(s.block_rpcs, ["guest-ping", "nonsense", "guest-info"]);
        let (block, allow) = s.filters();
        assert!(block.contains(Command::GuestPing) && block.contains(Command::GuestInfo));
        assert!(!block.contains(Command::GuestSync));
        assert!(allow
            .is_some_and(|a| a.contains(Command::GuestSync) && !a.contains(Command::GuestPing)));
    }

    #[test]
    fn endpoints_and_their_errors() {
        let with = |m: &str, p: Option<&str>| {
            let cli = CliOptions {
                method: Some(m.into()),
                path: p.map(Into::into),
                ..CliOptions::default()
            };
            Settings::merge(cli, FileConfig::default()).and_then(|s| s.endpoint())
        };
        assert_eq!(
            with("isa-serial", None),
            Ok(Endpoint::IsaSerial(DEFAULT_SERIAL_PATH.into()))
        );
        assert_eq!(
            with("unix-listen", Some("/s")),
            Ok(Endpoint::UnixListen("/s".into()))
        );
        assert_eq!(with("unix-listen", None), Err(ConfigError::NoPath));
        assert_eq!(with("vsock-listen", None), Err(ConfigError::NoPath));
        assert_eq!(
            with("vsock-listen", Some("4294967295:1234")),
            Ok(Endpoint::VsockListen {
                cid: VSOCK_ANY_CID,
                port: 1234
            })
        );
        for bad in ["3", "3:", ":1", "x:1", "3:+1", "3:4294967296", "-1:2"] {
            assert_eq!(
                with("vsock-listen", Some(bad)),
                Err(ConfigError::VsockAddress(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(with("tcp", None), Err(ConfigError::Method("tcp".into())));
        assert_eq!(
            ConfigError::Method("tcp".into()).to_string(),
            "unsupported channel method/type: tcp"
        );
        assert_eq!(
            ConfigError::NoPath.to_string(),
            "must specify a path for this channel"
        );
    }

    #[test]
    fn statedir_must_exist() {
        let mut s = settings(
            CliOptions {
                statedir: Some("/nonexistent-qga".into()),
                ..CliOptions::default()
            },
            "",
        );
        assert_eq!(
            s.resolve_paths(),
            Err(ConfigError::Statedir("/nonexistent-qga".into()))
        );
        let mut s = settings(
            CliOptions {
                statedir: Some(".".into()),
                pidfile: Some("p".into()),
                ..CliOptions::default()
            },
            "",
        );
        assert_eq!(s.resolve_paths(), Ok(()));
        assert!(s.statedir.is_absolute() && s.pidfile.is_absolute());
    }

    #[test]
    fn dump_matches_qemu_ga_key_order() {
        let s = settings(
            CliOptions {
                path: Some(" x".into()),
                ..CliOptions::default()
            },
            "[general]\nblock-rpcs=a,b\nallow-rpcs=\n",
        );
        assert_eq!(
            s.dump(),
            "[general]\ndaemon=false\nmethod=virtio-serial\npath=\\sx\npidfile=/var/run/qemu-ga.pid\n\
             statedir=/var/run\nverbose=false\nretry-path=false\nblock-rpcs=a,b\nallow-rpcs=\n"
        );
        let s = settings(
            CliOptions {
                logfile: Some("/l".into()),
                fsfreeze_hook: Some("/h".into()),
                verbose: true,
                daemonize: true,
                ..CliOptions::default()
            },
            "",
        );
        assert_eq!(
            s.dump(),
            "[general]\ndaemon=true\nmethod=virtio-serial\nlogfile=/l\npidfile=/var/run/qemu-ga.pid\n\
             fsfreeze-hook=/h\nstatedir=/var/run\nverbose=true\nretry-path=false\nblock-rpcs=\nallow-rpcs=\n"
        );
    }
}
