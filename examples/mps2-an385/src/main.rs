//! networkzero on bare metal: QEMU `mps2-an385` (Cortex-M3) with its LAN9118 NIC.
//!
//! Advertises `qemu-robot` (TCP 5555) and answers messages in a plain poll loop
//! (`networkzero-smoltcp` over smoltcp over the small LAN9118 driver in
//! `lan9118.rs`). Messages are the [`protocol`] types, in JSON or postcard
//! (the core's codec tells them apart): the wheel commands (`"forward"`,
//! `"left"`, `"right"`, `"stop"`, a drive) get `"ack"`, a status request gets
//! the [`protocol::Status`] in the request's format, `"ping"` gets `"pong"`,
//! `"quit"` gets `"bye"` and then the guest says goodbye to the LAN and exits
//! with status 0 through semihosting; any other JSON gets `{"echo": MESSAGE}`,
//! other postcard an error in JSON. It publishes its wheels as postcard news
//! (`qemu-robot/news`, TCP 5556, topic `odometry`) every 100 ms: a name only
//! Rust programs read. Logs go to the semihosting console.
//!
//! Built with feature `curve` (and the class passphrase in `NW0_CLASS_KEY` at
//! build time) it is a keyed robot: its connections are CURVE with the class
//! keys, a program without the passphrase gets nothing, and each refusal is
//! logged (`REFUSED …`). Its adverts are sealed with the class key; having
//! no wall clock, it learns its class's time from the first sealed advert or
//! query of a keyed program it verifies (`CLOCK …`), and seals, advertises
//! and answers only from then on, so keyed programs find it by name, even one
//! that only discovers (see networkzero_core's `auth` module for why that is
//! safe).
//! QEMU has no entropy source: the keyed build's CURVE seeds come from a
//! seed written at build time mixed with the NIC's free-running counter at
//! boot. That is enough for a test and NOT for a real board, which must give
//! `Node::set_class_keys` 32 bytes from a real entropy source (on an RP2040,
//! the ROSC's random bit, whitened) at every boot.
//!
//! Semihosting arguments: `NAME IP GATEWAY` (defaults `nw0 10.200.0.60 10.200.0.254`),
//! e.g. `-semihosting-config enable=on,target=native,arg=nw0,arg=10.200.3.60,arg=10.200.3.254`.
//! Run it only with its NIC on a tap inside a network namespace
//! (tests/tests/bare_metal.rs does).
#![no_std]
#![no_main]

mod lan9118;
#[cfg(feature = "networkzero")]
mod protocol;

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
    use crate::protocol::{Command, Odometry, Status, NAME, NEWS, ODOMETRY};
    use networkzero_core::beacon;
    use networkzero_core::node::{Event, Node};
    use networkzero_core::payload::{self, Format};
    use networkzero_smoltcp::{core_instant, Config as SocketConfig, Sockets, Storage};

    // The Pico W robot's slots, buffers and advert table
    // (examples/pico-w-robot): two command peers and one news subscriber at
    // once. The QEMU test proves that configuration works.
    const SLOTS: usize = 3;
    const COMMAND_PEERS: usize = 2;
    const NEWS_PEERS: usize = 1;
    /// ZMTP buffers per direction: CURVE's handshake needs 384 bytes.
    #[cfg(not(feature = "curve"))]
    const BUF: usize = 256;
    #[cfg(feature = "curve")]
    const BUF: usize = networkzero_core::zmtp::MIN_RX_BUFFER_CURVE;
    type Robot = Node<SLOTS, BUF, 4>;

    /// The class passphrase, given at build time.
    #[cfg(feature = "curve")]
    const CLASS_KEY: &str = env!(
        "NW0_CLASS_KEY",
        "the keyed build (feature curve) takes the class passphrase from NW0_CLASS_KEY"
    );

    /// Keys the node: the class keys derived once into a static, and the
    /// stand-in entropy (see the crate docs: a test's, not a board's); its
    /// adverts sealed with the class key, once it has learned the time.
    #[cfg(feature = "curve")]
    fn key(node: &mut Robot, nic: &Lan9118, now: networkzero_core::Instant) {
        use networkzero_core::auth::ClassKey;
        use networkzero_core::zmtp::curve::ClassKeys;
        let Some(keys) = cortex_m::singleton!(: ClassKeys = ClassKeys::from_passphrase(CLASS_KEY))
        else {
            exit(false)
        };
        let mut entropy = *include_bytes!(concat!(env!("OUT_DIR"), "/seed.bin"));
        for (e, t) in entropy.iter_mut().zip(nic.free_run().to_le_bytes()) {
            *e ^= t;
        }
        if let Err(e) = node.set_class_keys(Some(keys), entropy) {
            hprintln!("set_class_keys: {}", e);
            exit(false);
        }
        node.set_class_key(Some(ClassKey::from_passphrase(CLASS_KEY)), now);
        hprintln!("KEYED");
        hprintln!("NO CLOCK: adverts wait for the class's time");
    }

    /// Says once when the node has learned its class's time (and so seals
    /// and advertises from now on); `told`: said already.
    #[cfg(feature = "curve")]
    fn tell_clock(node: &Robot, now: networkzero_core::Instant, told: &mut bool) {
        if !*told {
            if let Some(unix_ms) = node.beacon().wall_clock(now) {
                *told = true;
                hprintln!("CLOCK {} (learned from the class)", unix_ms);
            }
        }
    }
    type Buffers = Storage<SLOTS, TCP_BUF, UDP_BUF>;

    const PORT: u16 = 5555;
    const NEWS_PORT: u16 = 5556;
    const NEWS_EVERY: smoltcp::time::Duration = smoltcp::time::Duration::from_millis(100);

    /// The robot's wheels and what it has obeyed.
    #[derive(Default)]
    struct Wheels(Status);

    impl Wheels {
        /// The reply to `data` in `buf`, and whether it was "quit".
        fn reply_for<'b>(&mut self, data: &[u8], buf: &'b mut [u8; 600]) -> (&'b [u8], bool) {
            let format = Format::of(data);
            let mut scratch = [0u8; 32];
            let command: Result<Command, _> = payload::decode(data, &mut scratch);
            if let Ok(command) = command {
                hprintln!("COMMAND {:?} {:?}", command, format);
            }
            let fixed: &'static [u8] = match command {
                Ok(Command::Status) => {
                    // Answered in kind: postcard only to a postcard request.
                    return match payload::encode(&self.0, format, &mut buf[..]) {
                        Ok(n) => (&buf[..n], false),
                        Err(_) => (b"null", false),
                    };
                }
                Ok(Command::Ping) => br#""pong""#,
                Ok(Command::Quit) => br#""bye""#,
                Ok(wheel_command) => {
                    if let Some((left, right)) = wheel_command.wheels() {
                        self.0 = Status {
                            commands: self.0.commands.wrapping_add(1),
                            left,
                            right,
                        };
                    }
                    br#""ack""#
                }
                Err(_) if format == Format::Postcard => {
                    br#"{"error": "postcard that is not a protocol::Command"}"#
                }
                Err(_) => b"",
            };
            if !fixed.is_empty() {
                let n = fixed.len();
                buf[..n].copy_from_slice(fixed);
                return (&buf[..n], fixed == br#""bye""#);
            }
            echo(data, buf)
        }
    }

    /// `{"echo": MESSAGE}` for JSON that is not a command.
    fn echo<'b>(data: &[u8], buf: &'b mut [u8; 600]) -> (&'b [u8], bool) {
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
        #[cfg(feature = "curve")]
        key(&mut node, nic, core_instant(clock.now(nic)));
        #[cfg(feature = "curve")]
        let mut clock_told = false;
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
        if let Err(e) = node.serve(NAME, PORT, COMMAND_PEERS, core_instant(now)) {
            hprintln!("serve: {}", e);
            exit(false);
        }
        let news = match node.publish_on(NEWS, NEWS_PORT, NEWS_PEERS, core_instant(now)) {
            Ok(id) => id,
            Err(e) => {
                hprintln!("publish_on: {}", e);
                exit(false)
            }
        };
        hprintln!(
            "RAM node {} B, socket storage {} B, socket set {} B (on main's stack)",
            core::mem::size_of::<Robot>(),
            core::mem::size_of::<Buffers>(),
            core::mem::size_of_val(&set)
                + core::mem::size_of::<[SocketStorage; Sockets::<SLOTS>::COUNT]>()
        );
        hprintln!("READY {} {}:{}", NAME, ip, PORT);
        let mut reply_buf = [0u8; 600];
        let mut wheels = Wheels::default();
        let mut odometry = Odometry::default();
        let mut next_news = now + NEWS_EVERY;
        let mut quit_at: Option<Instant> = None;
        loop {
            let now = clock.now(nic);
            sockets.poll(&mut node, iface, nic, &mut set, now);
            #[cfg(feature = "curve")]
            tell_clock(&node, core_instant(now), &mut clock_told);
            while let Some(event) = node.poll_event() {
                match event {
                    Event::Request { request, data, .. } => {
                        match (Format::of(data), core::str::from_utf8(data)) {
                            (Format::Json, Ok(text)) => hprintln!("REQUEST {}", text),
                            (Format::Json, Err(_)) => hprintln!("REQUEST <not UTF-8>"),
                            (Format::Postcard, _) => hprintln!("REQUEST <postcard {:02x?}>", data),
                        }
                        let (reply, quit) = wheels.reply_for(data, &mut reply_buf);
                        if let Err(e) = node.reply(request, reply) {
                            hprintln!("reply failed: {}", e);
                        }
                        if quit {
                            quit_at = Some(now + smoltcp::time::Duration::from_millis(500));
                            node.unadvertise(NAME, core_instant(now));
                            node.unadvertise(NEWS, core_instant(now));
                        }
                    }
                    Event::Discovered { name, address } => {
                        hprintln!("DISCOVERED {} {}", name.as_str(), address)
                    }
                    // A peer without the class key (or with another's): told
                    // at most once per slot every KEY_RETRY, all counted.
                    #[cfg(feature = "curve")]
                    Event::KeyRefused { slot, error, .. } => {
                        hprintln!(
                            "REFUSED slot {} {} ({} so far)",
                            slot,
                            error.map_or("the peer hung up in the handshake", |e| e.as_str()),
                            node.key_refusals()
                        )
                    }
                    _ => {}
                }
            }
            if now >= next_news {
                next_news = now + NEWS_EVERY;
                let Status { left, right, .. } = wheels.0;
                odometry = Odometry {
                    n: odometry.n.wrapping_add(1),
                    left,
                    right,
                };
                // Postcard: this name's news are for Rust programs only.
                let mut buf = [0u8; 16];
                if let Ok(n) = payload::encode(&odometry, Format::Postcard, &mut buf) {
                    if let Err(e) = node.publish(news, ODOMETRY.as_bytes(), &buf[..n]) {
                        hprintln!("publish failed: {}", e);
                    }
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
                .is_none_or(|at| at > now && next_news > now)
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
