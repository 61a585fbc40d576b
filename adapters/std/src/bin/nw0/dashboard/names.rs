//! The live list of names: a [`NameWatch`] turned into Server-Sent Events.
//! The first event (`names`) is every name; then `changes` events carry
//! only what changed, at most [`EVERY`] apart, so 400 names refreshing
//! every 2 s make a few small events a second, not hundreds.

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

use networkzero::diagnostics::{self, HeardName, NameChange, Status};
use serde_json::{json, Value};

use super::http::EventStream;
use super::show::{truncate, MAX_LABEL};

/// Shortest time between two events: what the eye can follow.
const EVERY: Duration = Duration::from_millis(200);
/// Longest time without an event: a keep-alive shows whether the page is
/// still there.
const KEEP_ALIVE: Duration = Duration::from_secs(5);

fn status_text(status: Status) -> &'static str {
    match status {
        Status::Alive => "alive",
        Status::Goodbye => "goodbye",
        Status::Expired => "expired",
    }
}

fn ms_since(then: Instant, now: Instant) -> u64 {
    now.saturating_duration_since(then).as_millis() as u64
}

/// One name as the page gets it: ages in milliseconds (the page counts on
/// from there with its own clock, so clocks need not agree).
fn row(name: &HeardName, now: Instant) -> Value {
    json!({
        "name": truncate(&name.name, MAX_LABEL),
        "address": name.address.to_string(),
        "ip": name.address.ip().to_string(),
        "heard_ms": ms_since(name.last_heard, now),
        "status": status_text(name.status),
        "since_ms": ms_since(name.since, now),
    })
}

/// Streams the names to one page until it goes away.
pub fn stream(mut events: EventStream) {
    let mut watch = match diagnostics::watch_names() {
        Ok(w) => w,
        Err(e) => {
            let _ = events.send("failed", &json!({ "error": e.to_string() }).to_string());
            return;
        }
    };
    if watch.changes(Duration::ZERO).is_err() {
        return;
    }
    if diagnostics::hears_adverts().is_ok_and(|hears| !hears) {
        let _ = events.send("notice", &json!({ "warning": super::DEAF }).to_string());
    }
    let now = Instant::now();
    let all: Vec<Value> = watch.names().map(|n| row(n, now)).collect();
    if events
        .send("names", &Value::Array(all).to_string())
        .is_err()
    {
        return;
    }
    let mut last_event = Instant::now();
    let mut pending: BTreeMap<String, Option<HeardName>> = BTreeMap::new();
    loop {
        // Changes gather until EVERY has passed since the last event.
        if let Some(wait) = (last_event + EVERY).checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        let Ok(changes) = watch.changes(KEEP_ALIVE) else {
            return;
        };
        for change in changes {
            match change {
                NameChange::Updated(name) => pending.insert(name.name.clone(), Some(name)),
                NameChange::Forgotten(name) => pending.insert(name, None),
            };
        }
        let sent = if pending.is_empty() {
            if last_event.elapsed() < KEEP_ALIVE {
                continue;
            }
            events.keep_alive()
        } else {
            let now = Instant::now();
            let mut updated = Vec::new();
            let mut forgotten = Vec::new();
            for (key, change) in std::mem::take(&mut pending) {
                match change {
                    Some(name) => updated.push(row(&name, now)),
                    None => forgotten.push(Value::String(truncate(&key, MAX_LABEL))),
                }
            }
            let data = json!({ "updated": updated, "forgotten": forgotten });
            events.send("changes", &data.to_string())
        };
        if sent.is_err() {
            return;
        }
        last_event = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_carries_ages_and_status() {
        let then = Instant::now();
        let name = HeardName {
            name: "<img src=x onerror=alert(1)>".into(),
            address: "10.200.0.3:5555".parse().unwrap(),
            last_heard: then,
            status: Status::Goodbye,
            since: then,
        };
        let r = row(&name, then + Duration::from_millis(1500));
        assert_eq!(r["ip"], "10.200.0.3");
        assert_eq!(r["address"], "10.200.0.3:5555");
        assert_eq!(r["heard_ms"], 1500);
        assert_eq!(r["status"], "goodbye");
        assert_eq!(r["name"], "<img src=x onerror=alert(1)>");
    }
}
