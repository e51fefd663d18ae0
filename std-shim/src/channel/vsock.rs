//! `struct sockaddr_vm`, which rustix 1.1 does not provide. Its
//! `SocketAddrArg` trait is `unsafe` to implement; this impl is the only
//! `unsafe` code in the binary's front half.

use rustix::net::addr::{SocketAddrArg, SocketAddrLen, SocketAddrOpaque};
use rustix::net::AddressFamily;

/// `struct sockaddr_vm` from `<linux/vm_sockets.h>`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct SockaddrVm {
    svm_family: u16,
    svm_reserved1: u16,
    svm_port: u32,
    svm_cid: u32,
    svm_flags: u8,
    svm_zero: [u8; 3],
}

/// A vsock address that rustix's `bind` accepts.
#[derive(Clone, Copy, Debug)]
pub struct VsockAddr(SockaddrVm);

impl VsockAddr {
    /// `cid:port` (`u32::MAX` = any CID).
    pub fn new(cid: u32, port: u32) -> Self {
        let svm_family = AddressFamily::VSOCK.as_raw();
        VsockAddr(SockaddrVm {
            svm_family,
            svm_reserved1: 0,
            svm_port: port,
            svm_cid: cid,
            svm_flags: 0,
            svm_zero: [0; 3],
        })
    }
}

// SAFETY: `with_sockaddr` passes a pointer to a `#[repr(C)]`
// `sockaddr_vm` that `self` owns and that outlives the call, together with
// its exact size; every field is initialised (no padding: 2+2+4+4+1+3 =
// 16 bytes), so the kernel reads valid memory of the stated length.
#[allow(unsafe_code)]
unsafe impl SocketAddrArg for VsockAddr {
    unsafe fn with_sockaddr<R>(
        &self,
        f: impl FnOnce(*const SocketAddrOpaque, SocketAddrLen) -> R,
    ) -> R {
        f(
            std::ptr::from_ref(&self.0).cast(),
            size_of::<SockaddrVm>() as SocketAddrLen,
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sockaddr_vm_is_16_bytes() {
        assert_eq!(size_of::<super::SockaddrVm>(), 16);
    }
}
