//! Just enough HTTP/1.1 for one page on a classroom network: a request read
//! with `httparse` within fixed limits and a deadline, a response written in
//! one go, and a Server-Sent Events stream. Every connection is closed after
//! its response (`Connection: close`), so nothing waits between requests.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Longest request head (request line and headers) we read.
const MAX_HEAD: usize = 16 * 1024;
/// Longest request body (a message typed on the page).
pub const MAX_BODY: usize = 64 * 1024;
/// Most headers in a request.
const MAX_HEADERS: usize = 32;
/// How long a client has to send its whole request.
const REQUEST_TIME: Duration = Duration::from_secs(10);

/// A request, read whole.
#[derive(Debug)]
pub struct Request {
    /// `GET`, `POST`…
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string (after `?`), undecoded.
    pub query: String,
    /// `Host`, if given.
    pub host: Option<String>,
    /// `Origin`, if given (browsers send it on POST).
    pub origin: Option<String>,
    /// `Content-Type`, if given.
    pub content_type: Option<String>,
    /// The body (`Content-Length` bytes; chunked bodies are refused).
    pub body: Vec<u8>,
}

/// Why a request could not be read: the status to answer with, if any.
#[derive(Debug, PartialEq, Eq)]
pub enum BadRequest {
    /// The client went away, or took too long: answer nothing.
    Gone,
    /// Malformed or too large: answer with this status and reason.
    Status(u16, &'static str),
}

fn header_text(value: &[u8]) -> Option<String> {
    std::str::from_utf8(value)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Reads one request from `stream` within [`REQUEST_TIME`] and the size limits.
pub fn read_request(stream: &mut TcpStream) -> Result<Request, BadRequest> {
    let deadline = Instant::now() + REQUEST_TIME;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = read_some(stream, &mut chunk, deadline)?;
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(&buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                let request = head(&parsed)?;
                let length = content_length(&parsed)?;
                let mut body = buf.get(head_len..).unwrap_or_default().to_vec();
                body.truncate(length);
                while body.len() < length {
                    let n = read_some(stream, &mut chunk, deadline)?;
                    let want = (length - body.len()).min(n);
                    body.extend_from_slice(chunk.get(..want).unwrap_or_default());
                }
                return Ok(Request { body, ..request });
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) => {
                return Err(BadRequest::Status(431, "Request Header Fields Too Large"))
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(BadRequest::Status(431, "Request Header Fields Too Large"))
            }
            Err(_) => return Err(BadRequest::Status(400, "Bad Request")),
        }
    }
}

/// Reads what is there (at least one byte) before `deadline`.
fn read_some(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<usize, BadRequest> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(BadRequest::Gone);
    }
    stream
        .set_read_timeout(Some(left))
        .map_err(|_| BadRequest::Gone)?;
    match stream.read(buf) {
        Ok(0) | Err(_) => Err(BadRequest::Gone),
        Ok(n) => Ok(n),
    }
}

fn head(parsed: &httparse::Request<'_, '_>) -> Result<Request, BadRequest> {
    let bad = BadRequest::Status(400, "Bad Request");
    let method = parsed
        .method
        .ok_or(BadRequest::Status(400, "Bad Request"))?;
    let target = parsed.path.ok_or(bad)?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let find = |name: &str| {
        parsed
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| header_text(h.value))
    };
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        host: find("host"),
        origin: find("origin"),
        content_type: find("content-type"),
        body: Vec::new(),
    })
}

fn content_length(parsed: &httparse::Request<'_, '_>) -> Result<usize, BadRequest> {
    if parsed
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
    {
        return Err(BadRequest::Status(411, "Length Required"));
    }
    let Some(h) = parsed
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
    else {
        return Ok(0);
    };
    match header_text(h.value).and_then(|v| v.parse::<usize>().ok()) {
        Some(n) if n <= MAX_BODY => Ok(n),
        Some(_) => Err(BadRequest::Status(413, "Content Too Large")),
        None => Err(BadRequest::Status(400, "Bad Request")),
    }
}

/// Headers every response carries: the page loads nothing from anywhere
/// else and runs no inline script, so even text that slipped into the page
/// as markup could not run.
const SECURITY_HEADERS: &str = "X-Content-Type-Options: nosniff\r\n\
Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; \
connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n\
Referrer-Policy: no-referrer\r\n\
Cache-Control: no-store\r\n";

/// Writes a whole response and closes the conversation.
pub fn respond(stream: &mut TcpStream, status: u16, reason: &str, content_type: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{SECURITY_HEADERS}Connection: close\r\n\r\n",
        body.len()
    );
    // A client that went away needs no answer.
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .and_then(|()| stream.flush());
}

/// An error answer with a one-line text body.
pub fn respond_error(stream: &mut TcpStream, status: u16, reason: &str, text: &str) {
    respond(
        stream,
        status,
        reason,
        "text/plain; charset=utf-8",
        text.as_bytes(),
    );
}

/// A Server-Sent Events stream: the page's `EventSource` gets each event as
/// it is written.
pub struct EventStream {
    stream: TcpStream,
}

/// How long a write to a page may block before the page counts as gone.
const WRITE_TIME: Duration = Duration::from_secs(10);

impl EventStream {
    /// Answers `stream` with the event-stream head; `retry` is how long the
    /// browser waits before reconnecting if the stream ends.
    pub fn start(mut stream: TcpStream, retry: Duration) -> io::Result<EventStream> {
        stream.set_write_timeout(Some(WRITE_TIME))?;
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n{SECURITY_HEADERS}Connection: close\r\n\r\nretry: {}\n\n",
            retry.as_millis()
        );
        stream.write_all(head.as_bytes())?;
        stream.flush()?;
        Ok(EventStream { stream })
    }

    /// Sends one event of type `event` carrying `data` (one line of JSON:
    /// it holds no newline, which would end the field).
    pub fn send(&mut self, event: &str, data: &str) -> io::Result<()> {
        let mut text = String::with_capacity(data.len() + event.len() + 16);
        text.push_str("event: ");
        text.push_str(event);
        text.push_str("\ndata: ");
        // JSON from serde_json escapes newlines inside strings; any raw one
        // would split the field, so it is removed rather than trusted.
        text.extend(data.chars().filter(|c| *c != '\n' && *c != '\r'));
        text.push_str("\n\n");
        self.stream.write_all(text.as_bytes())?;
        self.stream.flush()
    }

    /// A comment line: nothing for the page, but a write that fails once
    /// the page has gone, so its thread can end.
    pub fn keep_alive(&mut self) -> io::Result<()> {
        self.stream.write_all(b": still here\n\n")?;
        self.stream.flush()
    }
}

/// The value of `key` in a query string like `a=1&address=10.0.0.1%3A80`,
/// percent-decoded; `None` if absent or not UTF-8.
pub fn query_value(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then(|| percent_decode(v)).flatten()
    })
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(
            query_value("x=1&address=10.0.0.1%3A80", "address").as_deref(),
            Some("10.0.0.1:80")
        );
        assert_eq!(query_value("a=b+c", "a").as_deref(), Some("b c"));
        assert_eq!(query_value("a=%zz", "a"), None);
        assert_eq!(query_value("a=%4", "a"), None);
        assert_eq!(query_value("a=%ff", "a"), None, "not UTF-8");
        assert_eq!(query_value("", "a"), None);
        assert_eq!(query_value("ab=1", "a"), None);
    }

    #[test]
    fn events_are_one_line_of_data_each() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let page = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let mut events = EventStream::start(server, Duration::from_millis(1500)).unwrap();
        events.send("names", "[1,\n2,\r3]").unwrap();
        events.keep_alive().unwrap();
        drop(events);
        let mut said = String::new();
        (&page).read_to_string(&mut said).unwrap();
        let (head, stream) = said.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("Content-Type: text/event-stream"), "{head}");
        assert_eq!(
            stream, "retry: 1500\n\nevent: names\ndata: [1,2,3]\n\n: still here\n\n",
            "a raw newline would split the data field"
        );
    }

    /// What `read_request` makes of `bytes`, sent whole by a client that then
    /// closes. Loopback only; run inside the namespace like every socket test.
    fn read_from(bytes: Vec<u8>) -> Result<Request, BadRequest> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let at = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let mut c = TcpStream::connect(at).unwrap();
            // The server may answer early and close: a failed write is fine.
            let _ = c.write_all(&bytes);
        });
        let (mut server, _) = listener.accept().unwrap();
        let read = read_request(&mut server);
        drop(server);
        client.join().unwrap();
        read
    }

    #[test]
    fn a_request_is_read_whole_and_no_further() {
        // A head and a body each longer than one read (4096 bytes), then bytes
        // past Content-Length that are not the body.
        let long = "v".repeat(5000);
        let body: Vec<u8> = (0..10_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let mut bytes = format!(
            "POST /send?x=1 HTTP/1.1\r\nHost:  localhost:8000 \r\nX-Long: {long}\r\n\
             Origin: http://localhost:8000\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(b"GET /next HTTP/1.1\r\n\r\n");
        let r = read_from(bytes).unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/send"));
        assert_eq!(r.query, "x=1");
        assert_eq!(r.host.as_deref(), Some("localhost:8000"), "trimmed");
        assert_eq!(r.origin.as_deref(), Some("http://localhost:8000"));
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert!(r.body == body, "body of {} bytes", r.body.len());

        let r = read_from(b"GET / HTTP/1.1\r\n\r\n".to_vec()).unwrap();
        assert_eq!((r.path.as_str(), r.host, r.body.len()), ("/", None, 0));
    }

    #[test]
    fn a_request_past_the_limits_is_refused() {
        let status = |bytes: Vec<u8>| match read_from(bytes) {
            Err(BadRequest::Status(code, _)) => code,
            other => panic!("{other:?}"),
        };
        let huge_head = format!("GET / HTTP/1.1\r\nX-Long: {}\r\n\r\n", "v".repeat(MAX_HEAD));
        assert_eq!(status(huge_head.into_bytes()), 431);
        // A head still unfinished at exactly MAX_HEAD bytes is refused too.
        let mut at_most = b"GET / HTTP/1.1\r\nX-Long: ".to_vec();
        at_most.resize(MAX_HEAD, b'v');
        assert_eq!(status(at_most), 431);
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: 1\r\n")).collect();
        assert_eq!(
            status(format!("GET / HTTP/1.1\r\n{many}\r\n").into_bytes()),
            431
        );
        let with = |header: &str| format!("POST / HTTP/1.1\r\n{header}\r\n\r\n").into_bytes();
        assert_eq!(status(with("Transfer-Encoding: chunked")), 411);
        assert_eq!(status(with("Content-Length: 65537")), 413);
        assert_eq!(status(with("Content-Length: many")), 400);
        assert_eq!(status(b"NOT HTTP\r\n\r\n".to_vec()), 400);
        // Exactly MAX_BODY is taken.
        let mut most = with(&format!("Content-Length: {MAX_BODY}"));
        most.resize(most.len() + MAX_BODY, b'x');
        assert_eq!(read_from(most).unwrap().body.len(), MAX_BODY);
    }
}
