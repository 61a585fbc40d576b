//! Simulated hosts and LANs made of Linux network namespaces.
//!
//! Only use these after [`crate::require_netns`] returned `true`: the namespaces are
//! made with `ip netns add` under `/run/netns`, which `tests/run.sh` and
//! `/work/shared/sealed` make a private tmpfs, so everything vanishes with the test run
//! even if a test is killed.
//!
//! A [`Lan`] looks like this (K is unique per `Lan` in the process):
//!
//! ```text
//!  host 0 ns            switch ns                         host n-1 ns
//!  eth0 10.200.K.1 ── p0 ┐                            ┌ p(n-1) ── eth0 10.200.K.n
//!                        └── br0 10.200.K.254/24 ─────┘
//! ```
//!
//! Every host has `lo` up, `eth0` = 10.200.K.(i+1)/24 with broadcast 10.200.K.255, and
//! a default route via 10.200.K.254 (Python networkzero needs an IPv4 default route,
//! and a broadcast to 255.255.255.255 needs a route too). A broadcast sent by one host
//! reaches every host on the `Lan`, the sender's own host included (broadcasts loop
//! back), and nothing else.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;

static NETNS_COUNTER: AtomicU32 = AtomicU32::new(0);
static LAN_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Runs `ip ARGS…`; `Err` carries the command and its stderr.
pub fn ip_cmd<S: AsRef<OsStr>>(args: &[S]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let shown: Vec<String> = args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect();
        Err(format!(
            "`ip {}` failed ({}): {}",
            shown.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn unique_name(suffix: &str) -> String {
    let n = NETNS_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("nw0-{}-{}{}", std::process::id(), n, suffix)
}

/// One simulated machine: a named network namespace (`ip netns add`).
///
/// Dropping it deletes the namespace name (`ip netns del`); the kernel frees the
/// namespace once no process or socket still uses it. It kills nothing: processes you
/// started in it are yours to stop (wrap them in a [`crate::ChildGuard`]).
#[derive(Debug)]
pub struct Host {
    /// The namespace name, e.g. `nw0-4242-7` (usable with `ip -n NAME …`).
    pub name: String,
    /// This host's IPv4 address: `10.200.K.(i+1)` on a [`Lan`], `127.0.0.1` for an
    /// isolated host (or a [`Lan`]'s switch).
    pub ip: Ipv4Addr,
    /// The directed broadcast address of the host's network: `10.200.K.255` on a
    /// [`Lan`]; `127.255.255.255` for an isolated host (with `SO_BROADCAST` it reaches
    /// every socket bound to the port on this host; 255.255.255.255 has no route there).
    pub broadcast: Ipv4Addr,
    isolated: bool,
}

impl Host {
    fn create(name: String) -> Result<Host, String> {
        ip_cmd(&["netns", "add", &name])?;
        let host = Host {
            name,
            ip: Ipv4Addr::LOCALHOST,
            broadcast: Ipv4Addr::new(127, 255, 255, 255),
            isolated: true,
        };
        host.ip(&["link", "set", "lo", "up"])?;
        Ok(host)
    }

    /// A new namespace with only `lo` (127.0.0.1/8) up: one machine with no network,
    /// for single-host, multi-process tests that must not hear other tests' broadcasts.
    /// Panics if the namespace cannot be made (call [`crate::require_netns`] first).
    pub fn isolated() -> Host {
        Host::try_isolated().unwrap_or_else(|e| panic!("Host::isolated: {e}"))
    }

    /// [`Host::isolated`] returning the error instead of panicking.
    pub fn try_isolated() -> Result<Host, String> {
        Host::create(unique_name(""))
    }

    /// True for a host made by [`Host::isolated`] (loopback only).
    pub fn is_isolated(&self) -> bool {
        self.isolated
    }

    /// `ip:port` of this host.
    pub fn addr(&self, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(self.ip, port)
    }

    /// Runs `ip -n NAME ARGS…` (e.g. `host.ip(&["link", "set", "eth0", "down"])`).
    pub fn ip<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<(), String> {
        let mut all: Vec<&OsStr> = vec![OsStr::new("-n"), OsStr::new(&self.name)];
        all.extend(args.iter().map(|a| a.as_ref()));
        ip_cmd(&all)
    }

    /// A [`Command`] that runs `program` inside this host (`ip netns exec NAME program`;
    /// `ip` execs the program, so the child's pid is the program's). Add arguments,
    /// environment and stdio as usual.
    pub fn command<S: AsRef<OsStr>>(&self, program: S) -> Command {
        let mut cmd = Command::new("ip");
        cmd.arg("netns").arg("exec").arg(&self.name).arg(program);
        cmd
    }

    /// Moves the *calling thread* into this host's network namespace for good: sockets
    /// it creates afterwards live in this host. Only for threads you created yourself;
    /// prefer [`Host::run`] / [`Host::spawn`].
    pub fn enter(&self) -> io::Result<()> {
        let file = File::open(format!("/run/netns/{}", self.name))?;
        rustix::thread::move_into_link_name_space(
            file.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .map_err(io::Error::from)
    }

    /// Runs `f` on a new thread that has entered this host's namespace (`setns`), waits
    /// for it and returns its result. Sockets created in `f` live in this host; they
    /// stay there even if moved to another thread afterwards. A panic in `f` is
    /// propagated.
    pub fn run<F, R>(&self, f: F) -> R
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        std::thread::scope(|s| {
            let handle = s.spawn(|| {
                self.enter()
                    .unwrap_or_else(|e| panic!("setns into {} failed: {e}", self.name));
                f()
            });
            match handle.join() {
                Ok(r) => r,
                Err(payload) => std::panic::resume_unwind(payload),
            }
        })
    }

    /// Like [`Host::run`] but does not wait: returns the thread's handle (for servers
    /// running alongside the test). Bound the work `f` does in time.
    pub fn spawn<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let path = format!("/run/netns/{}", self.name);
        let name = self.name.clone();
        // Open the namespace now, so the thread works even if the Host is dropped first.
        let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        std::thread::Builder::new()
            .name(format!("in-{name}"))
            .spawn(move || {
                rustix::thread::move_into_link_name_space(
                    file.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .unwrap_or_else(|e| panic!("setns into {name} failed: {e}"));
                drop(file);
                f()
            })
            .expect("spawn thread")
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Err(e) = ip_cmd(&["netns", "del", &self.name]) {
            eprintln!("warning: {e}");
        }
    }
}

/// A simulated LAN: `n` [`Host`]s on one bridge, addresses `10.200.K.1..=10.200.K.n`
/// (see the module docs). K is unique per `Lan` in this test process (it wraps after
/// 256 `Lan`s, which is harmless: every `Lan` is its own set of namespaces).
///
/// Dropping it deletes all its namespaces.
#[derive(Debug)]
pub struct Lan {
    /// The hosts; host `i` has address `10.200.K.(i+1)`.
    pub hosts: Vec<Host>,
    /// The namespace holding the bridge `br0` (10.200.K.254) and the ports `p0…`.
    /// Use it e.g. to run tcpdump on `br0`, or nftables rules for packet loss.
    pub switch: Host,
    /// The third octet K of 10.200.K.0/24.
    pub subnet: u8,
}

impl Lan {
    /// Builds a LAN of `n` hosts (1 ≤ n ≤ 253). Panics on failure (call
    /// [`crate::require_netns`] first).
    pub fn new(n: usize) -> Lan {
        Lan::try_new(n).unwrap_or_else(|e| panic!("Lan::new({n}): {e}"))
    }

    /// [`Lan::new`] returning the error instead of panicking.
    pub fn try_new(n: usize) -> Result<Lan, String> {
        if n == 0 || n > 253 {
            return Err(format!("a Lan has 1..=253 hosts, not {n}"));
        }
        let k = (LAN_COUNTER.fetch_add(1, Ordering::Relaxed) % 256) as u8;
        let mut switch = Host::create(unique_name("-sw"))?;
        switch.ip = Ipv4Addr::new(10, 200, k, 254);
        switch.broadcast = Ipv4Addr::new(10, 200, k, 255);
        switch.isolated = false;
        switch.ip(&["link", "add", "br0", "type", "bridge"])?;
        switch.ip(&[
            "addr",
            "add",
            &format!("10.200.{k}.254/24"),
            "broadcast",
            &format!("10.200.{k}.255"),
            "dev",
            "br0",
        ])?;
        switch.ip(&["link", "set", "br0", "up"])?;
        let mut lan = Lan {
            hosts: Vec::with_capacity(n),
            switch,
            subnet: k,
        };
        for _ in 0..n {
            lan.try_add_host()?;
        }
        Ok(lan)
    }

    /// The bridge's address, 10.200.K.254: every host's default gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 200, self.subnet, 254)
    }

    /// 10.200.K.255.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 200, self.subnet, 255)
    }

    /// 10.200.K.`last`: an address on this LAN for a machine that is not one of
    /// [`Lan::hosts`], such as a stack behind [`Lan::add_tap`] (pick `last` above the
    /// hosts' and below 254).
    pub fn ip(&self, last: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 200, self.subnet, last)
    }

    /// Adds a TAP device `name` in the switch namespace, on the bridge `br0` and up: a
    /// program that opens it there (a smoltcp stack, QEMU) is one more machine on the
    /// LAN, with an address of its own (see [`Lan::ip`]) and [`Lan::gateway`].
    pub fn add_tap(&self, name: &str) -> Result<(), String> {
        self.switch
            .ip(&["tuntap", "add", "dev", name, "mode", "tap"])?;
        self.switch
            .ip(&["link", "set", name, "master", "br0", "up"])
    }

    /// Connects one more host (address 10.200.K.(len+1)) and returns it.
    pub fn add_host(&mut self) -> &Host {
        self.try_add_host()
            .unwrap_or_else(|e| panic!("Lan::add_host: {e}"))
    }

    fn try_add_host(&mut self) -> Result<&Host, String> {
        let i = self.hosts.len();
        if i >= 253 {
            return Err("a Lan has at most 253 hosts".into());
        }
        let k = self.subnet;
        let mut host = Host::create(unique_name(""))?;
        host.ip = Ipv4Addr::new(10, 200, k, (i + 1) as u8);
        host.broadcast = Ipv4Addr::new(10, 200, k, 255);
        host.isolated = false;
        let port = format!("p{i}");
        // Both ends are created directly in their namespaces: no name clash in ours.
        ip_cmd(&[
            "link",
            "add",
            "eth0",
            "netns",
            &host.name,
            "type",
            "veth",
            "peer",
            "name",
            &port,
            "netns",
            &self.switch.name,
        ])?;
        self.switch
            .ip(&["link", "set", &port, "master", "br0", "up"])?;
        host.ip(&[
            "addr",
            "add",
            &format!("{}/24", host.ip),
            "broadcast",
            &host.broadcast.to_string(),
            "dev",
            "eth0",
        ])?;
        host.ip(&["link", "set", "eth0", "up"])?;
        host.ip(&[
            "route",
            "add",
            "default",
            "via",
            &self.gateway().to_string(),
        ])?;
        self.hosts.push(host);
        Ok(self.hosts.last().expect("just pushed"))
    }

    /// Unplugs (`false`) or re-plugs (`true`) host `i`'s cable: sets its switch port
    /// down or up. The host keeps its address and routes.
    pub fn set_link(&self, i: usize, up: bool) -> Result<(), String> {
        self.switch.ip(&[
            "link",
            "set",
            &format!("p{i}"),
            if up { "up" } else { "down" },
        ])
    }
}
