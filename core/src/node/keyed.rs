//! A class key on the node's connections (feature `curve`): with
//! [`Node::set_class_keys`] every connection the node starts is CURVE with
//! the class's keys (a service's as the class server, a requester's or
//! subscriber's as the class client), the same keys a std program derives
//! from the same passphrase; without it they stay NULL.
//!
//! A peer without the key (or with another class's) completes no handshake
//! (or, keyed, hangs up in it: libzmq with NULL closes on seeing a CURVE
//! greeting, at times before it has sent its own mechanism): the node counts
//! each such refusal ([`Node::key_refusals`]) and tells it
//! as [`Event::KeyRefused`](super::Event::KeyRefused), at most once per slot
//! every [`KEY_RETRY`]; a requester or subscriber refused over the key
//! waits [`KEY_RETRY`] (not the usual 100 ms) before it dials again.
//!
//! # Randomness
//! The node has no RNG (sans-IO): the caller gives it 32 bytes of entropy
//! once, and each connection's seed (CURVE's transient keys and nonces) is
//! drawn from them by fast key erasure over Salsa20: each draw replaces the
//! key it came from, so a later memory dump does not reveal earlier seeds.
//! The entropy must be fresh at every boot: a real board needs a real source
//! (the RP2040's ROSC random bit, a hardware RNG, an entropy pool kept in
//! flash and mixed with one); a seed that repeats across boots makes the
//! transient keys repeat. QEMU's example firmware, which has no entropy
//! source, uses a build-time seed mixed with a timer: fine for a test,
//! never for a robot in a classroom.

use super::{Error, Node, SlotUse};
use crate::socket::Secure;
use crate::zmtp::curve::{self, ClassKeys};
use crate::zmtp::{Security, ZmtpError, MIN_RX_BUFFER_CURVE, MIN_TX_BUFFER_CURVE};
use crate::{Duration, Instant};

/// After a refusal over the key, a slot's next refusal is not told before
/// this long (it is still counted), and a requester or subscriber dials the
/// refusing peer again no sooner: a keyed robot next to an unkeyed
/// laptop (or the reverse) costs a few packets every 5 s, not ten a second.
pub const KEY_RETRY: Duration = Duration::from_secs(5);

/// The node's key, its seed source and what it tells about refusals.
pub(crate) struct Keyed<const SLOTS: usize> {
    class: Option<&'static ClassKeys>,
    /// The seed source's key: replaced at every draw.
    pool: [u8; 32],
    /// Refusals over the key since boot (saturating).
    refusals: u32,
    /// Per slot: a refusal not told yet (`Some(None)`: the peer hung up).
    untold: [Option<Option<ZmtpError>>; SLOTS],
    /// The latest `now` the node was given with input (for a hang-up
    /// reported without one).
    now: Instant,
    /// Per slot: no refusal is told, nor a client redialled, before this.
    quiet_until: [Instant; SLOTS],
}

impl<const SLOTS: usize> Keyed<SLOTS> {
    pub(crate) const fn new() -> Self {
        Keyed {
            class: None,
            pool: [0; 32],
            refusals: 0,
            untold: [None; SLOTS],
            now: Instant::ZERO,
            quiet_until: [Instant::ZERO; SLOTS],
        }
    }

    /// The next connection's seed (fast key erasure: the pool's key is
    /// replaced by the first half of its keystream).
    fn seed(&mut self) -> [u8; 32] {
        let mut block = [0u8; 64];
        curve::expand(&self.pool, &mut block);
        let (key, seed) = block.split_at(32);
        self.pool.copy_from_slice(key);
        let mut out = [0u8; 32];
        out.copy_from_slice(seed);
        block.fill(0);
        out
    }
}

/// Whether a connection error means the peer has no key, another key, or
/// wants one we lack.
fn over_the_key(error: Option<ZmtpError>) -> Option<ZmtpError> {
    error.filter(|e| {
        matches!(
            e,
            ZmtpError::MechanismMismatch | ZmtpError::KeyMismatch | ZmtpError::ClientKeyRefused
        )
    })
}

impl<const SLOTS: usize, const BUF: usize, const ADVERTS: usize> Node<SLOTS, BUF, ADVERTS> {
    /// Keys the node's connections with a class's CURVE keys (`None`: NULL
    /// again), derived once with [`ClassKeys::from_passphrase`] into a
    /// `static` (firmware: a `StaticCell`). `entropy`: 32 bytes from the
    /// board's entropy source, fresh at every boot (see the module docs).
    /// Connections started from now on use it; call it before
    /// [`Self::serve`] and the clients. Refused with
    /// [`Error::KeyNeedsBuffer`] if `BUF` is below what a CURVE handshake
    /// needs ([`MIN_RX_BUFFER_CURVE`]).
    pub fn set_class_keys(
        &mut self,
        class: Option<&'static ClassKeys>,
        entropy: [u8; 32],
    ) -> Result<(), Error> {
        if class.is_some() && BUF < MIN_RX_BUFFER_CURVE.max(MIN_TX_BUFFER_CURVE) {
            return Err(Error::KeyNeedsBuffer);
        }
        self.keyed.class = class;
        self.keyed.pool = entropy;
        Ok(())
    }

    /// Whether the node's new connections are keyed.
    pub fn is_keyed(&self) -> bool {
        self.keyed.class.is_some()
    }

    /// Peers refused over the key since boot: a peer without the class key
    /// (or with another class's), or, unkeyed, one that wants a key. Counts
    /// every refusal, told or not.
    pub fn key_refusals(&self) -> u32 {
        self.keyed.refusals
    }

    /// The security of the connection starting on `slot`, if keyed.
    pub(crate) fn secure(&mut self, slot: usize) -> Option<Secure> {
        let class = self.keyed.class?;
        let security = match self.slot_use(slot)? {
            SlotUse::Service { .. } => Security::CurveServer(&class.server),
            SlotUse::Client(_) => Security::CurveClient(&class.client),
        };
        Some(Secure {
            security,
            seed: self.keyed.seed(),
        })
    }

    /// Input on `slot` may have failed its handshake (`before`: its error
    /// before the input): a refusal over the key is counted, and told
    /// unless the slot told one less than [`KEY_RETRY`] ago.
    pub(crate) fn check_refusal(&mut self, slot: usize, before: Option<ZmtpError>, now: Instant) {
        self.keyed.now = now;
        if before.is_some() {
            return;
        }
        if let Some(error) = over_the_key(self.sockets.error(slot)) {
            self.refused(slot, Some(error), now);
        }
    }

    /// The slot's transport is ending (EOF, or gone): if the node is keyed
    /// and the peer hangs up in the handshake, before either side failed
    /// it, the key is the likely cause (see the module docs). Checked once
    /// per connection: after the first EOF its connection takes no input.
    pub(crate) fn check_hangup(&mut self, slot: usize, now: Option<Instant>) {
        let s = &self.sockets;
        if self.keyed.class.is_none() || !s.in_handshake(slot) || !s.wants_input(slot) {
            return;
        }
        let now = now.unwrap_or(self.keyed.now);
        self.refused(slot, None, now);
    }

    /// Counts a refusal on `slot`; tells it unless the slot told one less
    /// than [`KEY_RETRY`] ago.
    fn refused(&mut self, slot: usize, error: Option<ZmtpError>, now: Instant) {
        self.keyed.refusals = self.keyed.refusals.saturating_add(1);
        let (Some(untold), Some(quiet)) = (
            self.keyed.untold.get_mut(slot),
            self.keyed.quiet_until.get_mut(slot),
        ) else {
            return;
        };
        if now >= *quiet {
            *untold = Some(error);
        }
        *quiet = now + KEY_RETRY;
    }

    /// A refusal to tell: its slot, what the slot is for and why.
    pub(crate) fn poll_refusal(&mut self) -> Option<(usize, Option<SlotUse>, Option<ZmtpError>)> {
        let (slot, error) = self
            .keyed
            .untold
            .iter_mut()
            .enumerate()
            .find_map(|(i, e)| Some((i, e.take()?)))?;
        Some((slot, self.slot_use(slot), error))
    }

    /// Whether a refusal waits to be told.
    pub(crate) fn has_refusal(&self) -> bool {
        self.keyed.untold.iter().any(Option::is_some)
    }

    /// Whether a client on `slot` must not dial yet (it was refused over
    /// the key less than [`KEY_RETRY`] ago).
    pub(crate) fn held_back(&self, slot: usize, now: Instant) -> bool {
        self.keyed.quiet_until.get(slot).is_some_and(|&q| now < q)
    }

    /// When the first client held back may dial again.
    pub(crate) fn next_redial(&self, now: Instant) -> Option<Instant> {
        self.clients
            .iter()
            .flatten()
            .map(|c| usize::from(c.slot))
            .filter(|&s| self.sockets.is_parked(s) && self.held_back(s, now))
            .filter_map(|s| self.keyed.quiet_until.get(s).copied())
            .min()
    }
}
