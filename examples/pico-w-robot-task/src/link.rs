//! Keeping the link up and showing how far the bring-up got: what the
//! robot and the footprint baseline share.

use embassy_net::Stack;
use embassy_time::{with_timeout, Duration, Instant};

use crate::board::{Board, Command, JoinError};
use crate::status::{Led, Status};

/// A link down this long (after it was up) means: join again. Shorter
/// losses are left to the network interface (a Wi-Fi chip reconnects by
/// itself to a roaming access point, a cable is plugged back).
pub const REJOIN_AFTER: Duration = Duration::from_secs(10);
/// How long a join that succeeded may take to show as link up.
const LINK_UP_WITHIN: Duration = Duration::from_secs(5);
/// The pause after a failed join doubles from 1 s up to this.
const MAX_BACKOFF_S: u64 = 30;

/// Joins when needed, and drives the LED from the stack's state.
pub struct Bringup {
    led: Led,
    /// The link has been down since (`None`: it is up, or never came up).
    down_since: Option<Instant>,
    joined_once: bool,
    /// After a failed join: when to try again, and the pause after that.
    retry_at: Option<Instant>,
    backoff_s: u64,
    /// The address the stack had at the last step, for the log.
    address: Option<embassy_net::Ipv4Cidr>,
}

impl Bringup {
    /// Nothing joined yet.
    pub fn new() -> Bringup {
        Bringup {
            led: Led::new(),
            down_since: None,
            joined_once: false,
            retry_at: None,
            backoff_s: 1,
            address: None,
        }
    }

    /// The status the LED shows.
    pub fn status(&self) -> Status {
        self.led.status()
    }

    /// The next moment the loop must run for the bring-up (a blink, a join).
    pub fn next(&self) -> Option<Instant> {
        match (self.led.next(), self.retry_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Before each turn of the loop: joins if the link is (still) down and
    /// a join is due, stops the motors while there is no link, logs address
    /// changes, and updates the LED. Returns whether the stack has an address.
    pub async fn step<B: Board>(&mut self, stack: Stack<'_>, board: &mut B) -> bool {
        let now = Instant::now();
        let up = stack.is_link_up();
        if up {
            // Joined, by our join or by the interface itself.
            self.down_since = None;
            self.retry_at = None;
            self.backoff_s = 1;
            self.joined_once = true;
        } else if self.down_since.is_none() {
            if self.joined_once {
                warn!("link down: motors stopped");
            }
            board.drive(Command::Stop);
            self.down_since = Some(now);
        }
        let down_long = self
            .down_since
            .is_some_and(|since| !self.joined_once || now >= since + REJOIN_AFTER);
        let retry_due = self.retry_at.is_none_or(|at| now >= at);
        if !up && down_long && retry_due {
            self.join(stack, board).await;
        }

        let address = stack.config_v4().map(|c| c.address);
        if address != self.address {
            if let Some(a) = address {
                info!("address {} (DHCP)", a.address());
            } else {
                warn!("address lost");
            }
            self.address = address;
        }
        let status = if self.retry_at.is_some() {
            Status::JoinFailed
        } else if !stack.is_link_up() {
            Status::Joining
        } else if address.is_none() {
            Status::NoAddress
        } else {
            Status::Advertised
        };
        let now = Instant::now();
        let changed = self.led.set(status, now) | self.led.step(now);
        if changed {
            board.set_led(self.led.is_on()).await;
        }
        address.is_some()
    }

    async fn join<B: Board>(&mut self, stack: Stack<'_>, board: &mut B) {
        self.led.set(Status::Joining, Instant::now());
        board.set_led(true).await;
        info!("joining the network");
        let result = match board.join().await {
            Ok(()) => match with_timeout(LINK_UP_WITHIN, stack.wait_link_up()).await {
                Ok(()) => Ok(()),
                Err(_) => Err(JoinError::TimedOut),
            },
            Err(e) => Err(e),
        };
        let now = Instant::now();
        match result {
            Ok(()) => {
                info!("joined; waiting for an address (DHCP)");
                self.joined_once = true;
                self.down_since = None;
                self.retry_at = None;
                self.backoff_s = 1;
            }
            Err(e) => {
                warn!("join failed: {}; again in {} s", e, self.backoff_s);
                self.retry_at = Some(now + Duration::from_secs(self.backoff_s));
                self.backoff_s = (self.backoff_s * 2).min(MAX_BACKOFF_S);
            }
        }
    }
}

impl Default for Bringup {
    fn default() -> Self {
        Self::new()
    }
}
