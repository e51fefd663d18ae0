//! Every bound of the core, named, with the protocol reason for its value,
//! and how it compares with qemu-ga's (protocol notes 1.4).
//!
//! All memory is fixed at compile time. Hitting a bound gives an error reply
//! at the byte that crosses it (never a panic, never silent truncation),
//! the rest of that request is skipped, and the stream stays in sync.
//!
//! | bound | ours | qemu-ga |
//! |---|---|---|
//! | nesting of `{`/`[` | [`MAX_DEPTH`] = 64 | 1024 |
//! | one request, stored | `N` bytes of compact JSON (4 KiB by default, 64 KiB in `qga`) | 64 MiB of tokens |
//! | a streamed request | [`MAX_MESSAGE`] = 64 MiB | 64 MiB of tokens |
//! | one token | the request buffer, except the one streamed string | 64 MiB |
//! | tokens per request | no count of its own (bounded by the buffer) | 2 Mi |
//!
//! The texts are qemu-ga's: `JSON nesting depth limit exceeded` and
//! `JSON token size limit exceeded`. qemu-ga lexes the rest of an
//! over-deep value as new input (one `expecting value` reply per surplus
//! closer); we skip the rest of the value and send one reply.

/// Default size of the request buffer (`Agent<P, N>`'s `N`): one complete
/// request, minus whitespace outside strings, must fit, except the one large
/// string member of `arguments` that streams past it (`buf-b64`,
/// `input-data`). 4 KiB holds every request libvirt, Proxmox or KubeVirt
/// send besides those payloads.
pub const DEFAULT_REQUEST_BUF: usize = 4096;

/// Deepest nesting of `{`/`[` accepted. QGA requests nest 3 deep at most
/// (`guest-set-vcpus`); qemu-ga allows 1024. Deeper input gets qemu-ga's
/// `JSON nesting depth limit exceeded` at the 65th opener.
pub const MAX_DEPTH: usize = 64;

/// The largest streamed request, in bytes: the stored request plus the raw
/// text of its streamed string (qemu-ga counts token bytes, whitespace
/// excluded, against the same 64 MiB). Crossing it answers `JSON token size
/// limit exceeded` at once and skips the rest of the request.
///
/// One documented difference: a `guest-file-write` whose `buf-b64` streams
/// straight into the file has written what it decoded before the bound was
/// crossed (qemu-ga, which buffers the whole message first, writes
/// nothing). The same holds when a parse error ends such a request
/// mid-payload.
pub const MAX_MESSAGE: u64 = 64 << 20;

/// Default reply staging buffer: replies are assembled here and written in large
/// pieces; a reply that fits is committed only when complete, so a platform
/// error can still replace it with an error reply.
pub const REPLY_BUF: usize = 1024;

/// Default scratch buffer for streamed payloads, in raw bytes (used in
/// multiples of 3, so each chunk encodes to whole base64 quads: 768 bytes
/// -> 1024 characters).
pub const SCRATCH: usize = 768;

/// Longest error `desc` text kept (longer ones are cut on a char boundary).
pub const ERROR_MESSAGE_LEN: usize = 192;

/// `guest-file-read`'s default `count` (qemu-ga: 4096).
pub const FILE_READ_DEFAULT: i64 = 4096;

/// `guest-file-read`'s largest `count` (qemu-ga: 48 MiB, since 5.0).
pub const FILE_READ_MAX: i64 = 48 << 20;
