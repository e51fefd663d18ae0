//! The agent's only calls into the C library (musl's in the static build):
//! `posix_spawn` for every child process, and the signal mask, `signalfd`
//! and `sigpending` for SIGTERM/SIGINT. rustix makes raw system calls and
//! has neither: a bare `fork`/`clone` is only sound inside the C library,
//! and the signal mask belongs to it too.
//!
//! Each function is a thin safe wrapper; every `unsafe` block of these
//! calls is here, with its reason. The callers (`linux::child`, `signals`)
//! are safe code.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, CStr, CString};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr;

use rustix::io::Errno;
use rustix::process::Pid;

/// Starts `path` (no `PATH` search) with `argv` and `envp`, `stdio` on the
/// child's fds 0, 1 and 2, in a new session (`setsid`), with an empty
/// signal mask and SIGPIPE at its default action (the agent ignores it and
/// blocks SIGTERM/SIGINT; a child must not inherit either). Every other
/// descriptor of the agent is close-on-exec. Returns the child's pid, or
/// the errno of the failed `exec` (musl and glibc report it).
pub(crate) fn spawn(
    path: &CStr,
    argv: &[CString],
    envp: &[CString],
    stdio: [BorrowedFd<'_>; 3],
) -> Result<Pid, Errno> {
    let (argv, envp) = (null_terminated(argv), null_terminated(envp));
    let mut attr_slot = MaybeUninit::uninit();
    let attr = Attr::new(&mut attr_slot)?;
    let mut actions_slot = MaybeUninit::uninit();
    let actions = Actions::new(&mut actions_slot, stdio)?;
    let mut pid = 0;
    // SAFETY: `path` and every string behind `argv`/`envp` are NUL-terminated
    // and outlive the call; both pointer arrays end with a null pointer; the
    // attribute and action objects are initialised (their guards prove it).
    // posix_spawn only reads its arguments, writes `pid`, and clones the
    // child with CLONE_VFORK, so the parent's memory is not touched after
    // the child's `exec`.
    let r = unsafe {
        libc::posix_spawn(
            &mut pid,
            path.as_ptr(),
            &*actions.0,
            &*attr.0,
            argv.as_ptr(),
            envp.as_ptr(),
        )
    };
    check(r)?;
    Pid::from_raw(pid).ok_or(Errno::SRCH)
}

/// Blocks `signals` in the calling thread (and so in every thread it
/// starts later) and returns a non-blocking, close-on-exec `signalfd` that
/// is readable while one of them is pending.
pub(crate) fn signalfd(signals: &[c_int]) -> Result<OwnedFd, Errno> {
    let set = sigset(signals)?;
    // SAFETY: `set` is an initialised signal set; the old mask is not asked for.
    check(unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, ptr::null_mut()) })?;
    let flags = libc::SFD_NONBLOCK | libc::SFD_CLOEXEC;
    // SAFETY: -1 asks for a new descriptor; `set` is initialised.
    let fd = unsafe { libc::signalfd(-1, &set, flags) };
    if fd < 0 {
        let errno = std::io::Error::last_os_error().raw_os_error();
        return Err(errno.map_or(Errno::IO, Errno::from_raw_os_error));
    }
    // SAFETY: `fd` was just returned by signalfd: open, and owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The first of `signals` that is pending (for the calling thread or the
/// whole process); a blocked signal stays pending until someone takes it.
pub(crate) fn pending(signals: &[c_int]) -> Option<c_int> {
    let mut set = sigset(&[]).ok()?;
    // SAFETY: sigpending fills in the initialised set it is given.
    if unsafe { libc::sigpending(&mut set) } != 0 {
        return None;
    }
    // SAFETY: `set` is initialised; a bad number only gives -1.
    let member = |&sig: &c_int| unsafe { libc::sigismember(&set, sig) } == 1;
    signals.iter().copied().find(member)
}

/// The pointer array C wants: each string's address, then a null pointer.
fn null_terminated(strings: &[CString]) -> Vec<*mut c_char> {
    let ptrs = strings.iter().map(|s| s.as_ptr().cast_mut());
    ptrs.chain([ptr::null_mut()]).collect()
}

/// A signal set holding `signals`.
fn sigset(signals: &[c_int]) -> Result<libc::sigset_t, Errno> {
    let mut set = MaybeUninit::uninit();
    // SAFETY: sigemptyset initialises the whole set (it cannot fail).
    unsafe { libc::sigemptyset(set.as_mut_ptr()) };
    // SAFETY: initialised just above.
    let mut set = unsafe { set.assume_init() };
    for &sig in signals {
        // SAFETY: `set` is initialised; a bad number only gives EINVAL.
        if unsafe { libc::sigaddset(&mut set, sig) } != 0 {
            return Err(Errno::INVAL);
        }
    }
    Ok(set)
}

/// A `posix_spawn*` return value (0 or an errno) as a `Result`.
fn check(r: c_int) -> Result<(), Errno> {
    match r {
        0 => Ok(()),
        e => Err(Errno::from_raw_os_error(e)),
    }
}

/// Spawn attributes, destroyed when dropped. They stay in the caller's
/// slot (POSIX does not promise an initialised object may move).
struct Attr<'a>(&'a mut libc::posix_spawnattr_t);

impl<'a> Attr<'a> {
    /// New session, empty signal mask, SIGPIPE at its default.
    fn new(slot: &'a mut MaybeUninit<libc::posix_spawnattr_t>) -> Result<Attr<'a>, Errno> {
        // SAFETY: init fills in the object behind the pointer.
        check(unsafe { libc::posix_spawnattr_init(slot.as_mut_ptr()) })?;
        // SAFETY: initialised just above; the guard destroys it exactly once.
        let attr = Attr(unsafe { slot.assume_init_mut() });
        let flags = libc::POSIX_SPAWN_SETSID
            | (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short;
        let (mask, default) = (sigset(&[])?, sigset(&[libc::SIGPIPE])?);
        // SAFETY: `attr.0` is initialised; the sets are copied in.
        unsafe {
            check(libc::posix_spawnattr_setflags(attr.0, flags))?;
            check(libc::posix_spawnattr_setsigmask(attr.0, &mask))?;
            check(libc::posix_spawnattr_setsigdefault(attr.0, &default))?;
        }
        Ok(attr)
    }
}

impl Drop for Attr<'_> {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed only here.
        unsafe { libc::posix_spawnattr_destroy(self.0) };
    }
}

/// The file actions that put `stdio` on fds 0-2, destroyed when dropped.
struct Actions<'a>(&'a mut libc::posix_spawn_file_actions_t);

impl<'a> Actions<'a> {
    fn new(
        slot: &'a mut MaybeUninit<libc::posix_spawn_file_actions_t>,
        stdio: [BorrowedFd<'_>; 3],
    ) -> Result<Actions<'a>, Errno> {
        // SAFETY: init fills in the object behind the pointer.
        check(unsafe { libc::posix_spawn_file_actions_init(slot.as_mut_ptr()) })?;
        // SAFETY: initialised just above; the guard destroys it exactly once.
        let actions = Actions(unsafe { slot.assume_init_mut() });
        for (target, fd) in (0..).zip(stdio) {
            // SAFETY: `actions.0` is initialised; `fd` stays open until the
            // spawn (the caller borrows it for that long). The sources are
            // never 0-2 themselves (std keeps 0-2 open from startup), so no
            // dup2 overwrites a later one's source.
            check(unsafe {
                libc::posix_spawn_file_actions_adddup2(actions.0, fd.as_raw_fd(), target)
            })?;
        }
        Ok(actions)
    }
}

impl Drop for Actions<'_> {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed only here.
        unsafe { libc::posix_spawn_file_actions_destroy(self.0) };
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rustix::event::{poll, PollFd, PollFlags};

    /// Whether `fd` polls readable right now.
    fn readable(fd: &OwnedFd) -> bool {
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        let zero = rustix::time::Timespec::default();
        poll(&mut fds, Some(&zero)).is_ok_and(|n| n == 1)
    }

    #[test]
    fn a_blocked_signal_stays_pending_behind_the_signalfd() {
        // A thread of its own: its mask, and a signal sent to it alone,
        // end with it (a signal to the whole test process could reach a
        // thread that does not block it).
        std::thread::spawn(|| {
            let fd = signalfd(&[libc::SIGTERM, libc::SIGINT]).unwrap();
            assert!(!readable(&fd));
            assert_eq!(pending(&[libc::SIGTERM, libc::SIGINT]), None);
            // SAFETY: a signal to this very thread, which blocks it.
            assert_eq!(
                unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGINT) },
                0
            );
            assert_eq!(pending(&[libc::SIGTERM, libc::SIGINT]), Some(libc::SIGINT));
            assert!(
                readable(&fd) && readable(&fd),
                "the signalfd must stay readable"
            );
        })
        .join()
        .unwrap();
    }
}
