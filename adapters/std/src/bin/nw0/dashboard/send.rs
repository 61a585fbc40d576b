//! Sending a message or a command from the page, with the public calls, on
//! the thread of the page's request. One send per address at a time: a
//! networkzero socket belongs to the thread that made it, so the socket is
//! closed after each send for the next request's thread.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use networkzero::{self as nw0, diagnostics, Address};
use serde_json::{json, Value};

use super::show::pretty;

/// How long a send waits for the reply or the acknowledgement.
pub const REPLY_WAIT: Duration = Duration::from_secs(5);

/// What the page asks for: `{"address": "ip:port", "kind": "message" |
/// "command", "text": "..."}`.
#[derive(Debug, PartialEq)]
pub struct Ask {
    address: Address,
    command: bool,
    text: String,
}

/// Reads the page's request body; `Err` says what is wrong with it.
pub fn parse(body: &[u8]) -> Result<Ask, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let field = |name: &str| value.get(name).and_then(Value::as_str);
    let address = field("address")
        .ok_or("no address")?
        .parse::<Address>()
        .map_err(|e| e.to_string())?;
    let command = match field("kind") {
        Some("message") => false,
        Some("command") => true,
        _ => return Err("kind must be \"message\" or \"command\"".into()),
    };
    let text = field("text").ok_or("no text")?.to_string();
    Ok(Ask {
        address,
        command,
        text,
    })
}

/// Addresses a send is going to now.
#[derive(Default)]
pub struct Sending {
    busy: Mutex<HashSet<Address>>,
}

impl Sending {
    /// Sends what `ask` says and returns the answer for the page:
    /// `{"ok": true, "reply": "..."}` for a message, `{"ok": true}` for an
    /// acknowledged command, `{"ok": false, "error": "..."}` otherwise.
    pub fn send(&self, ask: &Ask) -> Value {
        let address = ask.address;
        {
            let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
            if !busy.insert(address) {
                return json!({ "ok": false, "error": "a send to this address is still waiting for its answer" });
            }
        }
        let answer = if ask.command {
            match nw0::send_command_within(address, ask.text.as_str(), REPLY_WAIT) {
                Ok(true) => json!({ "ok": true }),
                Ok(false) => {
                    json!({ "ok": false, "error": format!("no acknowledgement within {} s: is it waiting for commands?", REPLY_WAIT.as_secs()) })
                }
                Err(e) => json!({ "ok": false, "error": e.to_string() }),
            }
        } else {
            let message = crate::json_or_text(&ask.text);
            match nw0::send_message(address, &message, REPLY_WAIT) {
                Ok(Some(reply)) => json!({ "ok": true, "reply": pretty(&reply) }),
                Ok(None) => {
                    json!({ "ok": false, "error": format!("no reply within {} s: is it waiting for messages?", REPLY_WAIT.as_secs()) })
                }
                Err(e) => json!({ "ok": false, "error": e.to_string() }),
            }
        };
        let _ = diagnostics::close_sockets(address);
        self.busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&address);
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_are_checked() {
        let ask =
            parse(br#"{"address": "10.0.0.1:5000", "kind": "command", "text": "go"}"#).unwrap();
        assert_eq!(
            ask,
            Ask {
                address: "10.0.0.1:5000".parse().unwrap(),
                command: true,
                text: "go".into()
            }
        );
        let ask =
            parse(br#"{"address": "10.0.0.1:5000", "kind": "message", "text": "hi"}"#).unwrap();
        assert!(!ask.command, "a message is not a command");
        assert_eq!(ask.text, "hi");
        assert!(parse(b"{").unwrap_err().starts_with("not JSON"));
        assert!(parse(br#"{"kind": "message", "text": ""}"#).is_err());
        assert!(parse(br#"{"address": "nowhere", "kind": "message", "text": ""}"#).is_err());
        assert!(parse(br#"{"address": "10.0.0.1:5", "kind": "shout", "text": ""}"#).is_err());
        assert!(parse(br#"{"address": "10.0.0.1:5", "kind": "message"}"#).is_err());
    }
}
