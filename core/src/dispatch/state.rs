//! The session state: the one owner of "frozen" and of the command
//! filters. It changes in one place, [`SessionState::set_frozen`] (as
//! smoltcp changes a socket's state in one `set_state`), traced in debug
//! logs; which commands may run is computed from it.

use crate::schema::{Command, CommandSet};

/// Frozen or not, and qemu-ga's `--block-rpcs` / `--allow-rpcs`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SessionState {
    block: CommandSet,
    allow: Option<CommandSet>,
    frozen: bool,
}

impl SessionState {
    /// Thawed, nothing blocked.
    pub const fn new() -> SessionState {
        SessionState {
            block: CommandSet::EMPTY,
            allow: None,
            frozen: false,
        }
    }

    /// Filesystems are frozen (or thawed) now.
    pub fn set_frozen(&mut self, frozen: bool) {
        if frozen != self.frozen {
            crate::fmt::debug!("session: frozen {=bool} -> {=bool}", self.frozen, frozen);
        }
        self.frozen = frozen;
    }

    /// Whether filesystems are frozen.
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// Sets the block list and the allow list (`None`: no allow list).
    pub fn set_filters(&mut self, block: CommandSet, allow: Option<CommandSet>) {
        self.block = block;
        self.allow = allow;
    }

    /// Whether `cmd` may run, in qemu-ga 9.1's order: allow list, then block
    /// list (block wins), then the frozen state (overrides everything).
    pub fn allows(&self, cmd: Command) -> bool {
        if self.frozen {
            return cmd.info().frozen_safe;
        }
        self.allow.is_none_or(|a| a.contains(cmd)) && !self.block.contains(cmd)
    }

    /// Of the `supported` commands, those that may run now.
    pub fn enabled(&self, supported: CommandSet) -> CommandSet {
        let mut set = CommandSet::EMPTY;
        for c in crate::schema::COMMANDS.iter() {
            if self.allows(c.command) {
                set.insert(c.command);
            }
        }
        set.intersection(supported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Command::*;

    #[test]
    fn frozen_overrides_the_lists() {
        let mut s = SessionState::new();
        let mut allow = CommandSet::EMPTY;
        allow.insert(GuestGetTime);
        allow.insert(GuestPing);
        let mut block = CommandSet::EMPTY;
        block.insert(GuestPing);
        s.set_filters(block, Some(allow));
        assert!(s.allows(GuestGetTime));
        assert!(!s.allows(GuestPing), "block wins over allow");
        assert!(!s.allows(GuestInfo), "not in the allow list");
        s.set_frozen(true);
        assert!(s.is_frozen());
        assert!(!s.allows(GuestGetTime));
        assert!(s.allows(GuestPing) && s.allows(GuestInfo) && s.allows(GuestFsfreezeThaw));
        s.set_frozen(false);
        assert!(s.allows(GuestGetTime));
    }

    #[test]
    fn enabled_is_allowed_and_supported() {
        let mut s = SessionState::new();
        let mut supported = CommandSet::EMPTY;
        supported.insert(GuestGetTime);
        supported.insert(GuestPing);
        assert_eq!(s.enabled(supported), supported);
        s.set_frozen(true);
        let mut only_ping = CommandSet::EMPTY;
        only_ping.insert(GuestPing);
        assert_eq!(s.enabled(supported), only_ping);
    }
}
