//! # qga: a small static QEMU Guest Agent for Linux guests
//!
//! The protocol engine lives in the `no_std` crate `qga_core`; this crate
//! adds what needs an operating system: [`linux::LinuxPlatform`], the Linux
//! implementation of `qga_core::platform::Platform` (files, guest-exec, time,
//! host information), built on raw syscalls through `rustix`; children and
//! the signal mask go through musl's `posix_spawn` and `signalfd` (the one
//! module of `unsafe` C calls).
#![deny(unsafe_code)]

pub mod activation;
pub mod audit;
pub mod channel;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod help;
pub mod linux;
pub mod log;
pub mod man;
pub mod notify;
mod posix;
pub mod serve;
pub mod signals;
pub mod syslog;
