//! `nw0 doctor`: what breaks networkzero in classrooms, in plain words.
//!
//! Checks, in order: the interfaces adverts go out of; the default route
//! (Python networkzero needs one); whether UDP 9999 (adverts) and 9997
//! (instant discovery) can be shared or are held by a program that does
//! not share them (a Python networkzero beacon holds 9999 that way); and
//! whether our own adverts come back to this computer on 9999 through each
//! interface — if not, a firewall drops them.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use networkzero::diagnostics::{self, InterfaceInfo};
use networkzero::{self as nw0, Error, Value};

/// How long we listen for our own adverts to come back.
const ECHO_WAIT: Duration = Duration::from_secs(3);

const FIREWALL_FIX: &str = "allow incoming UDP on ports 9999 and 9997 \
    (Linux: `sudo ufw allow 9999/udp` and `sudo ufw allow 9997/udp`; Windows: let the program \
    through Windows Defender Firewall, for Private networks; macOS: System Settings > Network > Firewall)";

/// What the doctor found: lines to show, and problems to fix.
#[derive(Default)]
pub struct Report {
    /// What was checked and found, one line each.
    pub lines: Vec<String>,
    /// What is wrong and how to fix it, in plain words.
    pub problems: Vec<String>,
}

impl Report {
    fn line(&mut self, text: impl Into<String>) {
        self.lines.push(text.into());
    }

    fn problem(&mut self, text: impl Into<String>) {
        self.problems.push(text.into());
    }
}

/// Who holds UDP `port`, where the system can say ("python3 (process
/// 1234)"), or how to find out.
fn who_holds(port: u16) -> String {
    match diagnostics::udp_port_holders(port) {
        Ok(holders) if !holders.is_empty() => {
            let names: Vec<String> = holders.iter().map(ToString::to_string).collect();
            format!("It is {}", names.join(", "))
        }
        _ => format!(
            "Find it (Linux: `ss -ulpn | grep {port}`; Windows: `netstat -ano -p udp | findstr {port}`, \
             then the process number in Task Manager's Details tab)"
        ),
    }
}

/// Whether something listens on TCP 127.0.0.1:9998, where a Python
/// networkzero beacon answers the other Python programs of its computer.
/// Only connects and closes: sends nothing.
fn python_beacon_rpc_answers() -> bool {
    let rpc = SocketAddr::from((Ipv4Addr::LOCALHOST, 9998));
    TcpStream::connect_timeout(&rpc, Duration::from_millis(500)).is_ok()
}

/// Runs every check. `Err` only for a hard error from networkzero itself.
pub fn run() -> Result<Report, Error> {
    let mut report = Report::default();
    let interfaces = diagnostics::interfaces();
    check_interfaces(&mut report, &interfaces);
    check_default_route(&mut report);

    report.line("");
    let listener = match diagnostics::open_shared_udp(9999) {
        Ok(socket) => {
            report.line("UDP port 9999 (adverts): free to share — fine.");
            Some(socket)
        }
        // (Windows says "access denied", WSAEACCES, where Linux says "in use".)
        Err(e) if diagnostics::is_held_by_another_program(&e) => {
            if python_beacon_rpc_answers() {
                report.line(
                    "UDP port 9999 (adverts): held, not shared, by a program that also listens on \
                     TCP 127.0.0.1:9998 — most likely a Python networkzero program (the first one \
                     started on this computer runs the beacon for all of them).",
                );
                report.line(format!(
                    "  That is fine: networkzero programs here still advertise, find Python's names \
                     through that beacon, and find each other through port 9997. Only if no Python \
                     networkzero program should be running: stop it. {}.",
                    who_holds(9999)
                ));
            } else {
                report.problem(format!(
                    "Another program holds UDP port 9999 and does not share it, so networkzero cannot \
                     hear adverts on this computer. {}: stop it.",
                    who_holds(9999)
                ));
                report.line(
                    "UDP port 9999 (adverts): held by another program that does not share it.",
                );
            }
            None
        }
        Err(e) => {
            report.problem(format!(
                "UDP port 9999 cannot be opened ({e}): networkzero cannot hear adverts. If a security \
                 tool blocks it, allow networkzero programs to use UDP 9999 and 9997."
            ));
            None
        }
    };
    match diagnostics::open_shared_udp(nw0_ext_port()) {
        Ok(_) => report.line("UDP port 9997 (instant discovery): free to share — fine."),
        Err(e) if diagnostics::is_held_by_another_program(&e) => report.problem(format!(
            "Another program holds UDP port 9997 and does not share it: networkzero programs here \
             find names only at their next advert (within 2 s) instead of at once. {}: stop it.",
            who_holds(nw0_ext_port())
        )),
        Err(e) => report.line(format!(
            "UDP port 9997 (instant discovery): cannot be opened ({e})."
        )),
    }

    report.line("");
    match listener {
        Some(listener) => check_echo(&mut report, &interfaces, &listener)?,
        None => report
            .line("Own adverts coming back: not checked (port 9999 is not ours to listen on)."),
    }
    Ok(report)
}

/// The port networkzero uses for instant discovery.
fn nw0_ext_port() -> u16 {
    networkzero_core::ext::EXT_PORT
}

fn describe(i: &InterfaceInfo) -> String {
    format!(
        "  {}\t{}/{}\tbroadcast {}{}",
        i.name,
        i.ip,
        i.prefix_len,
        i.broadcast,
        if i.is_virtual {
            "\t(virtual adapter)"
        } else {
            ""
        }
    )
}

fn check_interfaces(report: &mut Report, interfaces: &[InterfaceInfo]) {
    report
        .line("Network interfaces adverts go out of (the first one's address is this computer's):");
    for i in interfaces {
        report.line(describe(i));
    }
    report.line("  lo\t127.0.0.1/8\t(loopback: programs on this computer)");
    let Some(first) = interfaces.first() else {
        report.problem(
            "This computer is not connected to any network: only programs on this computer can \
             find each other. Connect it to the classroom network (Wi-Fi or cable).",
        );
        return;
    };
    if first.is_virtual {
        report.problem(format!(
            "Only virtual adapters ({}) are up: other computers cannot reach this one through \
             them. Connect it to the classroom network (Wi-Fi or cable).",
            interfaces
                .iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if interfaces.len() > 1 {
        report.line(format!(
            "  Adverts go out of every interface, each carrying that interface's address; programs \
             here advertise {} as their main address.",
            first.ip
        ));
    }
}

fn check_default_route(report: &mut Report) {
    match diagnostics::default_route_interface() {
        Ok(Some(iface)) => report.line(format!("Default route: via {iface} — fine.")),
        Ok(None) => {
            report.line("Default route: none.");
            let add_route = if cfg!(windows) {
                "in an administrator's terminal: `route add 0.0.0.0 mask 0.0.0.0 ROUTER-ADDRESS`"
            } else {
                "`sudo ip route add default via ROUTER-ADDRESS`"
            };
            report.problem(format!(
                "There is no default route (no router): Python networkzero programs on this \
                 computer cannot advertise (their address() fails), and adverts to \
                 255.255.255.255 may not go out. Connect to a network with a router (most Wi-Fi \
                 has one), or add a route {add_route}."
            ));
        }
        Err(why) => report.line(format!("Default route: not checked ({why}).")),
    }
}

/// Advertises a temporary name and listens on 9999 for our own adverts:
/// a broadcast is delivered back to its sender's computer, so each interface
/// whose adverts do not come back has them dropped by a firewall.
fn check_echo(
    report: &mut Report,
    interfaces: &[InterfaceInfo],
    listener: &UdpSocket,
) -> Result<(), Error> {
    let name = format!("nw0-doctor-{}", std::process::id());
    if let Err(e) = listener.set_read_timeout(Some(Duration::from_millis(200))) {
        report.line(format!("Own adverts coming back: not checked ({e})."));
        return Ok(());
    }
    nw0::advertise(&name)?;
    let mut heard_from: BTreeSet<IpAddr> = BTreeSet::new();
    let wanted = interfaces.len() + 1; // every interface and loopback
    let deadline = Instant::now() + ECHO_WAIT;
    let mut buf = [0u8; 512];
    while Instant::now() < deadline && heard_from.len() < wanted {
        let Ok((len, source)) = listener.recv_from(&mut buf) else {
            continue;
        };
        let ours = serde_json::from_slice::<Value>(buf.get(..len).unwrap_or_default())
            .ok()
            .and_then(|v| v.get(0).and_then(Value::as_str).map(|n| n == name))
            .unwrap_or(false);
        if ours {
            heard_from.insert(source.ip());
        }
    }
    let others = nw0::discover_all()?
        .into_iter()
        .filter(|(n, _)| *n != name)
        .count();
    nw0::unadvertise(&name)?;

    let loopback = heard_from.iter().any(IpAddr::is_loopback);
    report.line(format!(
        "Own adverts coming back on UDP 9999 (advertised '{name}' for a moment):"
    ));
    report.line(format!("  lo\t{}", if loopback { "yes" } else { "NO" }));
    let mut missing = Vec::new();
    for i in interfaces {
        let back = heard_from.contains(&IpAddr::V4(i.ip));
        report.line(format!("  {}\t{}", i.name, if back { "yes" } else { "NO" }));
        if !back {
            missing.push(format!("{} ({})", i.name, i.ip));
        }
    }
    if !loopback && missing.len() == interfaces.len() {
        report.problem(format!(
            "Not even this computer hears its own adverts: a firewall or security tool drops them, \
             so networkzero programs cannot find each other, not even on this computer. Fix: {FIREWALL_FIX}."
        ));
    } else if !missing.is_empty() {
        report.problem(format!(
            "Adverts sent out of {} do not come back: a firewall probably drops UDP broadcasts on \
             that network, so other computers there will not find programs here (nor they us). \
             Fix: {FIREWALL_FIX}.",
            missing.join(", ")
        ));
    } else if !loopback {
        report.problem(format!(
            "Adverts to 127.255.255.255 do not come back: programs on this computer may not find \
             each other. Fix: {FIREWALL_FIX}."
        ));
    }
    report.line(format!(
        "Other names heard on the network so far: {others} (`nw0 ls` lists them)."
    ));
    Ok(())
}
