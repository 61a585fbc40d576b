//! `nw0 doctor`: what breaks networkzero in classrooms, in plain words.
//!
//! Checks, in order: the interfaces adverts go out of; the default route
//! (Python networkzero needs one); whether UDP 9999 (adverts) and 9997
//! (instant discovery) can be shared or are held by a program that does
//! not share them (a Python networkzero beacon holds 9999 that way); and
//! whether our own adverts come back to this computer on 9999 through each
//! interface — if not, a firewall drops them.

use std::collections::BTreeSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use networkzero::diagnostics::{self, InterfaceInfo, PortHolder};
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
    holders_text(port, diagnostics::udp_port_holders(port))
}

/// [`who_holds`] from what the system said: apart, so that finding no
/// holder can be tested (on Linux a user may look into only their own
/// processes, so another user's program is not found; the tests run as
/// root, who finds every one).
fn holders_text(port: u16, holders: Result<Vec<PortHolder>, String>) -> String {
    match holders {
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
    let listener = check_adverts_port(
        &mut report,
        diagnostics::open_shared_udp(9999),
        python_beacon_rpc_answers,
    );
    check_instant_port(&mut report, diagnostics::open_shared_udp(nw0_ext_port()));

    report.line("");
    match listener {
        Some(listener) => check_echo(&mut report, &interfaces, &listener)?,
        None => report
            .line("Own adverts coming back: not checked (port 9999 is not ours to listen on)."),
    }
    Ok(report)
}

/// What opening UDP 9999 (adverts) to share gave: the socket to listen on
/// for our own adverts, if ours. Takes the outcome and the probe for a
/// Python beacon rather than making them, so that each arm is tested
/// without a port held or an error the namespace cannot make.
fn check_adverts_port<S>(
    report: &mut Report,
    opened: io::Result<S>,
    python_beacon_rpc_answers: impl FnOnce() -> bool,
) -> Option<S> {
    match opened {
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
    }
}

/// What opening UDP 9997 (instant discovery) to share gave. Takes the
/// outcome rather than opening the port, as [`check_adverts_port`].
fn check_instant_port<S>(report: &mut Report, opened: io::Result<S>) {
    match opened {
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
    report_echo(report, interfaces, &name, &heard_from, others);
    Ok(())
}

/// What [`check_echo`] heard, as lines and problems: which interfaces'
/// adverts came back (`heard_from`: the sources of our own), and how many
/// other names were heard. Apart from the listening, so that what a
/// firewall dropping adverts looks like can be tested where none does.
fn report_echo(
    report: &mut Report,
    interfaces: &[InterfaceInfo],
    name: &str,
    heard_from: &BTreeSet<IpAddr>,
    others: usize,
) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interface(name: &str, ip: [u8; 4]) -> InterfaceInfo {
        let ip = Ipv4Addr::from(ip);
        InterfaceInfo {
            name: name.into(),
            ip,
            prefix_len: 24,
            broadcast: Ipv4Addr::from(u32::from(ip) | 0xff),
            is_virtual: false,
        }
    }

    /// Checks that the report's problems begin as `starts`, one each.
    #[track_caller]
    fn assert_problems(report: &Report, starts: &[&str]) {
        let begun = report.problems.len() == starts.len()
            && report
                .problems
                .iter()
                .zip(starts)
                .all(|(p, s)| p.starts_with(s));
        assert!(begun, "{:?}, wanted {starts:?}", report.problems);
    }

    #[test]
    fn a_holder_is_named_only_where_the_system_names_one() {
        let python = PortHolder {
            pid: 1234,
            program: Some("python3".into()),
        };
        assert_eq!(
            holders_text(9999, Ok(vec![python])),
            "It is python3 (process 1234)"
        );
        // Found no holder (another user's program), or cannot look: say
        // how to find it, never an empty "It is".
        for holders in [Ok(vec![]), Err("cannot read /proc/net/udp".into())] {
            let text = holders_text(9999, holders);
            assert!(
                text.starts_with("Find it (Linux: `ss -ulpn | grep 9999`"),
                "{text}"
            );
        }
    }

    #[test]
    fn a_port_that_cannot_be_opened_is_not_called_held() {
        // An error other than "in use" (here a security tool's refusal) is
        // not another program holding the port, and no Python beacon is
        // looked for.
        let blocked = || io::Error::other("blocked by a security tool");
        let mut report = Report::default();
        let listener = check_adverts_port::<()>(&mut report, Err(blocked()), || {
            panic!("looked for a Python beacon")
        });
        assert!(listener.is_none());
        assert_problems(
            &report,
            &["UDP port 9999 cannot be opened (blocked by a security tool)"],
        );

        let mut report = Report::default();
        check_instant_port::<()>(&mut report, Err(blocked()));
        assert_problems(&report, &[]);
        assert_eq!(
            report.lines,
            ["UDP port 9997 (instant discovery): cannot be opened (blocked by a security tool)."]
        );
    }

    #[test]
    fn a_port_opened_to_share_is_fine_and_kept() {
        let mut report = Report::default();
        assert_eq!(check_adverts_port(&mut report, Ok(7), || false), Some(7));
        check_instant_port(&mut report, Ok(8));
        assert_problems(&report, &[]);
        assert_eq!(report.lines.len(), 2, "{:?}", report.lines);
        assert!(report
            .lines
            .iter()
            .all(|l| l.ends_with("free to share — fine.")));
    }

    #[test]
    fn a_held_port_is_called_held() {
        // Each says who holds the port, or how to find out: which one
        // depends on what holds it in this namespace while the test runs
        // (holders_text's own test pins both).
        #[track_caller]
        fn names_the_holder(text: &str, port: u16) {
            let find = format!(". Find it (Linux: `ss -ulpn | grep {port}`");
            assert!(text.contains(". It is ") || text.contains(&find), "{text}");
        }
        let in_use = || io::Error::from(io::ErrorKind::AddrInUse);
        let mut report = Report::default();
        assert!(check_adverts_port::<()>(&mut report, Err(in_use()), || false).is_none());
        assert_problems(&report, &["Another program holds UDP port 9999"]);
        names_the_holder(&report.problems[0], 9999);
        let mut report = Report::default();
        assert!(check_adverts_port::<()>(&mut report, Err(in_use()), || true).is_none());
        assert_problems(&report, &[]); // a Python beacon: fine
        names_the_holder(&report.lines[1], 9999);
        let mut report = Report::default();
        check_instant_port::<()>(&mut report, Err(in_use()));
        assert_problems(&report, &["Another program holds UDP port 9997"]);
        names_the_holder(&report.problems[0], 9997);
    }

    #[test]
    fn adverts_that_do_not_come_back_are_told_apart() {
        let eth0 = interface("eth0", [10, 200, 0, 1]);
        let wlan0 = interface("wlan0", [10, 200, 1, 1]);
        let both = [eth0.clone(), wlan0.clone()];
        let (lo, e, w): (IpAddr, IpAddr, IpAddr) =
            (Ipv4Addr::LOCALHOST.into(), eth0.ip.into(), wlan0.ip.into());
        let echo = |interfaces: &[InterfaceInfo], heard: &[IpAddr]| {
            let mut report = Report::default();
            let heard = heard.iter().copied().collect();
            report_echo(&mut report, interfaces, "nw0-doctor-1", &heard, 3);
            report
        };
        // Nothing came back, through any interface or loopback: a firewall
        // on this computer, not on one network.
        let not_even = "Not even this computer hears its own adverts";
        assert_problems(&echo(&both, &[]), &[not_even]);
        assert_problems(&echo(&[], &[]), &[not_even]);
        // Loopback and one interface came back: the other's network drops them.
        let report = echo(&both, &[lo, e]);
        assert_problems(
            &report,
            &["Adverts sent out of wlan0 (10.200.1.1) do not come back"],
        );
        for line in [
            "  lo\tyes",
            "  eth0\tyes",
            "  wlan0\tNO",
            "Other names heard on the network so far: 3 (`nw0 ls` lists them).",
        ] {
            assert!(
                report.lines.iter().any(|l| l == line),
                "{line:?} in {:?}",
                report.lines
            );
        }
        // Only loopback's did not come back.
        assert_problems(
            &echo(&both, &[e, w]),
            &["Adverts to 127.255.255.255 do not come back"],
        );
        // All came back.
        assert_problems(&echo(&both, &[lo, e, w]), &[]);
    }
}
