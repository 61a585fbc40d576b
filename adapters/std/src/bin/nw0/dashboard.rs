//! `nw0 dashboard`: the classroom network in a browser, live. One page
//! (HTML, CSS and JavaScript built into this binary: nothing is fetched
//! from the internet), the names as Server-Sent Events (`/events`), a
//! publisher's news (`/news`), and sends (`/send`).
//!
//! Every request gets a thread, and everything is bounded: requests read
//! and answered at once ([`MAX_CONNECTIONS`]), live lists ([`MAX_FEEDS`],
//! each on its request's thread), watches ([`news::MAX_WATCHES`] addresses,
//! a thread each, with at most `news::MAX_PAGES` pages each), request sizes
//! and times (`http`). A request that becomes a live list or a watch gives
//! its place among the requests back as soon as it is let in, so pages left
//! open on the projector never take the places of page loads and sends. So
//! at most `MAX_CONNECTIONS + MAX_FEEDS + news::MAX_WATCHES` threads serve
//! pages, beside the one following the names.

#[path = "dashboard/http.rs"]
mod http;
#[path = "dashboard/names.rs"]
mod names;
#[path = "dashboard/news.rs"]
mod news;
#[path = "dashboard/send.rs"]
mod send;
#[path = "dashboard/show.rs"]
mod show;
#[path = "dashboard/slot.rs"]
mod slot;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use networkzero::{diagnostics, Address};

use http::{respond, respond_error, EventStream, Request};
use slot::Slot;

const PAGE_HTML: &str = include_str!("dashboard/page.html");
const PAGE_CSS: &str = include_str!("dashboard/page.css");
const PAGE_JS: &str = include_str!("dashboard/page.js");

/// The port `nw0 dashboard` listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 9990;
/// Requests read and answered at once; one more is closed unanswered. Live
/// streams are not counted: a request for one gives its place back once the
/// stream is let in, and is then bounded by [`MAX_FEEDS`] or the watches'
/// bounds instead.
const MAX_CONNECTIONS: usize = 32;
/// Pages showing the live list at once (a thread each).
const MAX_FEEDS: usize = 16;
/// How soon a page's `EventSource` reconnects after losing its stream.
const RETRY: Duration = Duration::from_secs(1);

/// Why the page would be wrong on a computer where a Python beacon started first.
pub const DEAF: &str = "another program (a Python networkzero program?) holds UDP port 9999 \
    without sharing it, so the dashboard cannot hear adverts: names will show as expired and \
    Python names not at all. Stop the Python programs on this computer, start nw0 dashboard, \
    then start them again (they then share the dashboard's beacon).";

/// What the connection threads share.
struct Server {
    /// Only `Host: 127.0.0.1:PORT`, `localhost:PORT` or `[::1]:PORT` is
    /// served (on loopback): a web site that rebinds its own name to
    /// 127.0.0.1 cannot reach the send buttons.
    local_only: bool,
    port: u16,
    /// Requests being read and answered.
    connections: Arc<AtomicUsize>,
    /// Live lists open.
    feeds: Arc<AtomicUsize>,
    room: Arc<names::Room>,
    watches: Arc<news::Watches>,
    sending: send::Sending,
}

/// Listens on `ip:port` (port 0: any free one). Returns the listener and
/// the URLs to print; the caller prints them, then calls [`serve`].
pub fn listen(ip: IpAddr, port: u16) -> io::Result<(TcpListener, Vec<String>)> {
    let listener = TcpListener::bind(SocketAddr::new(ip, port))?;
    let port = listener.local_addr()?.port();
    let ips: Vec<IpAddr> = if ip.is_unspecified() {
        let mut all: Vec<IpAddr> = diagnostics::interfaces()
            .into_iter()
            .map(|i| IpAddr::V4(i.ip))
            .collect();
        all.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
        all
    } else {
        vec![ip]
    };
    let urls = ips
        .into_iter()
        .map(|ip| format!("http://{}/", SocketAddr::new(ip, port)))
        .collect();
    Ok((listener, urls))
}

/// Serves the page until the process is stopped.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    let local = listener.local_addr()?;
    // Start following the names now, so the first page sees everyone at once.
    let room = names::Room::start()?;
    if !diagnostics::hears_adverts().map_err(io::Error::other)? {
        eprintln!("nw0 dashboard: WARNING: {DEAF}");
    }
    let server = Arc::new(Server {
        local_only: local.ip().is_loopback(),
        port: local.port(),
        connections: Arc::default(),
        feeds: Arc::default(),
        room,
        watches: Arc::default(),
        sending: send::Sending::default(),
    });
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors, say: give the open ones time to close.
                eprintln!("nw0 dashboard: accepting a connection: {e}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let Some(slot) = Slot::take(&server.connections, MAX_CONNECTIONS) else {
            // Too many at once: closing it is the cheapest answer.
            continue;
        };
        // The slot goes with the request to its thread, which gives it back
        // when the answer is written or the request becomes a live stream. If
        // no thread starts, the slot is dropped with the closure.
        let shared = Arc::clone(&server);
        let spawned = thread::Builder::new()
            .name("dashboard connection".into())
            .spawn(move || shared.handle(stream, slot));
        if let Err(e) = spawned {
            eprintln!("nw0 dashboard: cannot start a thread: {e}");
        }
    }
    Ok(())
}

impl Server {
    /// Reads and answers one request, holding `connection`, its place among
    /// the requests, until it has been answered or has become a live stream.
    fn handle(&self, mut stream: TcpStream, connection: Slot) {
        let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
        let request = match http::read_request(&mut stream) {
            Ok(r) => r,
            Err(http::BadRequest::Gone) => return,
            Err(http::BadRequest::Status(code, reason)) => {
                return respond_error(&mut stream, code, reason, reason);
            }
        };
        if !self.host_allowed(&request) {
            return respond_error(
                &mut stream,
                421,
                "Misdirected Request",
                "open the dashboard at the address nw0 dashboard printed",
            );
        }
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/") => respond(
                &mut stream,
                200,
                "OK",
                "text/html; charset=utf-8",
                PAGE_HTML.as_bytes(),
            ),
            ("GET", "/page.css") => respond(
                &mut stream,
                200,
                "OK",
                "text/css; charset=utf-8",
                PAGE_CSS.as_bytes(),
            ),
            ("GET", "/page.js") => respond(
                &mut stream,
                200,
                "OK",
                "text/javascript; charset=utf-8",
                PAGE_JS.as_bytes(),
            ),
            ("GET", "/events") => self.feed(stream, connection),
            ("GET", "/news") => self.news(stream, &request, connection),
            ("POST", "/send") => self.send(stream, &request),
            (_, "/" | "/page.css" | "/page.js" | "/events" | "/news" | "/send") => {
                respond_error(&mut stream, 405, "Method Not Allowed", "method not allowed")
            }
            _ => respond_error(&mut stream, 404, "Not Found", "not found"),
        }
    }

    fn host_allowed(&self, request: &Request) -> bool {
        if !self.local_only {
            return true;
        }
        let port = self.port;
        request.host.as_deref().is_some_and(|host| {
            [
                format!("127.0.0.1:{port}"),
                format!("localhost:{port}"),
                format!("[::1]:{port}"),
            ]
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host))
        })
    }

    /// The live list, on this thread until the page goes. Once let in, it
    /// counts among the live lists and no longer among the requests: its
    /// `connection` slot is given back before the page hears anything.
    fn feed(&self, mut stream: TcpStream, connection: Slot) {
        let Some(_feed) = Slot::take(&self.feeds, MAX_FEEDS) else {
            return respond_error(
                &mut stream,
                503,
                "Service Unavailable",
                "too many pages open",
            );
        };
        drop(connection);
        if let Ok(events) = EventStream::start(stream, RETRY) {
            self.room.stream(events);
        }
    }

    /// A watch of a publisher's news: the page joins the watch of its
    /// address, served by that watch's thread, and this thread ends.
    /// [`news::Watches::join`] gives `connection` back before the page hears
    /// any event.
    fn news(&self, mut stream: TcpStream, request: &Request, connection: Slot) {
        let address =
            http::query_value(&request.query, "address").and_then(|a| a.parse::<Address>().ok());
        let Some(address) = address else {
            return respond_error(&mut stream, 400, "Bad Request", "address=IP:PORT needed");
        };
        if let Ok(events) = EventStream::start(stream, RETRY) {
            self.watches.join(address, events, connection);
        }
    }

    fn send(&self, mut stream: TcpStream, request: &Request) {
        // Only the page itself may send: another site's form cannot post
        // JSON, and its scripts carry their own Origin.
        let json = request
            .content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("application/json"));
        let same_origin = request.origin.as_deref().is_none_or(|origin| {
            request
                .host
                .as_deref()
                .is_some_and(|host| origin.eq_ignore_ascii_case(&format!("http://{host}")))
        });
        if !json || !same_origin {
            return respond_error(
                &mut stream,
                403,
                "Forbidden",
                "only the dashboard page can send",
            );
        }
        let answer = match send::parse(&request.body) {
            Ok(ask) => self.sending.send(&ask),
            Err(why) => serde_json::json!({ "ok": false, "error": why }),
        };
        respond(
            &mut stream,
            200,
            "OK",
            "application/json",
            answer.to_string().as_bytes(),
        );
    }
}
