//! Watching a publisher's news from the page. One thread per watched
//! address calls `wait_for_news` and tells every page watching that address
//! (at most [`MAX_PAGES`]) what arrives: items per second, the topics, the
//! last items. At most [`MAX_WATCHES`] addresses are watched at once; a
//! watch ends, and its socket is closed, when no page watches any more.
//! A page's request thread ends once the page has joined: an open page takes
//! no thread of its own (its watch's thread serves it) and no place among
//! the dashboard's requests.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use networkzero::{self as nw0, diagnostics, Address, Value};
use serde_json::json;

use super::http::EventStream;
use super::show::{pretty, truncate, MAX_LABEL};
use super::slot::Slot;

/// Addresses watched at once.
pub const MAX_WATCHES: usize = 8;
/// Pages watching one address.
const MAX_PAGES: usize = 8;
/// Items kept to show.
const LAST_ITEMS: usize = 10;
/// Topics counted (a publisher inventing a topic per item fills no memory).
const MAX_TOPICS: usize = 50;
/// Shortest time between two events to the pages.
const EVERY: Duration = Duration::from_millis(200);
/// Longest time without an event (keep-alive: finds pages that left).
const KEEP_ALIVE: Duration = Duration::from_secs(2);
/// Items per second are counted over this window.
const RATE_WINDOW: Duration = Duration::from_secs(2);

/// The pages watching each address.
#[derive(Default)]
pub struct Watches {
    by_address: Mutex<HashMap<Address, Vec<EventStream>>>,
}

impl Watches {
    fn lock(&self) -> MutexGuard<'_, HashMap<Address, Vec<EventStream>>> {
        self.by_address.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a page to the watch of `address`, starting the watch if it is
    /// the first; tells the page why not if there are too many.
    ///
    /// `connection`, the page's place among the dashboard's requests, is
    /// given back as soon as this thread holds the lock. Every event goes out
    /// under the lock, so the page hears its first one (news, or why it is
    /// refused) only after: a page that has an event no longer counts as a
    /// request.
    pub fn join(self: &Arc<Self>, address: Address, mut page: EventStream, connection: Slot) {
        let mut all = self.lock();
        drop(connection);
        if let Some(pages) = all.get_mut(&address) {
            if pages.len() < MAX_PAGES {
                pages.push(page);
            } else {
                let _ = page.send(
                    "refused",
                    &refusal("this publisher is watched by too many pages"),
                );
            }
            return;
        }
        if all.len() >= MAX_WATCHES {
            let why =
                format!("{MAX_WATCHES} publishers are watched already: stop watching one first");
            let _ = page.send("refused", &refusal(&why));
            return;
        }
        all.insert(address, vec![page]);
        drop(all);
        let watches = Arc::clone(self);
        let started = thread::Builder::new()
            .name(format!("watch {address}"))
            .spawn(move || watches.run(address));
        if started.is_err() {
            self.lock().remove(&address);
        }
    }

    /// Sends `data` to every page watching `address`, dropping those gone.
    /// Returns how many remain; with none left the watch is over, its
    /// socket closed (so a later watch, on another thread, can open one).
    fn tell(&self, address: Address, event: &str, data: &str) -> usize {
        let mut all = self.lock();
        let Some(pages) = all.get_mut(&address) else {
            return 0;
        };
        pages.retain_mut(|p| p.send(event, data).is_ok());
        let left = pages.len();
        if left == 0 {
            let _ = diagnostics::close_sockets(address);
            all.remove(&address);
        }
        left
    }

    /// The watch of one address, until no page watches it.
    fn run(&self, address: Address) {
        let mut seen = Seen::default();
        let mut last_event: Option<Instant> = None;
        loop {
            // Items gather until EVERY after the last event; with none, a
            // keep-alive goes out KEEP_ALIVE after it.
            let now = Instant::now();
            let next =
                last_event.map_or(now, |t| t + if seen.changed { EVERY } else { KEEP_ALIVE });
            let wait = next.saturating_duration_since(now);
            if !wait.is_zero() {
                match nw0::wait_for_news(address, nw0::EVERYTHING, wait) {
                    Ok(Some((topic, data))) => {
                        seen.item(&topic, &data, Instant::now());
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        // Tell the pages, then end their streams and the watch.
                        self.tell(address, "failed", &refusal(&e.to_string()));
                        let mut all = self.lock();
                        let _ = diagnostics::close_sockets(address);
                        all.remove(&address);
                        return;
                    }
                }
            }
            let now = Instant::now();
            if self.tell(address, "news", &seen.summary(now).to_string()) == 0 {
                return;
            }
            seen.changed = false;
            last_event = Some(now);
        }
    }
}

fn refusal(why: &str) -> String {
    json!({ "error": why }).to_string()
}

/// What a watch has seen so far.
#[derive(Default)]
struct Seen {
    items: u64,
    /// (when, items so far), oldest first, for items per second.
    samples: VecDeque<(Instant, u64)>,
    /// Items per topic, in the order first seen.
    topics: Vec<(String, u64)>,
    /// Items on topics past [`MAX_TOPICS`].
    other_topics: u64,
    /// The last items: topic, pretty data, when.
    last: VecDeque<(String, String, Instant)>,
    changed: bool,
}

impl Seen {
    fn item(&mut self, topic: &str, data: &Value, now: Instant) {
        self.items += 1;
        self.changed = true;
        let topic = truncate(topic, MAX_LABEL);
        let room = self.topics.len() < MAX_TOPICS;
        match self.topics.iter_mut().find(|(t, _)| *t == topic) {
            Some((_, n)) => *n += 1,
            None if room => self.topics.push((topic.clone(), 1)),
            None => self.other_topics += 1,
        }
        if self.last.len() >= LAST_ITEMS {
            self.last.pop_front();
        }
        self.last.push_back((topic, pretty(data), now));
    }

    fn summary(&mut self, now: Instant) -> Value {
        self.samples.push_back((now, self.items));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > RATE_WINDOW)
        {
            self.samples.pop_front();
        }
        let rate = match self.samples.front() {
            Some((t, n)) if now > *t => {
                (self.items - n) as f64 / now.saturating_duration_since(*t).as_secs_f64()
            }
            _ => 0.0,
        };
        let topics: Vec<Value> = self
            .topics
            .iter()
            .map(|(t, n)| json!({ "topic": t, "items": n }))
            .collect();
        let last: Vec<Value> = self
            .last
            .iter()
            .rev()
            .map(|(topic, data, at)| {
                json!({
                    "topic": topic,
                    "data": data,
                    "ms_ago": now.saturating_duration_since(*at).as_millis() as u64,
                })
            })
            .collect();
        json!({
            "items": self.items,
            "per_second": (rate * 10.0).round() / 10.0,
            "topics": topics,
            "other_topics": self.other_topics,
            "last": last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_and_last_items_are_bounded() {
        let mut seen = Seen::default();
        let t0 = Instant::now();
        for i in 0..200u64 {
            seen.item(&format!("t{i}"), &json!(i), t0);
        }
        let s = seen.summary(t0);
        assert_eq!(s["items"], 200);
        assert_eq!(s["topics"].as_array().unwrap().len(), MAX_TOPICS);
        assert_eq!(s["other_topics"], 150);
        let last = s["last"].as_array().unwrap();
        assert_eq!(last.len(), LAST_ITEMS);
        assert_eq!(last[0]["topic"], "t199", "newest first");
        assert_eq!(last[0]["data"], "199");
    }

    #[test]
    fn items_per_second_over_the_window() {
        let mut seen = Seen::default();
        let t0 = Instant::now();
        seen.summary(t0);
        for _ in 0..10 {
            seen.item("hit", &json!({"target": 3}), t0);
        }
        let s = seen.summary(t0 + Duration::from_secs(1));
        assert_eq!(s["per_second"], 10.0);
        assert_eq!(s["topics"][0]["items"], 10);
    }

    #[test]
    fn the_rate_forgets_what_left_the_window() {
        let mut seen = Seen::default();
        let t0 = Instant::now();
        let first = seen.summary(t0);
        assert_eq!(first["per_second"], 0.0, "nothing to count over yet");
        for _ in 0..10 {
            seen.item("hit", &json!(1), t0);
        }
        seen.summary(t0 + Duration::from_secs(1));
        for _ in 0..10 {
            seen.item("hit", &json!(2), t0);
        }
        // The sample at t0 is 3 s old and left the window; the one at 1 s is
        // exactly RATE_WINDOW old and still counts: 10 items over 2 s.
        let s = seen.summary(t0 + Duration::from_secs(3));
        assert_eq!(s["per_second"], 5.0);
    }
}
