//! networkzero on bare metal: QEMU `mps2-an385` (Cortex-M3) with its LAN9118 NIC.
//!
//! Advertises `qemu-robot` (TCP 5555) and answers messages in a plain poll loop
//! (`networkzero-smoltcp` over smoltcp over the small LAN9118 driver in
//! `lan9118.rs`): the commands `"forward"`, `"left"`, `"right"`, `"stop"` get
//! `"ack"`, `"ping"` gets `"pong"`, `"quit"` gets `"bye"` and then the guest
//! says goodbye to the LAN and exits with status 0 through semihosting; any
//! other JSON gets `{"echo": MESSAGE}`. Logs go to the semihosting console.
//!
//! Semihosting arguments: `NAME IP GATEWAY` (defaults `nw0 10.200.0.60 10.200.0.254`),
//! e.g. `-semihosting-config enable=on,target=native,arg=nw0,arg=10.200.3.60,arg=10.200.3.254`.
//! Run it only with its NIC on a tap inside a network namespace
//! (tests/tests/bare_metal.rs does).
#![no_std]
#![no_main]

mod lan9118;

use core::net::Ipv4Addr;
use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::{debug, hprintln};
use smoltcp::iface::{Config, Interface, SocketSet, SocketStorage};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, IpCidr};

use lan9118::Lan9118;

/// Give up (exit status 1) after this long: the test never needs more.
const LIFETIME_MS: i64 = 180_000;

static TICKS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("PANIC {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

fn exit(ok: bool) -> ! {
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

/// Milliseconds since boot from the LAN9118's 25 MHz free-running counter.
struct Clock {
    last: u32,
    ticks: u64,
}

impl Clock {
    fn now(&mut self, nic: &Lan9118) -> Instant {
        let raw = nic.free_run();
        self.ticks += u64::from(raw.wrapping_sub(self.last));
        self.last = raw;
        Instant::from_micros((self.ticks / 25) as i64)
    }
}

/// The semihosting command line (`SYS_GET_CMDLINE`), split on spaces.
fn cmdline(buf: &mut [u8; 128]) -> &str {
    let mut block = [buf.as_mut_ptr() as usize, buf.len()];
    let block_ptr = block.as_mut_ptr();
    // SAFETY: SYS_GET_CMDLINE takes a pointer to {buffer, length}; the host
    // writes at most `buf.len()` bytes into `buf` and the used length into
    // `block[1]`, both alive and exclusively ours for the call.
    let r = unsafe {
        cortex_m_semihosting::syscall1(cortex_m_semihosting::nr::GET_CMDLINE, block_ptr as usize)
    };
    // SAFETY: `block_ptr` points into `block`, written by the host above.
    let len = unsafe { core::ptr::read_volatile(block_ptr.add(1)) };
    if r != 0 || len > buf.len() {
        return "";
    }
    core::str::from_utf8(&buf[..len]).unwrap_or("")
}

#[entry]
fn main() -> ! {
    let mut core = cortex_m::Peripherals::take().unwrap_or_else(|| exit(false));
    core.SYST.set_clock_source(SystClkSource::Core);
    core.SYST.set_reload(25_000 - 1); // 1 ms at 25 MHz: wakes the WFI below
    core.SYST.clear_current();
    core.SYST.enable_interrupt();
    core.SYST.enable_counter();

    let mut args_buf = [0u8; 128];
    let mut args = cmdline(&mut args_buf).split(' ').skip(1);
    let ip: Ipv4Addr = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(Ipv4Addr::new(10, 200, 0, 60));
    let gateway: Ipv4Addr = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(Ipv4Addr::new(10, 200, 0, 254));

    let o = ip.octets();
    let mac = [0x02, 0x4e, 0x57, o[1], o[2], o[3]];
    // SAFETY: the MPS2 boards have their LAN9118 there; only this driver uses it.
    let mut nic = match unsafe { Lan9118::new(lan9118::MPS2_BASE, mac) } {
        Ok(nic) => nic,
        Err(e) => {
            hprintln!("LAN9118 init failed: {:?}", e);
            exit(false)
        }
    };
    hprintln!(
        "LAN9118 id {:#010x} mac_cr {:#010x}",
        nic.id(),
        nic.mac_cr()
    );
    let mut clock = Clock {
        last: nic.free_run(),
        ticks: 0,
    };

    let mut config = Config::new(EthernetAddress(mac).into());
    config.random_seed = u64::from(nic.free_run());
    let start = clock.now(&nic);
    let mut iface = Interface::new(config, &mut nic, start);
    iface.update_ip_addrs(|addrs| {
        let _ = addrs.push(IpCidr::new(ip.into(), 24));
    });
    let _ = iface.routes_mut().add_default_ipv4_route(gateway);

    app::run(&mut iface, &mut nic, &mut clock, ip)
}

/// smoltcp buffers per direction, the Pico W robot's: TCP, and UDP receive.
const TCP_BUF: usize = 192;
const UDP_BUF: usize = 512;

#[cfg(feature = "networkzero")]
mod app {
    use super::*;
    use networkzero_core::node::{Event, Node};
    use networkzero_core::{beacon, payload};
    use networkzero_smoltcp::{core_instant, Config as SocketConfig, Sockets, Storage};

    const SLOTS: usize = 2;
    // The Pico W robot's buffers and advert table (examples/pico-w-robot):
    // the QEMU test proves that configuration works.
    type Robot = Node<SLOTS, 256, 4>;
    type Buffers = Storage<SLOTS, TCP_BUF, UDP_BUF>;

    const NAME: &str = "qemu-robot";
    const PORT: u16 = 5555;

    fn reply_for<'b>(data: &[u8], buf: &'b mut [u8; 600]) -> (&'b [u8], bool) {
        let mut scratch = [0u8; 32];
        let command: Result<heapless::String<32>, _> = payload::decode(data, &mut scratch);
        let fixed: &'static [u8] = match command.as_deref() {
            Ok("forward" | "left" | "right" | "stop") => br#""ack""#,
            Ok("ping") => br#""pong""#,
            Ok("quit") => br#""bye""#,
            _ => b"",
        };
        if !fixed.is_empty() {
            let n = fixed.len();
            buf[..n].copy_from_slice(fixed);
            return (&buf[..n], fixed == br#""bye""#);
        }
        let ok = payload::check_depth(data).is_ok() && data.len() + 12 <= buf.len();
        if !ok {
            let e = br#"{"error": "too long or too deep"}"#;
            buf[..e.len()].copy_from_slice(e);
            return (&buf[..e.len()], false);
        }
        let head = br#"{"echo": "#;
        let mut n = 0;
        for part in [&head[..], data, b"}"] {
            buf[n..n + part.len()].copy_from_slice(part);
            n += part.len();
        }
        (&buf[..n], false)
    }

    pub fn run(iface: &mut Interface, nic: &mut Lan9118, clock: &mut Clock, ip: Ipv4Addr) -> ! {
        // Everything lives in this never-returning frame: no statics, no heap.
        let mut node: Robot = Node::new(beacon::Config::default());
        let mut storage: Buffers = Storage::new();
        let mut entries = [SocketStorage::EMPTY; Sockets::<SLOTS>::COUNT];
        let mut set = SocketSet::new(&mut entries[..]);
        let config = SocketConfig {
            port_seed: nic.free_run() as u16,
            ..SocketConfig::default()
        };
        let mut sockets = match Sockets::new(&mut storage, &mut set, &node, config) {
            Ok(s) => s,
            Err(e) => {
                hprintln!("sockets: {}", e);
                exit(false)
            }
        };
        let now = clock.now(nic);
        if let Err(e) = node.serve(NAME, PORT, SLOTS, core_instant(now)) {
            hprintln!("serve: {}", e);
            exit(false);
        }
        hprintln!(
            "RAM node {} B, socket storage {} B, socket set {} B (on main's stack)",
            core::mem::size_of::<Robot>(),
            core::mem::size_of::<Buffers>(),
            core::mem::size_of_val(&set)
                + core::mem::size_of::<[SocketStorage; Sockets::<SLOTS>::COUNT]>()
        );
        hprintln!("READY {} {}:{}", NAME, ip, PORT);
        let mut reply_buf = [0u8; 600];
        let mut quit_at: Option<Instant> = None;
        loop {
            let now = clock.now(nic);
            sockets.poll(&mut node, iface, nic, &mut set, now);
            while let Some(event) = node.poll_event() {
                match event {
                    Event::Request { request, data, .. } => {
                        let text = core::str::from_utf8(data).unwrap_or("<not UTF-8>");
                        hprintln!("REQUEST {}", text);
                        let (reply, quit) = reply_for(data, &mut reply_buf);
                        if let Err(e) = node.reply(request, reply) {
                            hprintln!("reply failed: {}", e);
                        }
                        if quit {
                            quit_at = Some(now + smoltcp::time::Duration::from_millis(500));
                            node.unadvertise(NAME, core_instant(now));
                        }
                    }
                    Event::Discovered { name, address } => {
                        hprintln!("DISCOVERED {} {}", name.as_str(), address)
                    }
                    _ => {}
                }
            }
            if quit_at.is_some_and(|q| now >= q) {
                hprintln!("BYE");
                exit(true);
            }
            if now.total_millis() > LIFETIME_MS {
                hprintln!("TIMEOUT");
                exit(false);
            }
            if sockets
                .poll_at(&node, iface, &set, now)
                .is_none_or(|at| at > now)
            {
                cortex_m::asm::wfi();
            }
        }
    }
}

#[cfg(not(feature = "networkzero"))]
mod app {
    //! The baseline for footprint numbers: the same NIC driver and smoltcp with
    //! a UDP socket (echo on 9999) and a TCP socket (echo on 5555) of the same
    //! buffer sizes, so the difference is networkzero's own code and state.
    use super::*;
    use smoltcp::socket::{tcp, udp};

    pub fn run(iface: &mut Interface, nic: &mut Lan9118, clock: &mut Clock, ip: Ipv4Addr) -> ! {
        let mut udp_meta = [[udp::PacketMetadata::EMPTY; 8]; 2];
        let mut udp_data = [[0u8; UDP_BUF]; 2];
        let [rx_meta, tx_meta] = &mut udp_meta;
        let [rx_data, tx_data] = &mut udp_data;
        let mut udp = udp::Socket::new(
            udp::PacketBuffer::new(&mut rx_meta[..], &mut rx_data[..]),
            udp::PacketBuffer::new(&mut tx_meta[..], &mut tx_data[..]),
        );
        let _ = udp.bind(9999);
        let mut tcp_data = [[0u8; TCP_BUF]; 2];
        let [rx, tx] = &mut tcp_data;
        let tcp = tcp::Socket::new(
            tcp::SocketBuffer::new(&mut rx[..]),
            tcp::SocketBuffer::new(&mut tx[..]),
        );
        let mut entries = [SocketStorage::EMPTY; 2];
        let mut sockets = SocketSet::new(&mut entries[..]);
        let udp = sockets.add(udp);
        let tcp = sockets.add(tcp);
        hprintln!("READY (no networkzero) {}", ip);
        let mut buf = [0u8; 512];
        loop {
            let now = clock.now(nic);
            let _ = iface.poll(now, nic, &mut sockets);
            let s = sockets.get_mut::<udp::Socket>(udp);
            if let Ok((n, meta)) = s.recv_slice(&mut buf) {
                let _ = s.send_slice(&buf[..n], meta.endpoint);
            }
            let s = sockets.get_mut::<tcp::Socket>(tcp);
            if !s.is_open() {
                let _ = s.listen(5555);
            }
            if s.can_recv() && s.can_send() {
                if let Ok(n) = s.recv_slice(&mut buf) {
                    let _ = s.send_slice(&buf[..n]);
                }
            }
            if now.total_millis() > LIFETIME_MS {
                exit(false);
            }
            cortex_m::asm::wfi();
        }
    }
}
