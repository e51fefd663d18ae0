//! # qga-core: an allocation-free QEMU Guest Agent protocol engine
//!
//! `no_std`, no `alloc`, no `unsafe`. The layers, bottom-up:
//!
//! 1. [`schema`]: the command table (names, flags, order, the capability
//!    each command needs, the one argument that may stream).
//! 2. [`platform`]: the capability traits an embedder implements (clock,
//!    files, processes, ...); what it supports is derived from which it
//!    offers.
//! 3. [`wire`]: bytes to frames ([`wire::Framer`], a streaming validating
//!    JSON tokenizer with 0xFF resync, split into string lexing, grammar
//!    and stream detection), frames to envelopes, and the reply writer. It
//!    knows JSON and the envelope, and no command.
//! 4. [`commands`]: typed arguments (with qemu-ga's error texts) and a
//!    small handler per command, one file per QAPI family.
//! 5. [`dispatch`]: the [`Agent`] that ties them together, with `feed`,
//!    `poll` (`nb`) and `run` over `embedded-io`; it owns the session state
//!    (frozen, filters) and the one streaming stage.
//!
//! ## Bounds
//! Every buffer is fixed ([`config`]): the request buffer (`N`, default
//! 4 KiB), nesting depth, the reply staging buffer and the payload scratch.
//! Every error reply goes out at the byte that makes it certain: a request
//! that does not fit gets qemu-ga's `JSON token size limit exceeded` at the
//! byte that overflows, the rest of it is skipped, and the next request is
//! answered. The one exception is the large base64 argument of
//! `guest-file-write` and `guest-exec`, which streams through in pieces, up
//! to qemu-ga's 64 MiB per request.
//!
//! ## No panics
//! No input can make the core panic: the framer checks every byte, readers
//! of stored frames never index past their input, and all arithmetic on
//! sizes is bounded by the buffers. The fuzz targets and the property tests
//! check this.
//!
//! ## 0xFF, and how we differ from qemu-ga
//! An 0xFF byte anywhere resets the parser and discards the partial
//! request **silently**. qemu-ga answers it with
//! `JSON parse error, stray '\uFFFD'`. Clients send 0xFF precisely to flush
//! the agent and skip to the 0xFF that prefixes the `guest-sync-delimited`
//! reply (QEMU's test, Proxmox, qapi-rs), or never send it (libvirt), so
//! the extra error line is noise none of them needs. Other stray bytes
//! (0xFE, control bytes) get qemu-ga's error reply and skip mode.
//!
//! ## Example: the feed loop
//! ```
//! use qga_core::{platform::mock::MockPlatform, Agent};
//! let mut agent: Agent<MockPlatform> = Agent::new(MockPlatform::new());
//! let mut out = [0u8; 128];
//! let mut w = &mut out[..];
//! // Two requests, split anywhere: the replies are the same.
//! for piece in [&b"\xff{\"execute\":\"guest-sync-delimited\",\"argu"[..], b"ments\":{\"id\":1}}{\"execute\":\"guest-ping\"}"] {
//!     agent.feed(piece, &mut w).unwrap();
//! }
//! let n = 128 - w.len();
//! assert_eq!(&out[..n], b"\xff{\"return\": 1}\n{\"return\": {}}\n");
//! ```
// Unit tests run with std (for Vec and format!); the library never does.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod commands;
pub mod config;
pub mod dispatch;
pub mod errno;
mod fmt;
pub mod platform;
pub mod schema;
pub mod wire;

pub use dispatch::Agent;
