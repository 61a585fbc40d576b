//! One scenario for the embedded-style node binaries (`smoltcp-node`, `enal-node`: the
//! smoltcp and embedded-nal adapters' poll loops, see `src/bin/`): the node talks to
//! Rust peers (the `nw0` CLI) and a Python networkzero 1.0b1 peer, both ways.
//!
//! The node advertises `robot` (it answers a request with `{"got": REQUEST}` and acks
//! commands) and publishes `distance` news under [`NodeScenario::robot_news`]; with the
//! arguments from [`NodeScenario::node_args`] it asks `rust-echo` (and `py-echo`)
//! `"TAG"` and watches `rust-news` (and `py-news`). It prints `READY`, then
//! `DISCOVERED NAME ADDR`, `REPLY NAME JSON`, `NEWS NAME TOPIC JSON`, `REQUEST JSON`.
//!
//! A test starts the node, the peers ([`RustPeers::spawn`] and
//! [`NodeScenario::python_peer`]), then checks the CLI ([`NodeScenario::check_cli`]),
//! the Python peer ([`NodeScenario::check_python`]) and what the node heard
//! ([`NodeScenario::expect_node_heard`]).

use std::time::Duration;

use crate::{run_nw0, spawn_nw0, ChildGuard, Host, Wanted};

/// What differs between the nodes under test.
#[derive(Debug, Clone)]
pub struct NodeScenario<'a> {
    /// The node binary's name, for messages (`smoltcp-node`).
    pub label: &'a str,
    /// The node's `robot` address, `IP:5555`.
    pub robot: String,
    /// The name the node advertises its news under (`robot-news`).
    pub robot_news: &'a str,
    /// The JSON string the node sends to the echo servers (`"from-smol"`, quoted).
    pub tag: &'a str,
    /// Whether the Python peer also publishes `py-news` for the node to watch.
    pub py_news: bool,
}

/// The Rust peers the node asks and watches: `nw0 advertise rust-echo --echo` and
/// `nw0 publish rust-news distance 42` every 0.3 s; both killed on drop.
#[derive(Debug)]
pub struct RustPeers {
    /// The echo server.
    pub echo: ChildGuard,
    /// The publisher.
    pub publisher: ChildGuard,
}

impl RustPeers {
    /// Starts both peers in `host`.
    pub fn spawn(host: &Host) -> RustPeers {
        RustPeers {
            echo: spawn_nw0(host, &["advertise", "rust-echo", "--echo"]),
            publisher: spawn_nw0(
                host,
                &[
                    "publish",
                    "rust-news",
                    "distance",
                    "42",
                    "--every",
                    "0.3",
                    "--count",
                    "400",
                ],
            ),
        }
    }
}

impl NodeScenario<'_> {
    /// The node's `--ask`/`--watch` arguments for the Rust peers and, with `python`,
    /// the Python one.
    pub fn node_args(&self, python: bool) -> Vec<&str> {
        let mut args = vec!["--ask", "rust-echo", self.tag];
        args.extend(["--watch", "rust-news", "distance"]);
        if python {
            args.extend(["--ask", "py-echo", self.tag]);
            if self.py_news {
                args.extend(["--watch", "py-news", "distance"]);
            }
        }
        args
    }

    /// The Python peer's snippet (for [`crate::py::spawn`]): advertises `py-echo` (and
    /// `py-news`), finds `robot`, sends it `"hello-from-py"` and `"stop"` and waits for
    /// its news (printing `FOUND`, `REPLY`, `ACK`, `NEWS`), then for a minute echoes what
    /// it gets (printing `GOT`) and publishes.
    pub fn python_peer(&self) -> String {
        let (news, publish) = if self.py_news {
            (
                "news = nw0.advertise(\"py-news\")\nprint(\"ADDRESS\", echo, news, flush=True)\n",
                "    nw0.send_news_to(news, \"distance\", 7)\n",
            )
        } else {
            ("print(\"ADDRESS\", echo, flush=True)\n", "")
        };
        format!(
            r#"echo = nw0.advertise("py-echo")
{news}robot = nw0.discover("robot", 30)
print("FOUND", robot, flush=True)
print("REPLY", json.dumps(nw0.send_message_to(robot, "hello-from-py", wait_for_reply_s=10)), flush=True)
print("ACK", json.dumps(nw0.send_message_to(robot, "stop", wait_for_reply_s=10)), flush=True)
robot_news = nw0.discover("{robot_news}", 30)
print("NEWS", json.dumps(nw0.wait_for_news_from(robot_news, "distance", wait_for_s=15)), flush=True)
end = time.time() + 60
while time.time() < end:
{publish}    m = nw0.wait_for_message_from(echo, wait_for_s=0.3)
    if m is not None:
        print("GOT", json.dumps(m), flush=True)
        nw0.send_reply_to(echo, m)
"#,
            robot_news = self.robot_news
        )
    }

    /// `nw0 discover robot` in `host` finds the node (`where_` names the host).
    #[track_caller]
    pub fn check_discovered(&self, host: &Host, where_: &str) {
        run_nw0(
            host,
            &["discover", "robot", "--wait", "15"],
            Duration::from_secs(30),
        )
        .expect_code(0, &format!("nw0 discover robot on {where_}"))
        .expect_stdout(&[&self.robot], &format!("nw0 discover robot on {where_}"));
    }

    /// From `host`, `nw0 send`, `nw0 command` and `nw0 watch` get the node's reply,
    /// ack and news. On a failed send the node's output so far is shown.
    #[track_caller]
    pub fn check_cli(&self, host: &Host, node: &mut ChildGuard) {
        let ran = run_nw0(host, &["send", "robot", "\"hi\""], Duration::from_secs(30));
        if ran.code != Some(0) {
            while let Ok(l) = node.next_line(Duration::from_millis(500)) {
                eprintln!("{}: {l}", self.label);
            }
            eprintln!("{} stderr: {}", self.label, node.stderr());
        }
        ran.expect_code(0, "nw0 send robot")
            .expect_stdout(&[r#"{"got":"hi"}"#], "nw0 send robot");
        run_nw0(
            host,
            &["command", "robot", "forward"],
            Duration::from_secs(30),
        )
        .expect_code(0, "nw0 command robot forward: not acknowledged");
        let ran = run_nw0(
            host,
            &[
                "watch",
                self.robot_news,
                "distance",
                "--count",
                "1",
                "--wait",
                "15",
            ],
            Duration::from_secs(40),
        );
        let what = format!("nw0 watch {}", self.robot_news);
        ran.expect_code(0, &what);
        assert!(
            ran.stdout.len() == 1 && ran.stdout[0].starts_with("distance\t{\"cm\":"),
            "{what} printed {:?}",
            ran.stdout
        );
    }

    /// The Python peer (running [`NodeScenario::python_peer`]) found the node and got
    /// its reply, ack and news.
    #[track_caller]
    pub fn check_python(&self, py: &mut ChildGuard) {
        let limit = Duration::from_secs(40);
        let found = py.expect_line(|l| l.starts_with("FOUND"), limit).unwrap();
        assert_eq!(found, format!("FOUND {}", self.robot));
        let reply = py.expect_line(|l| l.starts_with("REPLY"), limit).unwrap();
        assert_eq!(reply, r#"REPLY {"got": "hello-from-py"}"#);
        let ack = py.expect_line(|l| l.starts_with("ACK"), limit).unwrap();
        assert_eq!(ack, r#"ACK "ack""#);
        let news = py.expect_line(|l| l.starts_with("NEWS"), limit).unwrap();
        assert!(news.starts_with(r#"NEWS ["distance", {"cm": "#), "{news}");
    }

    /// The node discovered the Rust peers on `rust` and got their reply and news, and
    /// got the CLI's request and command; with `python` (its host and its peer) likewise
    /// for the Python peer, which also got the node's request.
    #[track_caller]
    pub fn expect_node_heard(
        &self,
        node: &mut ChildGuard,
        rust: &Host,
        python: Option<(&Host, &mut ChildGuard)>,
    ) {
        let rust_ip = rust.ip.to_string();
        let py_ip = python.as_ref().map(|(h, _)| h.ip.to_string());
        let reply_rust_line = format!("REPLY rust-echo {}", self.tag);
        let reply_py_line = format!("REPLY py-echo {}", self.tag);
        let disc_rust = |l: &str| l.starts_with("DISCOVERED rust-echo ") && l.contains(&rust_ip);
        let reply_rust = |l: &str| l == reply_rust_line;
        let news_rust = |l: &str| l == "NEWS rust-news distance 42";
        let req_hi = |l: &str| l == "REQUEST \"hi\"";
        let req_fwd = |l: &str| l == "REQUEST \"forward\"";
        let disc_py = |l: &str| {
            l.starts_with("DISCOVERED py-echo ") && py_ip.as_ref().is_some_and(|ip| l.contains(ip))
        };
        let reply_py = |l: &str| l == reply_py_line;
        let news_py = |l: &str| l == "NEWS py-news distance 7";
        let req_py = |l: &str| l == "REQUEST \"hello-from-py\"";
        let mut wanted: Vec<Wanted<'_>> = vec![
            ("discovered rust-echo", &disc_rust),
            ("reply from rust-echo", &reply_rust),
            ("news from rust-news", &news_rust),
            ("request \"hi\" from nw0 send", &req_hi),
            ("command forward from nw0 command", &req_fwd),
        ];
        if python.is_some() {
            wanted.push(("discovered py-echo", &disc_py));
            wanted.push(("reply from py-echo", &reply_py));
            if self.py_news {
                wanted.push(("news from py-news", &news_py));
            }
            wanted.push(("request from Python", &req_py));
        }
        node.expect_all(&wanted, Duration::from_secs(60));
        eprintln!("{} said:\n{}", self.label, node.stdout_seen().join("\n"));
        if let Some((_, py)) = python {
            let got = format!("GOT {}", self.tag);
            py.expect_line(|l| l == got, Duration::from_secs(20))
                .unwrap();
        }
    }
}
