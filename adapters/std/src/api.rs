//! The beginner's functions: each takes the runtime's part it needs and
//! hands the call to its layer ([`crate::discovery`] or
//! [`crate::messaging`]). The docs and examples a beginner reads are here.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::address::{Address, ToAddress};
use crate::error::Result;
use crate::messaging::{self, Messaging, ToMessage, COMMAND_WAIT_S};
use crate::runtime;
use crate::wait::Wait;

/// The message calls' way to the runtime's transport and sockets.
fn messaging() -> Result<Arc<Messaging>> {
    runtime::get().messaging()
}

/// Advertises `name` on a free port of this computer and returns the
/// address to listen on (for [`wait_for_message`], [`publish_news`]…).
/// Other programs find it with [`discover`]. Names are unadvertised when
/// the program exits. The port is this program's from the advert on, even
/// before it listens there: no other program is given it, and a program
/// that connects early is answered once this one waits for messages.
///
/// ```no_run
/// let address = networkzero::advertise("hello")?;
/// println!("listening at {address}");
/// # Ok::<(), networkzero::Error>(())
/// ```
pub fn advertise(name: &str) -> Result<Address> {
    let runtime = runtime::get();
    runtime.discovery()?.advertise(name, runtime.held_ports())
}

/// Advertises `name` at an address you choose: text like `"8080"`,
/// `"192.168.1.5:8080"`, or an [`Address`].
///
/// ```no_run
/// let address = networkzero::advertise_at("hello", "8080")?; // port 8080 of this computer
/// # Ok::<(), networkzero::Error>(())
/// ```
pub fn advertise_at(name: &str, address: impl ToAddress) -> Result<Address> {
    let address = address.to_address()?;
    runtime::get().discovery()?.advertise_at(name, address)
}

/// Uses a class key: only programs given the same passphrase hear this
/// program's adverts and are heard by it; adverts without the key (or with
/// another, or replayed) are ignored with a warning. Messages, commands and
/// news travel encrypted (CurveZMQ), and only programs with the same key
/// can send to this program, command it, read its news or pose as its
/// servers; others are refused with a warning. An empty passphrase turns
/// the key off. The `NW0_CLASS_KEY` environment variable does the same for
/// a whole classroom without changing programs. Set the key before sending
/// or waiting: the program's open sockets are closed when it changes.
/// Python networkzero cannot use a class key, so a keyed program refuses
/// Python programs.
///
/// ```no_run
/// networkzero::set_class_key("blue whale")?;
/// let address = networkzero::advertise("robot")?; // no other team can take over "robot"
/// # Ok::<(), networkzero::Error>(())
/// ```
pub fn set_class_key(passphrase: &str) -> Result<()> {
    let key = (!passphrase.is_empty())
        .then(|| networkzero_core::auth::ClassKey::from_passphrase(passphrase));
    runtime::get().discovery()?.set_class_key(key);
    runtime::get().set_class_key(passphrase);
    Ok(())
}

/// Stops advertising `name`; other programs forget it at once.
///
/// ```no_run
/// networkzero::advertise("quiz-question-1")?;
/// networkzero::unadvertise("quiz-question-1")?;
/// # Ok::<(), networkzero::Error>(())
/// ```
pub fn unadvertise(name: &str) -> Result<()> {
    runtime::get().discovery()?.unadvertise(name);
    Ok(())
}

/// Finds the address of the service advertised as `name`, waiting up to
/// `wait` (seconds, a `Duration`, or [`FOREVER`](crate::FOREVER)). Returns
/// `None`, with a warning, if it is not found in time.
///
/// A service already running is usually found within milliseconds: this
/// program asks the network, and every networkzero program advertising the
/// name answers at once (a Python networkzero service is heard at its next
/// advert, within 2 s).
///
/// ```no_run
/// match networkzero::discover("hello", 10)? {
///     Some(address) => println!("hello is at {address}"),
///     None => println!("no hello on this network"),
/// }
/// # Ok::<(), networkzero::Error>(())
/// ```
pub fn discover(name: &str, wait: impl Into<Wait>) -> Result<Option<Address>> {
    let wait = wait.into().checked()?;
    let runtime = runtime::get();
    let discovery = runtime.discovery()?;
    Ok(runtime.with_python_lookups(|python| discovery.discover(name, wait, python)))
}

/// Every name advertised on the network now, with its address, sorted by name.
///
/// ```no_run
/// for (name, address) in networkzero::discover_all()? {
///     println!("{name}\t{address}");
/// }
/// # Ok::<(), networkzero::Error>(())
/// ```
pub fn discover_all() -> Result<Vec<(String, Address)>> {
    let runtime = runtime::get();
    let discovery = runtime.discovery()?;
    Ok(runtime.with_python_lookups(|python| discovery.discover_all(python)))
}

/// The names in a group — `"chat/alice"` and `"chat/bob"` are in group
/// `"chat"` — with their addresses.
///
/// ```no_run
/// networkzero::advertise("chat/alice")?;
/// let others = networkzero::discover_group("chat")?; // [("chat/alice", …), ("chat/bob", …)]
/// # let _ = others;
/// # Ok::<(), networkzero::Error>(())
/// ```
pub fn discover_group(group: &str) -> Result<Vec<(String, Address)>> {
    discover_group_with(group, "/", &[])
}

/// Like [`discover_group`], with another separator than `/` and names to leave out.
///
/// ```no_run
/// let others = networkzero::discover_group_with("chat", "/", &["chat/alice"])?; // not me
/// # let _ = others;
/// # Ok::<(), networkzero::Error>(())
/// ```
pub fn discover_group_with(
    group: &str,
    separator: &str,
    exclude: &[&str],
) -> Result<Vec<(String, Address)>> {
    let prefix = format!("{group}{separator}");
    Ok(discover_all()?
        .into_iter()
        .filter(|(name, _)| in_group(name, &prefix, exclude))
        .collect())
}

/// Whether `name` is in the group whose names start with `prefix`
/// (`"chat/"`) and is not one of those left out (a program's own name).
fn in_group(name: &str, prefix: &str, exclude: &[&str]) -> bool {
    name.starts_with(prefix) && !exclude.contains(&name)
}

/// Sends `message` to the service at `address` and waits up to `wait` for
/// its reply. Returns `None`, with a warning, if no reply comes in time.
/// The message is any value serde can serialize, sent as JSON, or one
/// wrapped in [`Postcard`](crate::Postcard) for a Rust program.
/// A node that could not take the message (a board whose buffers it
/// outgrows answers with an error reply) makes it a hard
/// [`crate::Error::BadMessage`] naming the limit.
///
/// ```no_run
/// use networkzero as nw0;
/// let hello = nw0::discover("hello", 10)?.expect("is hello running?");
/// if let Some(reply) = nw0::send_message(&hello, "World", 5)? {
///     println!("{reply}"); // "Hello, World"
/// }
/// # Ok::<(), nw0::Error>(())
/// ```
pub fn send_message(
    address: impl ToAddress,
    message: impl ToMessage,
    wait: impl Into<Wait>,
) -> Result<Option<Value>> {
    messaging::send_message(&messaging, address, message, wait)
}

/// [`send_message`], with the reply read as a `T` (JSON or postcard). A
/// reply that is not a `T` gives `None` and a warning that shows it.
///
/// ```no_run
/// use networkzero as nw0;
/// #[derive(serde::Deserialize)]
/// struct Position { x: f64, y: f64 }
///
/// let robot = nw0::discover("robot", 10)?.expect("robot not found");
/// if let Some(p) = nw0::send_message_as::<Position>(&robot, "where are you?", 5)? {
///     println!("at {}, {}", p.x, p.y);
/// }
/// # Ok::<(), nw0::Error>(())
/// ```
pub fn send_message_as<T: DeserializeOwned>(
    address: impl ToAddress,
    message: impl ToMessage,
    wait: impl Into<Wait>,
) -> Result<Option<T>> {
    messaging::send_message(&messaging, address, message, wait)
}

/// Waits up to `wait` for a message at `address` (where this program
/// listens, e.g. from [`advertise`]) and returns it. Answer it with
/// [`send_reply`]. Returns `None` on timeout (quietly: waiting in a loop
/// with a short timeout is normal).
///
/// ```no_run
/// use networkzero as nw0;
/// let address = nw0::advertise("hello")?;
/// while let Some(name) = nw0::wait_for_message(&address, nw0::FOREVER)? {
///     nw0::send_reply(&address, format!("Hello, {}", name.as_str().unwrap_or("?")))?;
/// }
/// # Ok::<(), nw0::Error>(())
/// ```
pub fn wait_for_message(address: impl ToAddress, wait: impl Into<Wait>) -> Result<Option<Value>> {
    messaging::wait_for_message(&messaging, address, wait)
}

/// [`wait_for_message`], with the message read as a `T`: your own type
/// (`#[derive(serde::Deserialize)]`), JSON or [`Postcard`](crate::Postcard).
/// A message that is not a `T` is answered with `null` and dropped, with
/// a warning that names `T` and shows the message; the call waits on for
/// the next one.
///
/// ```no_run
/// use networkzero as nw0;
/// #[derive(serde::Deserialize)]
/// struct Move { x: i32, y: i32 }
///
/// let address = nw0::advertise("plotter")?;
/// while let Some(m) = nw0::wait_for_message_as::<Move>(&address, nw0::FOREVER)? {
///     nw0::send_reply(&address, format!("moved to {}, {}", m.x, m.y))?;
/// }
/// # Ok::<(), nw0::Error>(())
/// ```
pub fn wait_for_message_as<T: DeserializeOwned>(
    address: impl ToAddress,
    wait: impl Into<Wait>,
) -> Result<Option<T>> {
    messaging::wait_for_message(&messaging, address, wait)
}

/// Replies to the message last received at `address`. A reply wrapped in
/// [`Postcard`](crate::Postcard) goes as postcard only if the message was
/// postcard too: a program that asked in JSON (Python, `nw0 send`) gets JSON.
///
/// ```no_run
/// use networkzero as nw0;
/// let address = nw0::advertise("echo")?;
/// if let Some(message) = nw0::wait_for_message(&address, 30)? {
///     nw0::send_reply(&address, message)?; // answer with the same value
/// }
/// # Ok::<(), nw0::Error>(())
/// ```
pub fn send_reply(address: impl ToAddress, reply: impl ToMessage) -> Result<()> {
    messaging::send_reply(&messaging, address, reply)
}

/// Sends a command and waits up to 5 s for its acknowledgement. Returns
/// whether it was acknowledged; warns if not.
///
/// ```no_run
/// use networkzero as nw0;
/// let robot = nw0::discover("robot", 10)?.expect("robot not found");
/// if !nw0::send_command(&robot, "forward")? {
///     println!("the robot did not acknowledge");
/// }
/// # Ok::<(), nw0::Error>(())
/// ```
pub fn send_command(address: impl ToAddress, command: impl ToMessage) -> Result<bool> {
    messaging::send_command(&messaging, address, command, COMMAND_WAIT_S)
}

/// [`send_command`] with your own wait for the acknowledgement.
///
/// ```no_run
/// use networkzero as nw0;
/// let robot = nw0::discover("robot", 10)?.expect("robot not found");
/// let acked = nw0::send_command_within(&robot, "stop", 0.5)?; // a quick stop, or give up
/// # let _ = acked;
/// # Ok::<(), nw0::Error>(())
/// ```
pub fn send_command_within(
    address: impl ToAddress,
    command: impl ToMessage,
    wait: impl Into<Wait>,
) -> Result<bool> {
    messaging::send_command(&messaging, address, command, wait)
}

/// Waits for a command at `address` and acknowledges it automatically.
///
/// ```no_run
/// use networkzero as nw0;
/// let address = nw0::advertise("turntable")?;
/// while let Some(command) = nw0::wait_for_command(&address, nw0::FOREVER)? {
///     if command == "STOP" {
///         break; // already acknowledged
///     }
/// }
/// # Ok::<(), nw0::Error>(())
/// ```
pub fn wait_for_command(address: impl ToAddress, wait: impl Into<Wait>) -> Result<Option<Value>> {
    messaging::wait_for_command(&messaging, address, wait)
}

/// [`wait_for_command`], with the command read as a `T` (JSON or
/// [`Postcard`](crate::Postcard)). Only a `T` is acknowledged: anything
/// else gets `null` (its sender sees no acknowledgement) and a warning that
/// names `T` and shows what came.
///
/// ```no_run
/// use networkzero as nw0;
/// #[derive(serde::Deserialize)]
/// #[serde(rename_all = "lowercase")]
/// enum Drive { Forward, Left, Right, Stop }
///
/// let address = nw0::advertise("turntable")?;
/// while let Some(drive) = nw0::wait_for_command_as::<Drive>(&address, nw0::FOREVER)? {
///     match drive {
///         Drive::Stop => break, // "stop" from Python, or nw0::Postcard(Drive::Stop) from Rust
///         _ => { /* turn */ }
///     }
/// }
/// # Ok::<(), nw0::Error>(())
/// ```
pub fn wait_for_command_as<T: DeserializeOwned>(
    address: impl ToAddress,
    wait: impl Into<Wait>,
) -> Result<Option<T>> {
    messaging::wait_for_command(&messaging, address, wait)
}

/// Publishes a news item: `data` under `topic`, to every program waiting for
/// news at `address` on topics that start with their prefix. News published
/// before a subscriber connects is not seen by it, so the first call on an
/// address waits for programs already waiting for its news: they retry
/// their connection every 100-200 ms, each at its own moment, so it waits
/// 0.25 s for them all to have subscribed (longer, up to 0.3 s, for one
/// still connecting then), and 0.3 s when none comes. A
/// subscriber that has 1000 items waiting (the high-water mark) misses the
/// newest; over libzmq, which counts what a subscriber has taken only every
/// 500 items, that can start from about 470. `data` is sent as JSON, or as
/// postcard when wrapped in [`Postcard`](crate::Postcard) — which every
/// subscriber must then read with [`wait_for_news_as`]: publish postcard
/// only where no Python program listens.
///
/// ```no_run
/// use networkzero as nw0;
/// let address = nw0::advertise("detector")?;
/// nw0::publish_news(&address, "hit", nw0::json!({"target": 3, "points": 30}))?;
/// # Ok::<(), nw0::Error>(())
/// ```
pub fn publish_news(address: impl ToAddress, topic: &str, data: impl ToMessage) -> Result<()> {
    messaging::publish_news(&messaging, address, topic, data)
}

/// Waits up to `wait` for news published at `address` on a topic that
/// starts with `prefix` (`""` for every topic); returns `(topic, data)`.
/// News on a topic an earlier call asked for and this one does not is kept
/// (up to 1000 items) for the call that asks for it: a program that waits
/// for `"temp"` and `"wind"` in turn loses neither.
///
/// ```no_run
/// use networkzero as nw0;
/// let detector = nw0::discover("detector", 10)?.expect("detector not found");
/// if let Some((topic, data)) = nw0::wait_for_news(&detector, "hit", 5)? {
///     println!("{topic}: target {}", data["target"]);
/// }
/// # Ok::<(), nw0::Error>(())
/// ```
pub fn wait_for_news(
    address: impl ToAddress,
    prefix: &str,
    wait: impl Into<Wait>,
) -> Result<Option<(String, Value)>> {
    messaging::wait_for_news(&messaging, address, prefix, wait)
}

/// [`wait_for_news`], with the data read as a `T` (JSON or
/// [`Postcard`](crate::Postcard)). An item whose data is not a `T` is
/// skipped with a warning that names `T` and shows the data (the 1st, 10th,
/// 100th… such item), and the call waits on.
///
/// ```no_run
/// use networkzero as nw0;
/// #[derive(serde::Deserialize)]
/// struct Hit { target: u8, points: u32 }
///
/// let detector = nw0::discover("detector", 10)?.expect("detector not found");
/// while let Some((_, hit)) = nw0::wait_for_news_as::<Hit>(&detector, "hit", nw0::FOREVER)? {
///     println!("target {} scored {}", hit.target, hit.points);
/// }
/// # Ok::<(), nw0::Error>(())
/// ```
pub fn wait_for_news_as<T: DeserializeOwned>(
    address: impl ToAddress,
    prefix: &str,
    wait: impl Into<Wait>,
) -> Result<Option<(String, T)>> {
    messaging::wait_for_news(&messaging, address, prefix, wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// discover_group_with's choice: the group's names (not another group
    /// sharing its first letters), less the ones left out, such as the
    /// chat example's own name.
    #[test]
    fn a_group_is_the_names_with_its_prefix_less_those_left_out() {
        let me = ["chat/alice"];
        assert!(in_group("chat/bob", "chat/", &me));
        assert!(!in_group("chat/alice", "chat/", &me), "left out");
        assert!(!in_group("chatter/bob", "chat/", &me), "another group");
        assert!(!in_group("quiz/bob", "chat/", &me), "another group");
    }

    /// A command read as the caller's type, and acknowledged (no suite calls
    /// wait_for_command_as: the examples' turntable reads plain JSON). Over
    /// loopback with the runtime's transport: the lib tests run in a private
    /// network namespace.
    #[test]
    fn a_command_is_read_as_its_type_and_acknowledged() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        #[serde(rename_all = "lowercase")]
        enum Drive {
            Forward,
        }
        let at = format!("127.0.0.1:{}", crate::address::free_port().unwrap());
        let to = at.clone();
        let sender = std::thread::spawn(move || send_command_within(&to, "forward", 30));
        let command = wait_for_command_as::<Drive>(&at, 30).expect("waits");
        assert_eq!(command, Some(Drive::Forward));
        assert!(sender.join().unwrap().expect("sends"), "acknowledged");
    }
}
