//! Each example in examples/ run as separate processes, as a student would
//! run them in several terminals or on several computers, with its output
//! checked.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use nw0_tests::*;

const LINE: Duration = Duration::from_secs(20);

/// Like [`spawn_bin`], with a pipe to type into.
fn example_with_keyboard(host: &Host, name: &str, args: &[&str]) -> ChildGuard {
    let child = host
        .command(workspace_bin(name))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    ChildGuard::new(child)
}

fn type_line(child: &mut ChildGuard, line: &str) {
    let stdin = child.child_mut().stdin.as_mut().expect("piped stdin");
    writeln!(stdin, "{line}").expect("type a line");
    stdin.flush().expect("flush");
}

fn expect(child: &mut ChildGuard, text: &str) -> String {
    child
        .expect_line(|l| l.contains(text), LINE)
        .unwrap_or_else(|e| panic!("expected a line with {text:?}: {e}"))
}

#[test]
fn hello_demo_on_one_computer() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    let mut demo = spawn_bin(&host, "hello", &[]);
    expect(&mut demo, "Hello, World");
    expect(&mut demo, "Hello, Tim");
    let status = demo
        .wait_timeout(LINE)
        .expect("wait")
        .expect("demo ends by itself");
    assert!(status.success(), "{status:?}\n{}", demo.stderr());
}

#[test]
fn hello_on_two_computers() {
    if !require_netns() {
        return;
    }
    let lan = Lan::new(2);
    let mut server = spawn_bin(&lan.hosts[0], "hello", &["serve"]);
    expect(
        &mut server,
        &format!("hello is advertised at {}", lan.hosts[0].ip),
    );
    let mut asker = spawn_bin(&lan.hosts[1], "hello", &["ask", "Ada"]);
    expect(&mut asker, &format!("found hello at {}", lan.hosts[0].ip));
    expect(&mut asker, "Hello, Ada");
    expect(&mut server, "got a message from Ada");
}

/// The README's Python snippet ("Talking to Python networkzero"), as written, against
/// the hello example's server on another computer: Python networkzero 1.0b1 finds it
/// and prints `Hello, Python`.
#[test]
fn readme_python_snippet_asks_the_hello_example() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    let mut server = spawn_bin(&lan.hosts[0], "hello", &["serve"]);
    expect(&mut server, "hello is advertised at");
    let mut python = py::spawn(
        &lan.hosts[1],
        "hello = nw0.discover(\"hello\")\n\
         print(nw0.send_message_to(hello, \"Python\"))  # Hello, Python\n",
    );
    let said = expect(&mut python, "Hello");
    assert_eq!(said, "Hello, Python", "{}", python.stderr());
    expect(&mut server, "got a message from Python");
}

/// The seed's club project, unchanged, on one computer and on three.
fn turntable_trio(hosts: [&Host; 3]) {
    let mut turntable = spawn_bin(hosts[0], "turntable", &[]);
    expect(&mut turntable, "turntable: waiting for commands");
    let mut detector = spawn_bin(hosts[1], "detector", &["40"]);
    expect(&mut detector, "detector: publishing hits");
    let mut controller = spawn_bin(hosts[2], "controller", &["3", "--quit"]);
    expect(&mut turntable, "turntable: spinning at 33 rpm");
    expect(&mut controller, "controller: hit target");
    let score = expect(&mut controller, "controller: final score");
    let points: u64 = score
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a score");
    assert!(
        points >= 40,
        "a 3 s game with a hit every 0.5 s scores more: {score}"
    );
    expect(&mut turntable, "turntable: stopped");
    expect(&mut turntable, "turntable: bye");
    let status = turntable
        .wait_timeout(LINE)
        .expect("wait")
        .expect("QUIT ends the turntable");
    assert!(status.success());
    let status = controller
        .wait_timeout(LINE)
        .expect("wait")
        .expect("the controller ends");
    assert!(status.success(), "{}", controller.stderr());
}

#[test]
fn turntable_on_one_computer() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    turntable_trio([&host, &host, &host]);
}

#[test]
fn turntable_on_three_computers() {
    if !require_netns() {
        return;
    }
    let lan = Lan::new(3);
    turntable_trio([&lan.hosts[0], &lan.hosts[1], &lan.hosts[2]]);
}

#[test]
fn chat_between_two_computers() {
    if !require_netns() {
        return;
    }
    let lan = Lan::new(2);
    let mut alice = example_with_keyboard(&lan.hosts[0], "chat", &["alice"]);
    let mut bob = example_with_keyboard(&lan.hosts[1], "chat", &["bob"]);
    expect(&mut alice, "chat: bob joined");
    expect(&mut bob, "chat: alice joined");
    // A moment for each to connect to the other's news before typing.
    std::thread::sleep(Duration::from_millis(500));
    type_line(&mut alice, "hi bob");
    expect(&mut bob, "alice: hi bob");
    type_line(&mut bob, "hello alice");
    expect(&mut alice, "bob: hello alice");
}

#[test]
fn robot_remote_drives_the_simulated_robot() {
    if !require_netns() {
        return;
    }
    let lan = Lan::new(2);
    let mut robot = spawn_bin(&lan.hosts[0], "robot", &[]);
    expect(&mut robot, "robot: ready at");
    let mut remote = example_with_keyboard(&lan.hosts[1], "robot-remote", &[]);
    expect(&mut remote, "remote: robot at");
    type_line(&mut remote, "w");
    expect(&mut robot, "robot: forward");
    let line = expect(&mut remote, "remote: forward ok");
    type_line(&mut remote, "a");
    expect(&mut robot, "robot: left");
    expect(&mut remote, "remote: left ok");
    type_line(&mut remote, "x");
    expect(&mut remote, "remote: 'x' is not a command");
    type_line(&mut remote, "q");
    let status = remote
        .wait_timeout(LINE)
        .expect("wait")
        .expect("q ends the remote");
    assert!(status.success(), "{}", remote.stderr());
    assert!(
        line.contains("distance"),
        "the robot's distance news reaches the remote: {line}"
    );
}
