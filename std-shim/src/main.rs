//! `qga`: arguments -> config -> channel -> agent loop.
#![forbid(unsafe_code)]

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use qga::channel::Channel;
use qga::cli::{self, Action, CliOptions};
use qga::config::{FileConfig, Settings};
use qga::daemon::{self, Role};
use qga::linux::LinuxPlatform;
use qga::log;
use qga_core::Agent;

/// The request buffer: envelopes and small arguments must fit (big base64
/// strings stream past it).
const REQUEST_BUF: usize = 64 * 1024;
/// Reply staging: big replies (file reads) leave in 64 KiB writes.
const REPLY_BUF: usize = 64 * 1024;
/// Payload scratch: file reads and streamed writes move 48 KiB per syscall.
const SCRATCH: usize = 48 * 1024;

type Fatal = Box<dyn Error>;

fn main() -> ExitCode {
    let argv0 = std::env::args().next().unwrap_or_else(|| "qga".into());
    match cli::parse(std::env::args_os().skip(1)) {
        Err(e) => {
            eprint!("{}", e.report(&argv0));
            ExitCode::FAILURE
        }
        Ok(Action::Help) => print_and_exit(&cli::usage(&argv0)),
        Ok(Action::Version) => print_and_exit(&cli::version()),
        Ok(Action::ListRpcs) => print_and_exit(&rpc_names()),
        Ok(Action::Run(opts)) => start(*opts).unwrap_or_else(|e| {
            let text = e
                .downcast_ref::<std::io::Error>()
                .map_or_else(|| e.to_string(), log::errno_text);
            log::critical(format_args!("{text}"));
            ExitCode::FAILURE
        }),
    }
}

fn print_and_exit(text: &str) -> ExitCode {
    print!("{text}");
    ExitCode::SUCCESS
}

fn rpc_names() -> String {
    qga_core::schema::COMMANDS
        .iter()
        .map(|c| format!("{}\n", c.name))
        .collect()
}

/// Loads the settings, opens the channel, daemonizes if asked and serves.
fn start(opts: CliOptions) -> Result<ExitCode, Fatal> {
    let env_conf = std::env::var_os("QGA_CONF").map(PathBuf::from);
    let file = FileConfig::load(opts.config.as_deref(), env_conf)?;
    let dump = opts.dump_conf;
    let mut settings = Settings::merge(opts, file)?;
    if dump {
        return Ok(print_and_exit(&settings.dump()));
    }
    let endpoint = settings.endpoint()?;
    settings.resolve_paths()?;
    log::init(settings.logfile.as_deref(), settings.verbose)?;
    let role = daemon::role(settings.daemonize);
    let channel = match role {
        Role::Child { inherited: true } => Some(Channel::from_fd(
            &endpoint,
            daemon::take_inherited_channel()?,
        )),
        Role::Child { inherited: false } => None,
        // The parent hands a failed open (with --retry-path) to the daemon.
        Role::Parent if settings.retry_path => Channel::open(&endpoint).ok(),
        Role::Parent | Role::Foreground => {
            Some(Channel::open_retrying(&endpoint, settings.retry_path)?)
        }
    };
    if role == Role::Parent {
        return Ok(daemon::spawn_daemon(channel.as_ref().map(Channel::fd))?);
    }
    let _pidfile = match role {
        Role::Child { .. } => Some(daemon::detach(&settings.pidfile)?),
        _ => None,
    };
    let mut agent = Box::new(
        Agent::<LinuxPlatform, REQUEST_BUF, REPLY_BUF, SCRATCH>::new(LinuxPlatform::new(
            settings.statedir.clone(),
        )?),
    );
    agent
        .platform_mut()
        .set_fsfreeze_hook(settings.fsfreeze_hook.clone());
    let (block, allow) = settings.filters();
    agent.set_filters(block, allow);
    qga::signals::set_frozen(agent.is_frozen());
    let daemonized = matches!(role, Role::Child { .. });
    qga::signals::install(daemonized.then(|| settings.pidfile.clone()))?;
    if matches!(role, Role::Child { .. }) {
        daemon::finish()?;
    }
    let channel = match channel {
        Some(c) => c,
        None => Channel::open_retrying(&endpoint, true)?,
    };
    Err(channel.run(&mut *agent, settings.retry_path).into())
}
