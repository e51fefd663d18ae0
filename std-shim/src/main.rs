//! `qga`: arguments -> config -> channel -> agent loop.
#![forbid(unsafe_code)]

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use qga::activation::{self, Activated, ActivationError};
use qga::channel::Channel;
use qga::cli::{self, Action, CliOptions};
use qga::config::{ConfigError, FileConfig, Settings};
use qga::daemon::{self, PidfileSlot, Role};
use qga::linux::LinuxPlatform;
use qga::log;
use qga::notify::Notifier;
use qga::serve::Served;
use qga::signals::Stop;
use qga_core::Agent;

/// The request buffer: envelopes and small arguments must fit (big base64
/// strings stream past it).
const REQUEST_BUF: usize = 64 * 1024;
/// Reply staging: big replies (file reads) leave in 64 KiB writes.
const REPLY_BUF: usize = 64 * 1024;
/// Payload scratch: file reads and streamed writes move 48 KiB per syscall.
const SCRATCH: usize = 48 * 1024;

/// Why the agent could not start (its last log line). A plain enum, not
/// `Box<dyn Error>`, whose vtables would link every error's `Debug`.
enum Fatal {
    /// A system call failed.
    Io(io::Error),
    /// The configuration or the socket handed over is unusable.
    Setup(String),
}

impl From<io::Error> for Fatal {
    fn from(e: io::Error) -> Fatal {
        Fatal::Io(e)
    }
}

impl From<ConfigError> for Fatal {
    fn from(e: ConfigError) -> Fatal {
        Fatal::Setup(e.to_string())
    }
}

impl From<ActivationError> for Fatal {
    fn from(e: ActivationError) -> Fatal {
        Fatal::Setup(e.to_string())
    }
}

fn main() -> ExitCode {
    // Both take their variables out of the environment before any thread starts.
    let activated = activation::take();
    let notifier = Notifier::from_env();
    let argv0 = std::env::args().next().unwrap_or_else(|| "qga".into());
    match cli::parse(std::env::args_os().skip(1)) {
        Err(e) => {
            eprint!("{}", e.report(&argv0));
            ExitCode::FAILURE
        }
        Ok(Action::Help) => print_and_exit(&cli::usage(&argv0)),
        Ok(Action::Version) => print_and_exit(&cli::version()),
        Ok(Action::ListRpcs) => print_and_exit(&rpc_names()),
        Ok(Action::Run(opts)) => start(*opts, activated, &notifier).unwrap_or_else(|e| {
            let text = match e {
                Fatal::Io(e) => log::errno_text(&e),
                Fatal::Setup(text) => text,
            };
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
fn start(
    opts: CliOptions,
    activated: Result<Option<Activated>, activation::ActivationError>,
    notifier: &Notifier,
) -> Result<ExitCode, Fatal> {
    let mut activated = activated?;
    let env_conf = std::env::var_os("QGA_CONF").map(PathBuf::from);
    let file = FileConfig::load(opts.config.as_deref(), env_conf)?;
    let dump = opts.dump_conf;
    let mut settings = Settings::merge(opts, file)?;
    for text in &settings.deprecations {
        eprintln!("warning: {text}");
    }
    if dump {
        return Ok(print_and_exit(&settings.dump()));
    }
    let endpoint = match &activated {
        // The service manager owns an activated socket: no daemon, no reopening.
        Some(a) => {
            (settings.daemonize, settings.retry_path) = (false, false);
            a.endpoint.clone()
        }
        None => settings.endpoint()?,
    };
    settings.resolve_paths()?;
    // Started frozen (a marker left behind): the log file is opened only
    // after the thaw, as qemu-ga defers it.
    let frozen = qga::linux::starts_frozen(&settings.statedir);
    log::init(settings.logfile.as_deref(), settings.verbose, frozen)?;
    if frozen {
        log::warning(format_args!(
            "started in frozen state: only freeze-safe commands until a thaw"
        ));
    }
    let stop = Stop::install()?;
    let role = daemon::role(settings.daemonize);
    let channel = match role {
        Role::Child { inherited: true } => Some(Channel::from_fd(
            &endpoint,
            daemon::take_inherited_channel()?,
        )),
        Role::Child { inherited: false } => None,
        // The parent hands a failed open (with --retry-path) to the daemon.
        Role::Parent if settings.retry_path => Channel::open(&endpoint).ok(),
        Role::Parent | Role::Foreground => Some(match activated.take() {
            Some(a) => Channel::from_fd(&endpoint, a.fd),
            None => Channel::open_retrying(&endpoint, settings.retry_path, &stop)?,
        }),
    };
    if role == Role::Parent {
        return Ok(daemon::spawn_daemon(channel.as_ref().map(Channel::fd))?);
    }
    let daemonized = matches!(role, Role::Child { .. });
    if daemonized {
        daemon::detach()?;
    }
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
    let pidfile = PidfileSlot::new(daemonized.then(|| settings.pidfile.clone()));
    let mut served = Served::new(agent, pidfile)?;
    // From here on every way out thaws first (Served::finish).
    let exit = (|| {
        if daemonized {
            daemon::finish()?;
        }
        let channel = match channel {
            Some(c) => c,
            None => Channel::open_retrying(&endpoint, true, &stop)?,
        };
        if let Err(e) = notifier.ready() {
            log::warning(format_args!("sd_notify: {}", log::errno_text(&e)));
        }
        Ok(channel.run(&mut served, settings.retry_path, &stop))
    })();
    Ok(served.finish(exit))
}
