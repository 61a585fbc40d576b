//! The one process-wide object: what runs behind the beginner's calls.
//!
//! The [`Runtime`] owns every background thread and cache — the discovery
//! thread ([`Discovery`]), the transport (libzmq's context, or the pure
//! transport's I/O thread) with the socket cache ([`Messaging`]), and the
//! server of Python networkzero's beacon RPC — and starts each on first use.
//! A part that failed to start, or whose thread has stopped, is started
//! again by the next call that needs it: one failure does not disable
//! networkzero until the program restarts.
//!
//! It also installs the exit hooks ([`exit`]): the only code that runs after
//! `main` returns.

mod exit;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::thread::JoinHandle;

use log::warn;

use networkzero_core::zmtp::curve::ClassKeys;

use crate::discovery::{Discovery, PythonLookups};
use crate::error::{Error, Result};
use crate::messaging::Messaging;
use crate::ports::HeldPorts;
use crate::python_beacon;

/// The runtime: one per process, its parts started on first use.
pub(crate) struct Runtime {
    discovery: Mutex<Option<(Arc<Discovery>, JoinHandle<()>)>>,
    messaging: Mutex<Option<Arc<Messaging>>>,
    /// The Python beacon RPC server (only while this process hears adverts).
    python_rpc: Mutex<Option<JoinHandle<()>>>,
    exit_hooks: Once,
    /// Set by the exit hook: nothing starts again after it.
    exiting: AtomicBool,
    /// The class's CURVE keys ([`Runtime::class_keys`]).
    class: Mutex<Class>,
    /// The ports advertised and not yet listened on ([`HeldPorts`]).
    held: HeldPorts,
}

/// The class key as messaging uses it: derived once per passphrase and
/// leaked, since every connection borrows its keys for `'static` (the
/// core's `Security`). `made` holds each leaked set, so a program that sets
/// the same passphrase again reuses it: the leak is one set of keys per
/// distinct passphrase a program uses (usually one).
struct Class {
    /// `NW0_CLASS_KEY` was read.
    read_env: bool,
    keys: Option<&'static ClassKeys>,
    made: Vec<&'static ClassKeys>,
}

impl Class {
    fn keys_for(&mut self, passphrase: &str) -> Option<&'static ClassKeys> {
        if passphrase.is_empty() {
            return None;
        }
        let keys = ClassKeys::from_passphrase(passphrase);
        if let Some(made) = self.made.iter().find(|k| ***k == keys) {
            return Some(*made);
        }
        let leaked: &'static ClassKeys = Box::leak(Box::new(keys));
        self.made.push(leaked);
        Some(leaked)
    }
}

/// The process's runtime. Its parts start on first use, so a program that
/// never calls networkzero runs no thread.
static RUNTIME: Runtime = Runtime {
    discovery: Mutex::new(None),
    messaging: Mutex::new(None),
    python_rpc: Mutex::new(None),
    exit_hooks: Once::new(),
    exiting: AtomicBool::new(false),
    class: Mutex::new(Class {
        read_env: false,
        keys: None,
        made: Vec::new(),
    }),
    held: HeldPorts::new(),
};

/// Whether the Python RPC server must be started (again): never started,
/// or its thread has ended (it gave up on the port, or its transport
/// stopped). One that still serves, or waits its turn, is left alone: a
/// second would only wait on the first.
fn wants_rpc_server(thread: Option<&JoinHandle<()>>) -> bool {
    thread.is_none_or(|t| t.is_finished())
}

/// The process's runtime.
pub(crate) fn get() -> &'static Runtime {
    &RUNTIME
}

fn lock<T>(slot: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not stop networkzero: the slots stay usable.
    slot.lock().unwrap_or_else(|e| e.into_inner())
}

impl Runtime {
    /// Discovery, started (again) if it is not running.
    pub(crate) fn discovery(&self) -> Result<Arc<Discovery>> {
        let mut slot = lock(&self.discovery);
        if let Some((discovery, thread)) = &*slot {
            if !thread.is_finished() {
                return Ok(Arc::clone(discovery));
            }
            warn!("networkzero's discovery thread had stopped; starting it again");
        }
        let (discovery, thread) = Discovery::start()?;
        *slot = Some((Arc::clone(&discovery), thread));
        drop(slot);
        self.install_exit_hooks();
        if discovery.hears_adverts() {
            // Python programs started after us cannot bind 9999 and will
            // ask this computer's beacon RPC instead: be it (or wait our turn).
            self.serve_python_rpc(&discovery);
        }
        Ok(discovery)
    }

    /// The transport and socket cache, started (again) if not running.
    pub(crate) fn messaging(&self) -> Result<Arc<Messaging>> {
        let mut slot = lock(&self.messaging);
        if let Some(messaging) = &*slot {
            if messaging.is_running() {
                return Ok(Arc::clone(messaging));
            }
            if self.exiting.load(Ordering::Relaxed) {
                // Flushed and closed by the exit hook: the program is ending.
                return Err(Error::network(
                    "sending or receiving",
                    "networkzero has shut down: the program is exiting",
                ));
            }
            warn!("networkzero's transport had stopped; starting it again with fresh sockets");
        }
        // A failed start leaves the slot empty: the next call tries again.
        let messaging = Arc::new(Messaging::start(self.class_keys(), self.held_ports())?);
        *slot = Some(Arc::clone(&messaging));
        drop(slot);
        self.install_exit_hooks();
        Ok(messaging)
    }

    /// The ports this program advertised and has not listened on yet.
    pub(crate) fn held_ports(&self) -> &'static HeldPorts {
        &get().held
    }

    /// The class's CURVE keys, if this program has a class key
    /// (`NW0_CLASS_KEY`, read on first use, or [`Runtime::set_class_key`]).
    pub(crate) fn class_keys(&self) -> Option<&'static ClassKeys> {
        let mut class = lock(&self.class);
        if !class.read_env {
            class.read_env = true;
            if let Ok(passphrase) = std::env::var("NW0_CLASS_KEY") {
                class.keys = class.keys_for(&passphrase);
            }
        }
        class.keys
    }

    /// Uses the class key of `passphrase` for messages (empty: none). The
    /// program's open sockets are closed, so every later call speaks as
    /// the key now says.
    pub(crate) fn set_class_key(&self, passphrase: &str) {
        let keys = {
            let mut class = lock(&self.class);
            class.read_env = true;
            class.keys = class.keys_for(passphrase);
            class.keys
        };
        if let Some(messaging) = lock(&self.messaging).as_ref() {
            messaging.set_class_keys(keys);
        }
    }

    fn serve_python_rpc(&self, discovery: &Arc<Discovery>) {
        let messaging = match self.messaging() {
            Ok(m) => m,
            Err(e) => {
                warn!("cannot serve Python networkzero's beacon RPC: {e}");
                return;
            }
        };
        let mut slot = lock(&self.python_rpc);
        if !wants_rpc_server(slot.as_ref()) {
            return;
        }
        *slot = python_beacon::serve_in_background(
            Arc::clone(discovery),
            Arc::clone(messaging.transport()),
        );
    }

    /// Runs `f` with the ways discovery asks a Python beacon on this
    /// computer (over the transport, started only if asked).
    pub(crate) fn with_python_lookups<R>(&self, f: impl FnOnce(&PythonLookups<'_>) -> R) -> R {
        let discover = |name: &str, wait| {
            let messaging = self.messaging().ok()?;
            python_beacon::discover(messaging.transport(), name, wait)
        };
        let discover_all = || {
            self.messaging()
                .map(|m| python_beacon::discover_all(m.transport()))
                .unwrap_or_default()
        };
        f(&PythonLookups {
            discover: &discover,
            discover_all: &discover_all,
        })
    }

    /// Discovery and messaging if they were started (exit never starts
    /// them).
    fn started(&self) -> (Option<Arc<Discovery>>, Option<Arc<Messaging>>) {
        let discovery = lock(&self.discovery).as_ref().map(|(d, _)| Arc::clone(d));
        let messaging = lock(&self.messaging).clone();
        (discovery, messaging)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each passphrase gets its own keys, made once: setting it again reuses
    /// the set leaked for it (one leak per distinct passphrase), another
    /// passphrase never gets that set, and an empty one means no key.
    #[test]
    fn each_passphrase_gets_its_own_keys_made_once() {
        let mut class = Class {
            read_env: true,
            keys: None,
            made: Vec::new(),
        };
        assert!(class.keys_for("").is_none(), "empty: no class key");
        let alpha = class.keys_for("alpha").expect("keys for alpha");
        let beta = class.keys_for("beta").expect("keys for beta");
        assert!(*alpha == ClassKeys::from_passphrase("alpha"));
        assert!(*beta == ClassKeys::from_passphrase("beta"), "not alpha's");
        let again = class.keys_for("alpha").expect("keys for alpha");
        assert!(std::ptr::eq(alpha, again), "alpha's set, reused");
        assert_eq!(class.made.len(), 2, "one set per passphrase");
    }

    /// A discovery started again (its thread had died) starts the Python
    /// RPC server again only if the last one has ended: a server that gave
    /// up is not lost for good, and one still serving gets no twin.
    #[test]
    fn the_rpc_server_starts_again_only_once_the_last_one_ended() {
        assert!(wants_rpc_server(None), "never started");
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let serving = std::thread::spawn(move || {
            let _ = stopped.recv();
        });
        assert!(!wants_rpc_server(Some(&serving)), "still serving");
        drop(stop);
        // The thread returns at once; is_finished turns true a moment later.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !serving.is_finished() && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert!(wants_rpc_server(Some(&serving)), "ended");
    }
}
