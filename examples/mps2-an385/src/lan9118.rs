//! A small polling driver for the SMSC LAN9118 Ethernet controller (as on the
//! MPS2 boards and in QEMU's `mps2-an385`), as a smoltcp [`Device`].
//!
//! 32-bit PIO only: frames go through the TX data FIFO with the two command
//! words, and come out of the RX data FIFO after their RX status word. No
//! interrupts, no DMA. All `unsafe` is the volatile register access below.

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Where the MPS2 boards map the LAN9118.
pub const MPS2_BASE: usize = 0x4020_0000;

const RX_DATA_FIFO: usize = 0x00;
const TX_DATA_FIFO: usize = 0x20;
const RX_STATUS_FIFO: usize = 0x40;
const TX_STATUS_FIFO: usize = 0x48;
const ID_REV: usize = 0x50;
const INT_STS: usize = 0x58;
const INT_EN: usize = 0x5c;
const BYTE_TEST: usize = 0x64;
const RX_CFG: usize = 0x6c;
const TX_CFG: usize = 0x70;
const HW_CFG: usize = 0x74;
const RX_FIFO_INF: usize = 0x7c;
const TX_FIFO_INF: usize = 0x80;
const FREE_RUN: usize = 0x9c;
const MAC_CSR_CMD: usize = 0xa4;
const MAC_CSR_DATA: usize = 0xa8;

const MAC_CR: u32 = 1;
const MAC_ADDRH: u32 = 2;
const MAC_ADDRL: u32 = 3;
const MAC_CR_FDPX: u32 = 1 << 20;
const MAC_CR_TXEN: u32 = 1 << 3;
const MAC_CR_RXEN: u32 = 1 << 2;
const CSR_BUSY: u32 = 1 << 31;
const CSR_READ: u32 = 1 << 30;

/// Largest Ethernet frame handled (no VLAN tags, CRC stripped).
pub const MTU: usize = 1514;

/// The register block; `Copy` so RX and TX tokens can each hold it.
#[derive(Clone, Copy)]
struct Regs {
    base: usize,
}

impl Regs {
    fn read(self, offset: usize) -> u32 {
        // SAFETY: `base` is the LAN9118's MMIO block (checked by `Lan9118::new`
        // through BYTE_TEST) and `offset` one of its 32-bit registers.
        unsafe { core::ptr::read_volatile((self.base + offset) as *const u32) }
    }

    fn write(self, offset: usize, value: u32) {
        // SAFETY: as in `read`.
        unsafe { core::ptr::write_volatile((self.base + offset) as *mut u32, value) }
    }

    fn mac_busy_wait(self) {
        for _ in 0..10_000 {
            if self.read(MAC_CSR_CMD) & CSR_BUSY == 0 {
                return;
            }
        }
    }

    fn mac_write(self, reg: u32, value: u32) {
        self.mac_busy_wait();
        self.write(MAC_CSR_DATA, value);
        self.write(MAC_CSR_CMD, CSR_BUSY | reg);
        self.mac_busy_wait();
    }

    fn mac_read(self, reg: u32) -> u32 {
        self.mac_busy_wait();
        self.write(MAC_CSR_CMD, CSR_BUSY | CSR_READ | reg);
        self.mac_busy_wait();
        self.read(MAC_CSR_DATA)
    }

    /// Reads one received frame into `buf` (CRC stripped); `None` if none
    /// waits. Frames with errors or too long for `buf` are read and dropped.
    fn receive(self, buf: &mut [u8]) -> Option<usize> {
        // Bounded: a frame per call, a few dropped ones skipped.
        for _ in 0..8 {
            let waiting = (self.read(RX_FIFO_INF) >> 16) & 0xff;
            if waiting == 0 {
                return None;
            }
            let status = self.read(RX_STATUS_FIFO);
            let len = ((status >> 16) & 0x3fff) as usize; // includes the 4-byte CRC
            let words = len.div_ceil(4);
            let error = status & (1 << 15) != 0;
            let frame = len.saturating_sub(4);
            let keep = !error && frame >= 14 && frame <= buf.len();
            for w in 0..words {
                let word = self.read(RX_DATA_FIFO).to_le_bytes();
                if keep {
                    for (i, b) in word.iter().enumerate() {
                        if let Some(slot) = buf.get_mut(w * 4 + i).filter(|_| w * 4 + i < frame) {
                            *slot = *b;
                        }
                    }
                }
            }
            if keep {
                return Some(frame);
            }
        }
        None
    }

    /// Queues one frame; drops it if the TX FIFO has no room.
    fn transmit(self, frame: &[u8]) {
        // Drain TX status words so the status FIFO never fills up.
        while (self.read(TX_FIFO_INF) >> 16) & 0xff != 0 {
            let _ = self.read(TX_STATUS_FIFO);
        }
        let len = frame.len() as u32 & 0x7ff;
        let free = self.read(TX_FIFO_INF) & 0xffff;
        if free < len + 8 {
            return;
        }
        // Command A: first and last segment, buffer size. Command B: tag, length.
        self.write(TX_DATA_FIFO, (1 << 13) | (1 << 12) | len);
        self.write(TX_DATA_FIFO, (len << 16) | len);
        for chunk in frame.chunks(4) {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write(TX_DATA_FIFO, u32::from_le_bytes(word));
        }
    }
}

/// Why the controller could not be brought up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitError {
    /// BYTE_TEST did not read 0x87654321: no LAN9118 at that address.
    NotFound,
    /// The soft reset did not finish.
    ResetTimeout,
}

/// A LAN9118 as a smoltcp device.
pub struct Lan9118 {
    regs: Regs,
    rx: [u8; MTU],
    tx: [u8; MTU],
}

impl Lan9118 {
    /// Resets the controller at `base`, sets its MAC address and enables
    /// transmit and receive (broadcasts accepted, not promiscuous).
    ///
    /// # Safety
    /// `base` must be the address of a LAN9118 register block that nothing
    /// else uses.
    pub unsafe fn new(base: usize, mac: [u8; 6]) -> Result<Lan9118, InitError> {
        let regs = Regs { base };
        if regs.read(BYTE_TEST) != 0x8765_4321 {
            return Err(InitError::NotFound);
        }
        regs.write(HW_CFG, 1); // SRST
        let mut reset = false;
        for _ in 0..100_000 {
            if regs.read(HW_CFG) & 1 == 0 {
                reset = true;
                break;
            }
        }
        if !reset {
            return Err(InitError::ResetTimeout);
        }
        regs.write(INT_EN, 0);
        regs.write(INT_STS, 0xffff_ffff);
        regs.write(RX_CFG, 0); // no offset, 4-byte end alignment
        regs.write(TX_CFG, 1 << 1); // TX_ON
        regs.mac_write(
            MAC_ADDRL,
            u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]),
        );
        regs.mac_write(MAC_ADDRH, u32::from(mac[4]) | (u32::from(mac[5]) << 8));
        regs.mac_write(MAC_CR, MAC_CR_FDPX | MAC_CR_TXEN | MAC_CR_RXEN);
        Ok(Lan9118 {
            regs,
            rx: [0; MTU],
            tx: [0; MTU],
        })
    }

    /// The chip's ID and revision register.
    pub fn id(&self) -> u32 {
        self.regs.read(ID_REV)
    }

    /// MAC_CR as the controller has it (for logs).
    pub fn mac_cr(&self) -> u32 {
        self.regs.mac_read(MAC_CR)
    }

    /// The controller's 25 MHz free-running counter (wraps every ~172 s).
    pub fn free_run(&self) -> u32 {
        self.regs.read(FREE_RUN)
    }
}

/// A received frame.
pub struct RxToken<'a>(&'a mut [u8]);

/// Room to send a frame.
pub struct TxToken<'a> {
    regs: Regs,
    buf: &'a mut [u8; MTU],
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let len = len.min(MTU);
        let frame = &mut self.buf[..len];
        let r = f(frame);
        self.regs.transmit(frame);
        r
    }
}

impl Device for Lan9118 {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let n = self.regs.receive(&mut self.rx)?;
        Some((
            RxToken(&mut self.rx[..n]),
            TxToken {
                regs: self.regs,
                buf: &mut self.tx,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        Some(TxToken {
            regs: self.regs,
            buf: &mut self.tx,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MTU;
        caps.max_burst_size = Some(1);
        caps
    }
}
