//! The command line, compatible with qemu-ga where it matters (protocol notes 4.1).
//!
//! [`parse`] turns the arguments (without `argv[0]`) into an [`Action`]. It
//! only reads options; defaults and the config file are merged later by
//! [`crate::config::Settings::merge`], so that the command line wins for
//! scalars and the rpc lists accumulate.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use lexopt::{Arg, Parser, ValueExt};

/// The fsfreeze hook used by a bare `-F` (`<confdir>/fsfreeze-hook`).
pub const DEFAULT_FSFREEZE_HOOK: &str = "/etc/qemu/fsfreeze-hook";

/// Options given on the command line; `None` / `false` / empty = not given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CliOptions {
    /// `-c/--config`: an explicit config file (missing file is fatal).
    pub config: Option<PathBuf>,
    /// `-m/--method`, unchecked (checked with the config file's value).
    pub method: Option<String>,
    /// `-p/--path`.
    pub path: Option<String>,
    /// `-l/--logfile`.
    pub logfile: Option<PathBuf>,
    /// `-f/--pidfile`.
    pub pidfile: Option<PathBuf>,
    /// `-F/--fsfreeze-hook[=PATH]`.
    pub fsfreeze_hook: Option<PathBuf>,
    /// `-t/--statedir`.
    pub statedir: Option<PathBuf>,
    /// `-v/--verbose`.
    pub verbose: bool,
    /// `-d/--daemonize`.
    pub daemonize: bool,
    /// `-r/--retry-path`.
    pub retry_path: bool,
    /// `-D/--dump-conf`.
    pub dump_conf: bool,
    /// `-b/--block-rpcs` names, all occurrences, in order.
    pub block_rpcs: Vec<String>,
    /// `-a/--allow-rpcs` names; `Some` as soon as the option appears once.
    pub allow_rpcs: Option<Vec<String>>,
    /// Deprecation warnings for the options used (`--blacklist`).
    pub deprecations: Vec<&'static str>,
}

/// The warning for `--blacklist`, which qemu-ga removed in 9.1: it still
/// works here, so that old command lines keep working.
pub const BLACKLIST_DEPRECATED: &str =
    "option '--blacklist' is deprecated, use '--block-rpcs' (or '-b') instead";

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Run the agent (or dump the configuration, see [`CliOptions::dump_conf`]).
    Run(Box<CliOptions>),
    /// `-h/--help`: print [`usage`] and exit 0.
    Help,
    /// `-V/--version`: print [`version`] and exit 0.
    Version,
    /// `-b help` / `-a ?`: list every command name and exit 0.
    ListRpcs,
}

/// A command line that cannot be used. Exit status 1 for all of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CliError {
    /// An option this agent does not know.
    UnknownOption(String),
    /// An option that needs a value got none (`-m` at the end).
    MissingValue(String),
    /// A value where none is allowed (`--verbose=yes`).
    UnexpectedValue(String),
    /// A positional argument; qemu-ga takes none.
    UnexpectedArgument(String),
    /// A value that is not valid UTF-8 where text is needed.
    NotUnicode(String),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::UnknownOption(o) => write!(f, "unrecognized option '{o}'"),
            CliError::MissingValue(o) => write!(f, "option '{o}' requires an argument"),
            CliError::UnexpectedValue(o) => write!(f, "option '{o}' doesn't allow an argument"),
            CliError::UnexpectedArgument(a) => write!(f, "unexpected argument '{a}'"),
            CliError::NotUnicode(o) => write!(f, "the value of option '{o}' is not valid UTF-8"),
        }
    }
}

impl std::error::Error for CliError {}

impl CliError {
    /// The full text for stderr: the reason, then qemu-ga's hint line.
    pub fn report(&self, argv0: &str) -> String {
        format!("{self}\nUnknown option, try '{argv0} --help' for more information.\n")
    }
}

pub use crate::help::usage;

/// `QEMU Guest Agent <version>`, with our crate version.
pub fn version() -> String {
    format!("QEMU Guest Agent {} (qga-rs)\n", env!("CARGO_PKG_VERSION"))
}

/// Parses the arguments after `argv[0]`.
pub fn parse<I>(args: I) -> Result<Action, CliError>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let mut parser = Parser::from_args(args);
    let mut opts = CliOptions::default();
    while let Some(arg) = parser.next().map_err(|e| lexopt_error(&e))? {
        let name = match arg {
            Arg::Short(c) => format!("-{c}"),
            Arg::Long(l) => format!("--{l}"),
            Arg::Value(v) => {
                return Err(CliError::UnexpectedArgument(
                    v.to_string_lossy().into_owned(),
                ))
            }
        };
        if let Some(action) = apply(&mut opts, &mut parser, &name)? {
            return Ok(action);
        }
    }
    Ok(Action::Run(Box::new(opts)))
}

/// Applies option `name` (`-x` or `--xyz`); returns an [`Action`] that ends
/// parsing early.
fn apply(
    opts: &mut CliOptions,
    parser: &mut Parser,
    name: &str,
) -> Result<Option<Action>, CliError> {
    match name {
        "-h" | "--help" => return Ok(Some(Action::Help)),
        "-V" | "--version" => return Ok(Some(Action::Version)),
        "-c" | "--config" => opts.config = Some(path_value(parser, name)?),
        "-m" | "--method" => opts.method = Some(text_value(parser, name)?),
        "-p" | "--path" => opts.path = Some(text_value(parser, name)?),
        "-l" | "--logfile" => opts.logfile = Some(path_value(parser, name)?),
        "-f" | "--pidfile" => opts.pidfile = Some(path_value(parser, name)?),
        "-t" | "--statedir" => opts.statedir = Some(path_value(parser, name)?),
        "-F" | "--fsfreeze-hook" => opts.fsfreeze_hook = Some(hook_value(parser)),
        "-b" | "--block-rpcs" => return rpc_list(parser, name, &mut opts.block_rpcs),
        "--blacklist" => {
            opts.deprecations.push(BLACKLIST_DEPRECATED);
            return rpc_list(parser, name, &mut opts.block_rpcs);
        }
        "-a" | "--allow-rpcs" => {
            return rpc_list(parser, name, opts.allow_rpcs.get_or_insert_with(Vec::new))
        }
        _ => flag(opts, name)?,
    }
    Ok(None)
}

/// The value-less options; anything else is unknown.
/// (lexopt itself rejects `--verbose=1` on the next call.)
fn flag(opts: &mut CliOptions, name: &str) -> Result<(), CliError> {
    let field = match name {
        "-v" | "--verbose" => &mut opts.verbose,
        "-d" | "--daemonize" => &mut opts.daemonize,
        "-r" | "--retry-path" => &mut opts.retry_path,
        "-D" | "--dump-conf" => &mut opts.dump_conf,
        _ => return Err(CliError::UnknownOption(name.to_owned())),
    };
    *field = true;
    Ok(())
}

/// Splits a comma-separated list into `into`; `help` / `?` ask for the list.
fn rpc_list(
    parser: &mut Parser,
    name: &str,
    into: &mut Vec<String>,
) -> Result<Option<Action>, CliError> {
    let list = text_value(parser, name)?;
    if list == "help" || list == "?" {
        return Ok(Some(Action::ListRpcs));
    }
    into.extend(split_list(&list));
    Ok(None)
}

/// Splits an rpc list on commas, dropping empty items (as `g_strsplit` +
/// qemu-ga's `split_list` do for `a,,b`).
pub fn split_list(list: &str) -> impl Iterator<Item = String> + '_ {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// `-F` takes its argument only when attached (`-F/path`, `--fsfreeze-hook=/path`).
fn hook_value(parser: &mut Parser) -> PathBuf {
    parser
        .optional_value()
        .map_or_else(|| PathBuf::from(DEFAULT_FSFREEZE_HOOK), PathBuf::from)
}

fn path_value(parser: &mut Parser, name: &str) -> Result<PathBuf, CliError> {
    parser
        .value()
        .map(PathBuf::from)
        .map_err(|_| CliError::MissingValue(name.to_owned()))
}

fn text_value(parser: &mut Parser, name: &str) -> Result<String, CliError> {
    let value = parser
        .value()
        .map_err(|_| CliError::MissingValue(name.to_owned()))?;
    value
        .string()
        .map_err(|_| CliError::NotUnicode(name.to_owned()))
}

/// lexopt's own errors: a value attached to a flag, or an unparsable option.
fn lexopt_error(e: &lexopt::Error) -> CliError {
    match e {
        lexopt::Error::UnexpectedValue { option, .. } => CliError::UnexpectedValue(option.clone()),
        lexopt::Error::MissingValue { option } => {
            CliError::MissingValue(option.clone().unwrap_or_default())
        }
        lexopt::Error::UnexpectedOption(o) => CliError::UnknownOption(o.clone()),
        other => CliError::UnknownOption(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> CliOptions {
        match parse(args.iter().copied()) {
            Ok(Action::Run(o)) => *o,
            other => unreachable!("{args:?} -> {other:?}"),
        }
    }

    fn err(args: &[&str]) -> CliError {
        match parse(args.iter().copied()) {
            Err(e) => e,
            other => unreachable!("{args:?} -> {other:?}"),
        }
    }

    #[test]
    fn empty_command_line_gives_empty_options() {
        assert_eq!(run(&[]), CliOptions::default());
    }

    #[test]
    fn short_and_long_values() {
        let o = run(&[
            "-m",
            "unix-listen",
            "--path=/tmp/s",
            "-l/tmp/log",
            "--pidfile",
            "/p",
        ]);
        assert_eq!(o.method.as_deref(), Some("unix-listen"));
        assert_eq!(o.path.as_deref(), Some("/tmp/s"));
        assert_eq!(o.logfile, Some(PathBuf::from("/tmp/log")));
        assert_eq!(o.pidfile, Some(PathBuf::from("/p")));
        let o = run(&["-c", "/c.conf", "-t", "/st", "--statedir=/st2"]);
        assert_eq!(o.config, Some(PathBuf::from("/c.conf")));
        assert_eq!(o.statedir, Some(PathBuf::from("/st2")), "last one wins");
    }

    #[test]
    fn flags_cluster() {
        let o = run(&["-dvrD"]);
        assert!(o.daemonize && o.verbose && o.retry_path && o.dump_conf);
        let o = run(&["--daemonize", "--verbose", "--retry-path", "--dump-conf"]);
        assert!(o.daemonize && o.verbose && o.retry_path && o.dump_conf);
    }

    #[test]
    fn fsfreeze_hook_argument_must_be_attached() {
        assert_eq!(
            run(&["-F"]).fsfreeze_hook,
            Some(PathBuf::from(DEFAULT_FSFREEZE_HOOK))
        );
        assert_eq!(run(&["-F/h"]).fsfreeze_hook, Some(PathBuf::from("/h")));
        assert_eq!(
            run(&["--fsfreeze-hook=/h"]).fsfreeze_hook,
            Some(PathBuf::from("/h"))
        );
        assert_eq!(
            err(&["-F", "/h"]),
            CliError::UnexpectedArgument("/h".into())
        );
    }

    #[test]
    fn rpc_lists_accumulate_and_split_on_commas() {
        let o = run(&[
            "-b",
            "guest-ping,guest-info",
            "--block-rpcs=x,,y",
            "--blacklist",
            "z",
        ]);
        assert_eq!(o.block_rpcs, ["guest-ping", "guest-info", "x", "y", "z"]);
        assert_eq!(o.deprecations, [BLACKLIST_DEPRECATED]);
        assert_eq!(o.allow_rpcs, None);
        assert_eq!(run(&["-b", "x", "--block-rpcs", "y"]).deprecations, [""; 0]);
        assert_eq!(
            run(&["-a", "guest-ping", "-a", "a,b"]).allow_rpcs,
            Some(vec!["guest-ping".into(), "a".into(), "b".into()])
        );
        assert_eq!(run(&["-a", ""]).allow_rpcs, Some(vec![]));
    }

    #[test]
    fn help_version_and_rpc_listing() {
        assert_eq!(parse(["-h"]), Ok(Action::Help));
        assert_eq!(parse(["--help"]), Ok(Action::Help));
        assert_eq!(parse(["-V"]), Ok(Action::Version));
        assert_eq!(parse(["--version"]), Ok(Action::Version));
        assert_eq!(parse(["-b", "help"]), Ok(Action::ListRpcs));
        assert_eq!(parse(["--block-rpcs=?"]), Ok(Action::ListRpcs));
        assert_eq!(parse(["-a", "help"]), Ok(Action::ListRpcs));
        assert!(version().starts_with("QEMU Guest Agent 0."));
        assert!(usage("qga").starts_with("Usage: qga "));
        assert!(usage("qga").contains(
            "\n      --blacklist=LIST\n                      deprecated alias of --block-rpcs"
        ));
    }

    #[test]
    fn error_paths() {
        assert_eq!(err(&["-x"]), CliError::UnknownOption("-x".into()));
        assert_eq!(err(&["--bogus"]), CliError::UnknownOption("--bogus".into()));
        assert_eq!(
            err(&["-s"]),
            CliError::UnknownOption("-s".into()),
            "Windows only"
        );
        assert_eq!(err(&["-m"]), CliError::MissingValue("-m".into()));
        assert_eq!(err(&["--path"]), CliError::MissingValue("--path".into()));
        assert_eq!(err(&["-b"]), CliError::MissingValue("-b".into()));
        assert_eq!(
            err(&["--verbose=1"]),
            CliError::UnexpectedValue("--verbose".into())
        );
        assert_eq!(
            err(&["stray"]),
            CliError::UnexpectedArgument("stray".into())
        );
    }

    #[test]
    fn non_utf8_text_value_is_an_error() {
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(vec![0xff]);
        let r = parse([OsString::from("-m"), bad.clone()]);
        assert_eq!(r, Err(CliError::NotUnicode("-m".into())));
        // Paths may be any bytes.
        let r = parse([OsString::from("-l"), bad]);
        assert!(matches!(r, Ok(Action::Run(_))));
    }

    #[test]
    fn report_ends_with_qemu_ga_hint() {
        let text = CliError::UnknownOption("-x".into()).report("qga");
        assert!(text.ends_with("Unknown option, try 'qga --help' for more information.\n"));
    }
}
