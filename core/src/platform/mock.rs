//! An in-memory platform for tests, fuzzing and benchmarks. Allocation-free
//! like the core; every command is implemented with predictable results.
//!
//! Files live in a [`MemFs`]; the path `/dev/zero` opens a sink that reads
//! zeros forever and accepts any amount of writes (for throughput runs).
//! `guest-exec` of any program "runs" `cat`: its stdout is its stdin.

use super::*;

/// Size of the mock's spool.
pub const SPOOL: usize = 16 * 1024;

/// Handle returned for `/dev/zero`.
pub const ZERO_HANDLE: i64 = 1;

/// The mock platform.
pub struct MockPlatform {
    /// The in-RAM files.
    pub fs: MemFs<4, 16384, 4>,
    /// Bytes written to `/dev/zero`.
    pub sunk: u64,
    /// Current time in ns.
    pub time: i64,
    /// Last shutdown mode requested.
    pub shutdown: Option<ShutdownMode>,
    /// Whether filesystems are frozen.
    pub frozen: bool,
    /// `guest-fsfreeze-thaw` fails and leaves the filesystems frozen.
    pub thaw_fails: bool,
    /// File reads fail (EIO) once this many more bytes were read; a read
    /// call returns at most what is left before that.
    pub read_fails_after: Option<usize>,
    /// Online state of the two vCPUs.
    pub vcpus: [bool; 2],
    spool: [u8; SPOOL],
    spool_len: usize,
    /// How often the core released the spool (a request that used it ended).
    pub spool_releases: u32,
    /// Keys added with `guest-ssh-add-authorized-keys`, NUL-separated.
    pub ssh_keys: heapless::String<256>,
    /// The one process: (pid, stdin length, captured).
    process: Option<(i64, usize, CaptureOutput)>,
    next_pid: i64,
}

impl Default for MockPlatform {
    fn default() -> Self {
        Self::new()
    }
}

impl MockPlatform {
    /// A fresh mock.
    pub const fn new() -> Self {
        MockPlatform {
            fs: MemFs::new(),
            sunk: 0,
            time: 1_700_000_000_000_000_000,
            shutdown: None,
            frozen: false,
            thaw_fails: false,
            read_fails_after: None,
            vcpus: [true, true],
            spool: [0; SPOOL],
            spool_len: 0,
            spool_releases: 0,
            ssh_keys: heapless::String::new(),
            process: None,
            next_pid: 100,
        }
    }

    fn spooled(&self) -> &[u8] {
        &self.spool[..self.spool_len]
    }
}

impl Platform for MockPlatform {
    fn version(&self) -> &str {
        "mock-1.0"
    }

    crate::offer!(all);
}

impl Clock for MockPlatform {
    fn get_time(&mut self) -> Result<i64> {
        Ok(self.time)
    }

    fn set_time(&mut self, time_ns: Option<i64>) -> Result<()> {
        if let Some(t) = time_ns {
            self.time = t;
        }
        Ok(())
    }
}

impl Power for MockPlatform {
    fn shutdown(&mut self, mode: ShutdownMode) -> Result<()> {
        self.shutdown = Some(mode);
        Ok(())
    }

    fn suspend(&mut self, _mode: SuspendMode) -> Result<()> {
        Err(Error::msg(format_args!(
            "the requested suspend mode is not supported by the guest"
        )))
    }
}

impl Files for MockPlatform {
    fn open(&mut self, path: &str, mode: OpenMode) -> Result<i64> {
        if path == "/dev/zero" {
            return Ok(ZERO_HANDLE);
        }
        self.fs.open(path, mode)
    }

    fn close(&mut self, handle: i64) -> Result<()> {
        if handle == ZERO_HANDLE {
            return Ok(());
        }
        self.fs.close(handle)
    }

    fn read(&mut self, handle: i64, buf: &mut [u8]) -> Result<usize> {
        if handle == ZERO_HANDLE {
            buf.fill(0);
            return Ok(buf.len());
        }
        let Some(left) = self.read_fails_after else {
            return self.fs.read(handle, buf);
        };
        if left == 0 {
            return Err(Error::errno(
                crate::errno::EIO,
                format_args!("failed to read file"),
            ));
        }
        let len = buf.len().min(left);
        let n = self.fs.read(handle, &mut buf[..len])?;
        self.read_fails_after = Some(left - n);
        Ok(n)
    }

    fn write(&mut self, handle: i64, data: &[u8]) -> Result<usize> {
        if handle == ZERO_HANDLE {
            self.sunk += data.len() as u64;
            return Ok(data.len());
        }
        self.fs.write(handle, data)
    }

    fn seek(&mut self, handle: i64, offset: i64, whence: Whence) -> Result<i64> {
        if handle == ZERO_HANDLE {
            return Ok(0);
        }
        self.fs.seek(handle, offset, whence)
    }

    fn flush(&mut self, handle: i64) -> Result<()> {
        if handle == ZERO_HANDLE {
            return Ok(());
        }
        self.fs.flush(handle)
    }

    fn check(&mut self, handle: i64) -> Result<()> {
        if handle == ZERO_HANDLE {
            return Ok(());
        }
        self.fs.check(handle)
    }
}

impl Spool for MockPlatform {
    fn reset(&mut self) -> Result<()> {
        self.spool_len = 0;
        Ok(())
    }

    fn write(&mut self, data: &[u8]) -> Result<()> {
        let end = self.spool_len + data.len();
        let Some(dst) = self.spool.get_mut(self.spool_len..end) else {
            return Err(Error::errno(
                crate::errno::ENOSPC,
                format_args!("failed to spool data"),
            ));
        };
        dst.copy_from_slice(data);
        self.spool_len = end;
        Ok(())
    }

    fn release(&mut self) {
        self.spool_releases += 1;
    }

    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let data = self.spooled().get(offset as usize..).unwrap_or(&[]);
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        Ok(n)
    }
}

impl Processes for MockPlatform {
    fn exec(&mut self, req: &ExecRequest<'_>) -> Result<i64> {
        if req.path.is_empty() || req.path.starts_with("/nonexistent") {
            return Err(Error::errno(
                crate::errno::ENOENT,
                format_args!("Failed to execute child process “{}”", req.path),
            ));
        }
        let pid = self.next_pid;
        self.next_pid += 1;
        let stdin = if req.input_in_spool {
            self.spool_len
        } else {
            0
        };
        self.process = Some((pid, stdin, req.capture));
        Ok(pid)
    }

    fn status(&mut self, pid: i64) -> Result<ExecStatus> {
        let Some((p, stdin, capture)) = self.process.filter(|p| p.0 == pid) else {
            return Err(Error::msg(format_args!("PID {pid} does not exist")));
        };
        let _ = p;
        let out = matches!(
            capture,
            CaptureOutput::Stdout | CaptureOutput::Separated | CaptureOutput::Merged
        )
        .then_some(CapturedStream {
            len: stdin as u64,
            truncated: false,
        });
        let err = matches!(capture, CaptureOutput::Stderr | CaptureOutput::Separated).then_some(
            CapturedStream {
                len: 0,
                truncated: false,
            },
        );
        Ok(ExecStatus {
            exited: true,
            exitcode: Some(0),
            signal: None,
            out,
            err,
        })
    }

    fn output(
        &mut self,
        _pid: i64,
        stream: OutputStream,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize> {
        match stream {
            OutputStream::Stdout => Spool::read(self, offset, buf),
            OutputStream::Stderr => Ok(0),
        }
    }

    fn release(&mut self, pid: i64) {
        if self.process.is_some_and(|p| p.0 == pid) {
            self.process = None;
        }
    }
}

impl SystemInfo for MockPlatform {
    fn host_name(&mut self, out: &mut dyn FnMut(&HostName<'_>) -> Result<()>) -> Result<()> {
        out(&HostName {
            host_name: "mock-guest",
        })
    }

    fn timezone(&mut self, out: &mut dyn FnMut(&Timezone<'_>) -> Result<()>) -> Result<()> {
        out(&Timezone {
            zone: Some("UTC"),
            offset: 0,
        })
    }

    fn os_info(&mut self, out: &mut dyn FnMut(&OsInfo<'_>) -> Result<()>) -> Result<()> {
        out(&OsInfo {
            id: Some("mock"),
            name: Some("Mock OS"),
            machine: Some("x86_64"),
            ..OsInfo::default()
        })
    }
}

impl Users for MockPlatform {
    fn list(&mut self, out: &mut dyn FnMut(&User<'_>) -> Result<()>) -> Result<()> {
        out(&User {
            user: "root",
            domain: None,
            login_time: 1_700_000_000.25,
        })
    }

    fn set_password(&mut self, username: &str, _password: &[u8], _crypted: bool) -> Result<()> {
        if username == "root" {
            return Ok(());
        }
        Err(Error::msg(format_args!(
            "child process has failed to set user password: exit status 1"
        )))
    }
}

impl Fsfreeze for MockPlatform {
    fn status(&mut self) -> Result<FsfreezeStatus> {
        Ok(if self.frozen {
            FsfreezeStatus::Frozen
        } else {
            FsfreezeStatus::Thawed
        })
    }

    fn freeze(&mut self, mountpoints: Option<StrList<'_>>) -> Result<i64> {
        let n = mountpoints.map_or(1, |m| m.iter().filter(|p| *p == "/").count() as i64);
        self.frozen = n > 0;
        Ok(n)
    }

    fn thaw(&mut self) -> Result<i64> {
        if self.thaw_fails {
            return Err(Error::msg(format_args!("failed to thaw /: Device busy")));
        }
        let n = self.frozen as i64;
        self.frozen = false;
        Ok(n)
    }

    fn fstrim(
        &mut self,
        minimum: Option<i64>,
        out: &mut dyn FnMut(&TrimResult<'_>) -> Result<()>,
    ) -> Result<()> {
        out(&TrimResult {
            path: "/",
            trimmed: Some(0),
            minimum: Some(minimum.unwrap_or(0)),
            error: None,
        })
    }
}

impl Filesystems for MockPlatform {
    fn disks(&mut self, out: &mut dyn FnMut(&DiskInfo<'_>) -> Result<()>) -> Result<()> {
        out(&DiskInfo {
            name: "/dev/vda",
            partition: false,
            dependencies: Some(&[]),
            address: None,
            alias: None,
            smart: None,
        })
    }

    fn fs_info(&mut self, out: &mut dyn FnMut(&FilesystemInfo<'_>) -> Result<()>) -> Result<()> {
        let disk = [DiskAddress {
            pci_controller: PciAddress {
                domain: 0,
                bus: 0,
                slot: 4,
                function: 0,
            },
            bus_type: "virtio",
            bus: 0,
            target: 0,
            unit: 0,
            serial: Some("MOCKDISK"),
            dev: Some("/dev/vda"),
            ccw_address: None,
        }];
        out(&FilesystemInfo {
            name: "vda",
            mountpoint: "/",
            fs_type: "ext4",
            used_bytes: Some(4096),
            total_bytes: Some(16 << 20),
            total_bytes_privileged: Some(16 << 20),
            disk: &disk,
        })
    }
}

impl Network for MockPlatform {
    fn routes(&mut self, out: &mut dyn FnMut(&NetworkRoute<'_>) -> Result<()>) -> Result<()> {
        out(&NetworkRoute {
            iface: "lo",
            destination: "127.0.0.0",
            metric: 0,
            version: 4,
            mask: Some("255.0.0.0"),
            ..NetworkRoute::default()
        })?;
        out(&NetworkRoute {
            iface: "eth0",
            destination: "fe80::",
            metric: 256,
            version: 6,
            source: Some("::"),
            nexthop: Some("::"),
            desprefixlen: Some("64"),
            srcprefixlen: Some("0"),
            refcnt: Some(-1),
            use_: Some(3),
            flags: Some(2_149_580_801),
            ..NetworkRoute::default()
        })
    }

    fn interfaces(
        &mut self,
        out: &mut dyn FnMut(&NetworkInterface<'_>) -> Result<()>,
    ) -> Result<()> {
        let addrs = [
            IpAddress {
                ip_address: "127.0.0.1",
                ipv6: false,
                prefix: 8,
            },
            IpAddress {
                ip_address: "::1",
                ipv6: true,
                prefix: 128,
            },
        ];
        out(&NetworkInterface {
            name: "lo",
            hardware_address: Some("00:00:00:00:00:00"),
            ip_addresses: Some(&addrs),
            statistics: Some(InterfaceStats::default()),
        })
    }
}

impl Vcpus for MockPlatform {
    fn list(&mut self, out: &mut dyn FnMut(&LogicalProcessor) -> Result<()>) -> Result<()> {
        for (i, &online) in self.vcpus.iter().enumerate() {
            out(&LogicalProcessor {
                logical_id: i as i64,
                online,
                can_offline: Some(i > 0),
            })?;
        }
        Ok(())
    }

    fn set(&mut self, logical_id: i64, online: bool) -> Result<()> {
        match logical_id {
            1 => {
                self.vcpus[1] = online;
                Ok(())
            }
            0 if online => Ok(()),
            n => Err(Error::msg(format_args!(
                "logical processor #{n} can't be offlined"
            ))),
        }
    }
}

impl MemoryBlocks for MockPlatform {
    fn list(&mut self, out: &mut dyn FnMut(&MemoryBlock) -> Result<()>) -> Result<()> {
        out(&MemoryBlock {
            phys_index: 0,
            online: true,
            can_offline: Some(false),
        })?;
        out(&MemoryBlock {
            phys_index: 1,
            online: true,
            can_offline: Some(true),
        })
    }

    fn set(&mut self, phys_index: u64, _online: bool) -> Result<MemoryBlockResponse> {
        Ok(if phys_index < 2 {
            MemoryBlockResponse::Success
        } else {
            MemoryBlockResponse::NotFound
        })
    }

    fn block_size(&mut self) -> Result<u64> {
        Ok(128 << 20)
    }
}

impl Stats for MockPlatform {
    fn disk_stats(&mut self, out: &mut dyn FnMut(&DiskStatsInfo<'_>) -> Result<()>) -> Result<()> {
        out(&DiskStatsInfo {
            name: "vda",
            major: 253,
            minor: 0,
            stats: DiskStats {
                read_ios: Some(7),
                ..DiskStats::default()
            },
        })
    }

    fn load_average(&mut self) -> Result<LoadAverage> {
        Ok(LoadAverage {
            load1m: 0.5,
            load5m: 0.25,
            load15m: 0.0,
        })
    }

    fn cpu_stats(&mut self, out: &mut dyn FnMut(&CpuStats) -> Result<()>) -> Result<()> {
        out(&CpuStats {
            cpu: 0,
            user: 10,
            nice: 0,
            system: 5,
            idle: 100,
            iowait: Some(1),
            ..CpuStats::default()
        })
    }
}

impl Ssh for MockPlatform {
    fn authorized_keys(
        &mut self,
        username: &str,
        out: &mut dyn FnMut(&str) -> Result<()>,
    ) -> Result<()> {
        if username != "root" {
            return Err(Error::msg(format_args!(
                "failed to lookup user '{username}': Success"
            )));
        }
        out("ssh-ed25519 AAAA root@mock")
    }

    fn add(&mut self, _username: &str, keys: StrList<'_>, reset: bool) -> Result<()> {
        if reset {
            self.ssh_keys.clear();
        }
        for k in keys.iter() {
            let _ = self.ssh_keys.push_str(k);
            let _ = self.ssh_keys.push('\0');
        }
        Ok(())
    }

    fn remove(&mut self, _username: &str, keys: StrList<'_>) -> Result<()> {
        let mut kept = heapless::String::<256>::new();
        for k in self.ssh_keys.split_terminator('\0') {
            if !keys.iter().any(|r| r == k) {
                let _ = kept.push_str(k);
                let _ = kept.push('\0');
            }
        }
        self.ssh_keys = kept;
        Ok(())
    }
}
