//! # qga-core: an allocation-free QEMU Guest Agent protocol engine
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(test)]
extern crate std;

pub mod config;
pub mod errno;
pub mod platform;
pub mod schema;
