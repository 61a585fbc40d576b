//! Sleeping until the node has work: the other half of the loop.

use core::future::poll_fn;
use core::task::{Context, Poll};

use embassy_time::{Instant, Timer};
use networkzero_core::node::Node;

use crate::drive::{gone, poll_once};
use crate::{now, Sockets};

impl<const SLOTS: usize> Sockets<'_, SLOTS> {
    /// Sleeps until the node has work: a datagram or bytes arrive, a socket
    /// can take the bytes the node has to send, a connection opens or
    /// closes, the stack's address changes, one of the node's deadlines
    /// passes, or `until` (your own deadline: the next news item, a blink).
    /// Returns at once if there is work already. Call it after draining the
    /// node's events; then [`Self::poll`].
    pub async fn wait<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &Node<SLOTS, BUF, ADVERTS>,
        until: Option<Instant>,
    ) {
        let t = now();
        let deadline = node
            .poll_timeout(t)
            .map(|d| Instant::from_millis(d.as_millis()))
            .into_iter()
            .chain(until)
            .min();
        let mut timer = deadline.map(Timer::at);
        poll_fn(|cx| {
            if let Some(timer) = timer.as_mut() {
                if poll_once(timer, cx).is_ready() {
                    return Poll::Ready(());
                }
            }
            if self.has_work(node, cx) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// Whether a turn has work now; if not, the task's waker is registered
    /// with everything that could give it some.
    fn has_work<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &Node<SLOTS, BUF, ADVERTS>,
        cx: &mut Context<'_>,
    ) -> bool {
        // The address: one the node does not know yet means work; either
        // way the waker is registered for the next change (up, down, a new
        // lease), through whichever of the two waits would not finish now.
        let interface = self.interface();
        if node.beacon().interfaces().first() != interface.as_ref() {
            return true;
        }
        let changed = if interface.is_some() {
            poll_once(self.stack.wait_config_down(), cx)
        } else {
            poll_once(self.stack.wait_config_up(), cx)
        };
        if changed.is_ready() {
            return true;
        }
        let mut work = false;
        for socket in &self.udp {
            work |= socket.poll_recv_ready(cx).is_ready();
        }
        for (i, socket) in self.tcp.iter_mut().enumerate() {
            // Registers for bytes in and for every change of state (smoltcp
            // wakes both wakers then), unless bytes are waiting already.
            let readable = poll_once(socket.wait_read_ready(), cx).is_ready();
            if node.has_connection(i) {
                work |= readable && node.wants_input(i);
                if !node.tcp_output(i).is_empty() {
                    work |= poll_once(socket.wait_write_ready(), cx).is_ready();
                }
            } else {
                // A connection to set up, or a socket to (re)arm.
                work |= node.slot_use(i).is_some() && (gone(socket) || socket.may_send());
            }
        }
        work
    }
}
