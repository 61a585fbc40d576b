//! The robot behaviour both embedded-style test nodes share (`smoltcp-node`,
//! `enal-node`): what they do with each event, over the sans-IO core node their
//! adapters' `Sockets` drive. Only the stack and the clock differ between them.
//!
//! It prints the lines [`crate::node`]'s scenario reads: `DISCOVERED NAME ADDR`,
//! `LOST …`, `CONNECTED NAME`, `DISCONNECTED NAME`, `REQUEST JSON`, `REPLY NAME JSON`,
//! `NEWS NAME TOPIC JSON`. A request gets `"ack"` for a motor command and
//! `{"got": REQUEST}` otherwise; a requester sends its one question once connected
//! and is closed after the reply.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use networkzero_core::node::{ClientId, Event, Node, ServiceId};

/// The robot's clients and its fake distance sensor.
#[derive(Debug, Default)]
pub struct Robot {
    names: HashMap<ClientId, String>,
    questions: HashMap<ClientId, String>,
    cm: u32,
}

impl Robot {
    /// Remembers a client opened for `name`, and the JSON it should send once
    /// connected (a requester) or `None` (a subscriber).
    pub fn add_client(&mut self, id: ClientId, name: &str, question: Option<String>) {
        self.names.insert(id, name.to_string());
        if let Some(q) = question {
            self.questions.insert(id, q);
        }
    }

    /// Publishes the next `distance` reading on `news`.
    pub fn publish_distance<const S: usize, const B: usize, const A: usize>(
        &mut self,
        node: &mut Node<S, B, A>,
        news: ServiceId,
    ) {
        self.cm += 1;
        let data = format!("{{\"cm\": {}}}", self.cm);
        let _ = node.publish(news, b"distance", data.as_bytes());
    }

    /// Handles every event the node has, then closes requesters that got their reply.
    pub fn handle_events<const S: usize, const B: usize, const A: usize>(
        &mut self,
        node: &mut Node<S, B, A>,
    ) {
        let mut to_close = Vec::new();
        while let Some(event) = node.poll_event() {
            let name = |c: &ClientId| self.names.get(c).cloned().unwrap_or_default();
            match event {
                Event::Discovered { name, address } => println!("DISCOVERED {name} {address}"),
                Event::Lost { name, address } => println!("LOST {name} {address}"),
                Event::Connected { client } => {
                    let name = name(&client);
                    println!("CONNECTED {name}");
                    if let Some(json) = self.questions.remove(&client) {
                        if let Err(e) = node.send(client, json.as_bytes()) {
                            println!("SEND-FAILED {name} {e}");
                        }
                    }
                }
                Event::Disconnected { client } => println!("DISCONNECTED {}", name(&client)),
                Event::Request { request, data, .. } => {
                    let text = String::from_utf8_lossy(data).into_owned();
                    println!("REQUEST {text}");
                    let reply = answer(&text);
                    if let Err(e) = node.reply(request, reply.as_bytes()) {
                        println!("REPLY-FAILED {e}");
                    }
                }
                Event::Reply { client, data, .. } => {
                    println!("REPLY {} {}", name(&client), String::from_utf8_lossy(data));
                    to_close.push(client);
                }
                Event::News {
                    client,
                    topic,
                    data,
                } => println!(
                    "NEWS {} {} {}",
                    name(&client),
                    String::from_utf8_lossy(topic),
                    String::from_utf8_lossy(data)
                ),
                _ => {}
            }
        }
        for c in to_close {
            node.close(c);
        }
    }
}

/// A test node's command line: `--ip IPV4 [--seconds N] [--ask NAME JSON]…
/// [--watch NAME PREFIX]…` and the program's own one-value options.
#[derive(Debug, Clone)]
pub struct RobotArgs {
    /// The node's address.
    pub ip: Ipv4Addr,
    /// How long to run (default 60 s).
    pub seconds: u64,
    /// Names to ask once, with the JSON to send.
    pub asks: Vec<(String, String)>,
    /// Names whose news to watch, with the topic prefix.
    pub watches: Vec<(String, String)>,
    options: HashMap<String, String>,
}

impl RobotArgs {
    /// Parses the process's arguments, with `extra` options (e.g. `"--tap"`) taking
    /// one value each; exits with status 2 and a message on a bad one.
    pub fn from_env(program: &str, extra: &[&str]) -> RobotArgs {
        let fail = |msg: String| -> ! {
            eprintln!("{program}: {msg}");
            std::process::exit(2)
        };
        let mut args = std::env::args().skip(1);
        let mut ip = None;
        let mut seconds = 60;
        let (mut asks, mut watches, mut options) = (Vec::new(), Vec::new(), HashMap::new());
        while let Some(a) = args.next() {
            let mut value = || {
                args.next()
                    .unwrap_or_else(|| fail(format!("{a} needs a value")))
            };
            match a.as_str() {
                "--ip" => ip = value().parse().ok(),
                "--seconds" => {
                    seconds = value()
                        .parse()
                        .unwrap_or_else(|_| fail("bad --seconds".into()))
                }
                "--ask" => asks.push((value(), value())),
                "--watch" => watches.push((value(), value())),
                other if extra.contains(&other) => {
                    options.insert(a.clone(), value());
                }
                other => fail(format!("unknown argument {other}")),
            }
        }
        RobotArgs {
            ip: ip.unwrap_or_else(|| fail("--ip IPV4 is required".into())),
            seconds,
            asks,
            watches,
            options,
        }
    }

    /// The value of one of the program's own options.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(String::as_str)
    }
}

/// The robot's answer to a request's JSON text.
fn answer(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::String(c))
            if ["forward", "left", "right", "stop"].contains(&c.as_str()) =>
        {
            "\"ack\"".to_string()
        }
        Ok(v) => serde_json::json!({ "got": v }).to_string(),
        Err(_) => "{\"error\": \"not JSON\"}".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::answer;

    #[test]
    fn answers() {
        assert_eq!(answer("\"left\""), "\"ack\"");
        assert_eq!(answer("[1]"), "{\"got\":[1]}");
        assert_eq!(answer("nope"), "{\"error\": \"not JSON\"}");
    }
}
