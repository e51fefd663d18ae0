//! # qga: a small static QEMU Guest Agent for Linux guests
//!
//! The protocol engine lives in the `no_std` crate `qga_core`; this crate
//! adds what needs an operating system: [`linux::LinuxPlatform`], the Linux
//! implementation of `qga_core::platform::Platform` (files, guest-exec, time,
//! host information), built on raw syscalls through `rustix`.

pub mod channel;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod linux;
pub mod log;
pub mod signals;
