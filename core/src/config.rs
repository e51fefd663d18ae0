//! Every bound of the core, named, with the protocol reason for its value.
//!
//! All memory is fixed at compile time. Hitting a bound gives an error reply
//! (never a panic, never silent truncation) and the stream stays in sync.

/// Default size of the request buffer (`Agent<P, N>`'s `N`): one complete
/// request, minus whitespace outside strings, must fit, except the one large
/// base64 string (`buf-b64`, `input-data`) that streams past it. 4 KiB holds
/// every request libvirt, Proxmox or KubeVirt send besides those payloads.
pub const DEFAULT_REQUEST_BUF: usize = 4096;

/// Deepest nesting of `{`/`[` accepted. QGA requests nest 3 deep at most
/// (`guest-set-vcpus`); qemu-ga allows 1024, we answer deeper input with its
/// `JSON nesting depth limit exceeded` error and skip the rest of the value.
pub const MAX_DEPTH: usize = 64;

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

/// Base64 characters that may be buffered before a large string value is
/// streamed instead of stored in the request buffer.
pub const STREAM_THRESHOLD: usize = 256;
