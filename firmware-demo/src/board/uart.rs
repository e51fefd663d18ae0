//! NS16550A UART at 0x1000_0000 (QEMU virt's `serial0`), polled, as an
//! `embedded_io` byte channel.

use core::convert::Infallible;

use super::mmio::Mmio;

/// Base address of the virt machine's UART.
pub const UART_BASE: usize = 0x1000_0000;

// Register offsets (reg-shift 0: one byte apart).
const RBR_THR_DLL: usize = 0; // receive / transmit / divisor low (DLAB=1)
const IER_DLM: usize = 1; // interrupt enable / divisor high (DLAB=1)
const FCR: usize = 2; // FIFO control (write)
const LCR: usize = 3; // line control
const MCR: usize = 4; // modem control
const LSR: usize = 5; // line status

const LCR_DLAB: u8 = 0x80;
const LCR_8N1: u8 = 0x03;
const FCR_ENABLE_CLEAR: u8 = 0x07; // FIFOs on, both cleared
const MCR_DTR_RTS: u8 = 0x03;
const LSR_DATA_READY: u8 = 0x01;
const LSR_THR_EMPTY: u8 = 0x20;
const LSR_TX_IDLE: u8 = 0x40;

/// virt clocks the UART at 3.6864 MHz; /(16 * 2) gives 115200 baud. QEMU
/// ignores the rate, but a real 16550 needs one.
const DIVISOR_115200: u16 = 2;

/// The UART. It never reports an error: QEMU's 16550 sets no line-error
/// bits for socket input (its chardev back end applies flow control, so
/// the receive FIFO cannot overrun either).
pub struct Uart {
    regs: Mmio,
}

impl Uart {
    /// The virt machine's UART; call [`Uart::init`] once before use.
    pub const fn new() -> Uart {
        // SAFETY: UART_BASE is the 16550's MMIO block on virt (0x100 bytes).
        let regs = unsafe { Mmio::new(UART_BASE) };
        Uart { regs }
    }

    /// 8 data bits, no parity, 1 stop bit, FIFOs on, interrupts off.
    pub fn init(&mut self) {
        let [dll, dlm] = DIVISOR_115200.to_le_bytes();
        self.regs.write8(IER_DLM, 0);
        self.regs.write8(LCR, LCR_DLAB);
        self.regs.write8(RBR_THR_DLL, dll);
        self.regs.write8(IER_DLM, dlm);
        self.regs.write8(LCR, LCR_8N1);
        self.regs.write8(FCR, FCR_ENABLE_CLEAR);
        self.regs.write8(MCR, MCR_DTR_RTS);
    }

    fn lsr(&self) -> u8 {
        self.regs.read8(LSR)
    }

    fn put(&mut self, byte: u8) {
        while self.lsr() & LSR_THR_EMPTY == 0 {}
        self.regs.write8(RBR_THR_DLL, byte);
    }
}

impl Default for Uart {
    fn default() -> Self {
        Uart::new()
    }
}

impl embedded_io::ErrorType for Uart {
    type Error = Infallible;
}

impl embedded_io::ReadReady for Uart {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(self.lsr() & LSR_DATA_READY != 0)
    }
}

impl embedded_io::Read for Uart {
    /// Waits for the first byte, then takes whatever else is already in
    /// the receive FIFO (up to `buf.len()`).
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.lsr() & LSR_DATA_READY == 0 {}
        let mut n = 0;
        while n < buf.len() && self.lsr() & LSR_DATA_READY != 0 {
            buf[n] = self.regs.read8(RBR_THR_DLL);
            n += 1;
        }
        Ok(n)
    }
}

impl embedded_io::Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        for &b in buf {
            self.put(b);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        while self.lsr() & LSR_TX_IDLE == 0 {}
        Ok(())
    }
}
