//! The live list of names. One [`Room`] per dashboard follows a
//! [`NameWatch`](diagnostics::NameWatch) from the start, so a page opened (or reloaded) later still
//! sees when each name was last heard and the ones that left recently.
//! Each page gets Server-Sent Events: first `names` (every name), then
//! `changes` (only what changed), at most [`EVERY`] apart, so 400 names
//! refreshing every 2 s make a few small events a second, not hundreds.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
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
/// Forgotten names remembered for pages that have not looked yet (a page
/// looks every few seconds; names are forgotten a minute after leaving).
const FORGOTTEN_KEPT: usize = 4096;

/// Every name heard since the dashboard started, as it changes.
pub struct Room {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// Moves on every change.
    version: u64,
    /// Each name, and the version that last changed it.
    names: BTreeMap<String, (HeardName, u64)>,
    /// Names forgotten, with the version that forgot them; oldest first.
    forgotten: VecDeque<(String, u64)>,
    /// Pages at an older version than this may have missed a forgotten name.
    forgotten_floor: u64,
}

/// What a page has not seen yet.
enum News {
    /// Everything (a page that is new, or fell too far behind).
    All(Vec<HeardName>),
    /// Names that changed, names forgotten.
    Changes(Vec<HeardName>, Vec<String>),
}

impl Room {
    /// Starts following the names on a thread of its own.
    pub fn start() -> std::io::Result<Arc<Room>> {
        let mut watch = diagnostics::watch_names().map_err(std::io::Error::other)?;
        let first = watch
            .changes(Duration::ZERO)
            .map_err(std::io::Error::other)?;
        let room = Arc::new(Room {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        room.apply(first);
        let follower = Arc::clone(&room);
        thread::Builder::new()
            .name("dashboard names".into())
            .spawn(move || {
                // Discovery runs until the process ends; so does this.
                while let Ok(changes) = watch.changes(KEEP_ALIVE) {
                    follower.apply(changes);
                }
            })?;
        Ok(room)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn apply(&self, changes: Vec<NameChange>) {
        if changes.is_empty() {
            return;
        }
        let mut state = self.lock();
        state.version += 1;
        let version = state.version;
        for change in changes {
            match change {
                NameChange::Updated(name) => {
                    state.names.insert(name.name.clone(), (name, version));
                }
                NameChange::Forgotten(name) => {
                    state.names.remove(&name);
                    if state.forgotten.len() >= FORGOTTEN_KEPT {
                        if let Some((_, v)) = state.forgotten.pop_front() {
                            state.forgotten_floor = v;
                        }
                    }
                    state.forgotten.push_back((name, version));
                }
            }
        }
        drop(state);
        self.changed.notify_all();
    }

    /// Waits up to `wait` for anything after version `seen` (`None`: a new
    /// page), and returns it with the version it goes up to.
    fn news_since(&self, seen: Option<u64>, wait: Duration) -> (u64, News) {
        self.news_since_by(seen, wait, |state, left| {
            self.changed
                .wait_timeout(state, left)
                .map(|(s, _)| s)
                .unwrap_or_else(|e| e.into_inner().0)
        })
    }

    /// [`news_since`](Self::news_since) with its waiting passed in:
    /// `until_changed(state, left)` gives the lock up until a change, or
    /// for at most `left`. Tests pass one that makes the change itself, as
    /// the follower thread would, so that whether an up-to-date page waits
    /// at all is seen without a second thread and a race.
    fn news_since_by<'a>(
        &'a self,
        seen: Option<u64>,
        wait: Duration,
        mut until_changed: impl FnMut(MutexGuard<'a, State>, Duration) -> MutexGuard<'a, State>,
    ) -> (u64, News) {
        let mut state = self.lock();
        if let Some(seen) = seen {
            let deadline = Instant::now() + wait;
            while state.version == seen {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                state = until_changed(state, left);
            }
        }
        let all = || state.names.values().map(|(n, _)| n.clone()).collect();
        let news = match seen {
            Some(seen) if seen >= state.forgotten_floor => {
                let updated = state
                    .names
                    .values()
                    .filter(|(_, v)| *v > seen)
                    .map(|(n, _)| n.clone())
                    .collect();
                let forgotten = state
                    .forgotten
                    .iter()
                    .filter(|(_, v)| *v > seen)
                    .map(|(n, _)| n.clone())
                    .collect();
                News::Changes(updated, forgotten)
            }
            _ => News::All(all()),
        };
        (state.version, news)
    }

    /// Streams the names to one page until it goes away.
    pub fn stream(&self, mut events: EventStream) {
        if diagnostics::hears_adverts().is_ok_and(|hears| !hears) {
            let notice = json!({ "warning": super::DEAF }).to_string();
            if events.send("notice", &notice).is_err() {
                return;
            }
        }
        let mut seen = None;
        let mut last_event = Instant::now();
        loop {
            let (version, news) = self.news_since(seen, KEEP_ALIVE);
            let now = Instant::now();
            let sent = match news {
                News::All(names) => {
                    let all: Vec<Value> = names.iter().map(|n| row(n, now)).collect();
                    events.send("names", &Value::Array(all).to_string())
                }
                News::Changes(updated, forgotten) if updated.is_empty() && forgotten.is_empty() => {
                    if now.saturating_duration_since(last_event) < KEEP_ALIVE {
                        continue;
                    }
                    events.keep_alive()
                }
                News::Changes(updated, forgotten) => {
                    let updated: Vec<Value> = updated.iter().map(|n| row(n, now)).collect();
                    let forgotten: Vec<Value> = forgotten
                        .iter()
                        .map(|n| Value::String(truncate(n, MAX_LABEL)))
                        .collect();
                    let data = json!({ "updated": updated, "forgotten": forgotten });
                    events.send("changes", &data.to_string())
                }
            };
            if sent.is_err() {
                return;
            }
            seen = Some(version);
            last_event = Instant::now();
            // Changes gather until EVERY has passed since this event.
            thread::sleep(EVERY);
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn heard(name: &str, status: Status) -> HeardName {
        let then = Instant::now();
        HeardName {
            name: name.into(),
            address: "10.200.0.3:5555".parse().unwrap(),
            last_heard: then,
            status,
            since: then,
        }
    }

    fn room() -> Room {
        Room {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }
    }

    fn names(news: &News) -> (Vec<&str>, Vec<&str>) {
        match news {
            News::All(all) => (all.iter().map(|n| n.name.as_str()).collect(), vec!["ALL"]),
            News::Changes(u, f) => (
                u.iter().map(|n| n.name.as_str()).collect(),
                f.iter().map(String::as_str).collect(),
            ),
        }
    }

    #[test]
    fn a_row_carries_ages_and_status() {
        let name = heard("<img src=x onerror=alert(1)>", Status::Goodbye);
        let r = row(&name, name.since + Duration::from_millis(1500));
        assert_eq!(r["ip"], "10.200.0.3");
        assert_eq!(r["address"], "10.200.0.3:5555");
        assert_eq!(r["heard_ms"], 1500);
        assert_eq!(r["status"], "goodbye");
        assert_eq!(r["name"], "<img src=x onerror=alert(1)>");
    }

    #[test]
    fn a_page_gets_everything_then_only_what_changed() {
        let room = room();
        room.apply(vec![
            NameChange::Updated(heard("a", Status::Alive)),
            NameChange::Updated(heard("b", Status::Alive)),
        ]);
        let (v1, news) = room.news_since(None, Duration::ZERO);
        assert_eq!(names(&news), (vec!["a", "b"], vec!["ALL"]));
        let (v, news) = room.news_since(Some(v1), Duration::ZERO);
        assert_eq!((v, names(&news)), (v1, (vec![], vec![])));
        room.apply(vec![
            NameChange::Updated(heard("b", Status::Goodbye)),
            NameChange::Forgotten("a".into()),
        ]);
        let (v2, news) = room.news_since(Some(v1), Duration::ZERO);
        assert_eq!(names(&news), (vec!["b"], vec!["a"]));
        // A page opened now sees "b", gone, and not "a".
        let (v, news) = room.news_since(None, Duration::ZERO);
        assert_eq!((v, names(&news)), (v2, (vec!["b"], vec!["ALL"])));
    }

    #[test]
    fn a_page_behind_by_a_few_forgotten_names_gets_only_those() {
        let room = room();
        room.apply(vec![NameChange::Updated(heard("kept", Status::Alive))]);
        let (v1, _) = room.news_since(None, Duration::ZERO);
        room.apply(vec![NameChange::Forgotten("gone1".into())]);
        room.apply(vec![NameChange::Forgotten("gone2".into())]);
        let (_, news) = room.news_since(Some(v1), Duration::ZERO);
        assert_eq!(names(&news), (vec![], vec!["gone1", "gone2"]));
        let (_, news) = room.news_since(Some(v1 + 1), Duration::ZERO);
        assert_eq!(names(&news), (vec![], vec!["gone2"]), "gone1 was seen");
    }

    #[test]
    fn a_page_behind_gets_its_news_at_once_however_long_it_may_wait() {
        let room = room();
        room.apply(vec![NameChange::Updated(heard("a", Status::Alive))]);
        let (v1, _) = room.news_since(None, Duration::ZERO);
        room.apply(vec![NameChange::Updated(heard("b", Status::Alive))]);
        // However long a stream would wait, a page with something new gets
        // it now. (Whether an up-to-date page waits at all:
        // an_up_to_date_page_waits_for_the_next_change.)
        let century = Duration::from_secs(100 * 365 * 24 * 3600);
        let (_, news) = room.news_since(Some(v1), century);
        assert_eq!(names(&news), (vec!["b"], vec![]));
    }

    #[test]
    fn an_up_to_date_page_waits_for_the_next_change() {
        let room = room();
        room.apply(vec![NameChange::Updated(heard("a", Status::Alive))]);
        let (v1, _) = room.news_since(None, Duration::ZERO);
        // A page that has seen everything must wait (up to its wait) for
        // the next change, not be told "nothing" at once: its stream would
        // then spin. The waiting here makes the change, as the follower
        // thread would while the page waits.
        let wait = Duration::from_secs(60);
        let mut waits = Vec::new();
        let (v2, news) = room.news_since_by(Some(v1), wait, |mut state, left| {
            waits.push(left);
            state.version += 1;
            let version = state.version;
            state
                .names
                .insert("b".into(), (heard("b", Status::Alive), version));
            state
        });
        assert_eq!((v2, names(&news)), (v1 + 1, (vec!["b"], vec![])));
        assert_eq!(waits.len(), 1, "one wait, ended by the change");
        assert!(waits[0] > Duration::ZERO && waits[0] <= wait, "{waits:?}");
    }

    #[test]
    fn a_page_too_far_behind_gets_everything_again() {
        let room = room();
        room.apply(vec![NameChange::Updated(heard("kept", Status::Alive))]);
        for i in 0..=FORGOTTEN_KEPT {
            room.apply(vec![NameChange::Forgotten(format!("gone{i}"))]);
        }
        let (_, news) = room.news_since(Some(1), Duration::ZERO);
        assert_eq!(names(&news), (vec!["kept"], vec!["ALL"]));
    }
}
