//! Just enough HTTP/1.1 for the fault proxy: reads a request or a response (headers, then a
//! body framed by content-length, chunked encoding or the end of the connection), writes one
//! back with a content-length, and sends one request to an upstream server. No TLS, no
//! pipelining, no 100-continue: lookout's client uses none of them.

use std::io;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest request or status line plus headers accepted.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The largest body accepted (bulk requests of the tests are far below).
pub const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;
/// How long one request to the upstream may take, so that a hung server cannot hang a test.
pub const UPSTREAM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Headers that describe one hop's framing; they are rebuilt, never forwarded.
const HOP_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "accept-encoding",
    "host",
];

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, as sent (`/_bulk?refresh=wait_for`).
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// One response, with its body already de-chunked.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A response with a body of the given content type.
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Response {
            status,
            reason: reason_phrase(status).to_string(),
            headers: vec![("content-type".to_string(), content_type.to_string())],
            body,
        }
    }

    /// The bytes to write to the client: status line, end-to-end headers, content-length, body
    /// (no body for an answer to HEAD, whose content-length is kept from upstream).
    pub fn to_bytes(&self, head_request: bool) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, self.reason).into_bytes();
        for (name, value) in &self.headers {
            let keep = !HOP_HEADERS.contains(&name.to_ascii_lowercase().as_str())
                || (head_request && name.eq_ignore_ascii_case("content-length"));
            if keep {
                out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
            }
        }
        if !head_request {
            out.extend_from_slice(format!("content-length: {}\r\n", self.body.len()).as_bytes());
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&self.body);
        } else {
            out.extend_from_slice(b"\r\n");
        }
        out
    }
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Reads one request; `None` when the connection ends cleanly before a new one starts.
pub async fn read_request(reader: &mut (impl AsyncBufRead + Unpin)) -> io::Result<Option<Request>> {
    let Some(lines) = read_head(reader).await? else {
        return Ok(None);
    };
    let mut parts = lines[0].split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(invalid(format!("bad request line {:?}", lines[0])));
    };
    let headers = parse_headers(&lines[1..])?;
    let body = read_body(reader, &headers, false).await?;
    Ok(Some(Request {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        body,
    }))
}

/// Reads one response to a request made with `method` (HEAD answers have no body).
pub async fn read_response(
    reader: &mut (impl AsyncBufRead + Unpin),
    method: &str,
) -> io::Result<Response> {
    let lines = read_head(reader)
        .await?
        .ok_or_else(|| invalid("the upstream closed the connection before answering"))?;
    let mut parts = lines[0].splitn(3, ' ');
    let status = parts
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| invalid(format!("bad status line {:?}", lines[0])))?;
    let reason = parts.next().unwrap_or("").to_string();
    let headers = parse_headers(&lines[1..])?;
    let no_body = method == "HEAD" || status == 204 || status == 304 || status < 200;
    let body = if no_body {
        Vec::new()
    } else {
        read_body(reader, &headers, true).await?
    };
    Ok(Response {
        status,
        reason,
        headers,
        body,
    })
}

/// The request line (or status line) and header lines, without line ends.
async fn read_head(reader: &mut (impl AsyncBufRead + Unpin)) -> io::Result<Option<Vec<String>>> {
    let mut lines = Vec::new();
    let mut total = 0;
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).await?;
        if n == 0 {
            if lines.is_empty() {
                return Ok(None);
            }
            return Err(invalid("the connection ended inside the headers"));
        }
        total += n;
        if total > MAX_HEAD_BYTES {
            return Err(invalid("headers too long"));
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            if lines.is_empty() {
                continue;
            }
            return Ok(Some(lines));
        }
        lines.push(line);
    }
}

fn parse_headers(lines: &[String]) -> io::Result<Vec<(String, String)>> {
    lines
        .iter()
        .map(|line| {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| invalid(format!("bad header line {line:?}")))?;
            Ok((name.trim().to_string(), value.trim().to_string()))
        })
        .collect()
}

/// The value of a header (case-insensitive name).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The body: chunked, content-length, or (responses only) everything until the end.
async fn read_body(
    reader: &mut (impl AsyncBufRead + Unpin),
    headers: &[(String, String)],
    until_eof: bool,
) -> io::Result<Vec<u8>> {
    let chunked = header(headers, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        return read_chunked(reader).await;
    }
    if let Some(length) = header(headers, "content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| invalid(format!("bad content-length {length:?}")))?;
        if length > MAX_BODY_BYTES {
            return Err(invalid("body too large"));
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await?;
        return Ok(body);
    }
    let mut body = Vec::new();
    if until_eof {
        reader
            .take(MAX_BODY_BYTES as u64)
            .read_to_end(&mut body)
            .await?;
    }
    Ok(body)
}

async fn read_chunked(reader: &mut (impl AsyncBufRead + Unpin)) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await?;
        let size_text = line.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut trailer = String::new();
                let n = reader.read_line(&mut trailer).await?;
                if n == 0 || trailer.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        if body.len() + size > MAX_BODY_BYTES {
            return Err(invalid("body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).await?;
        let mut crlf = String::new();
        reader.read_line(&mut crlf).await?;
    }
}

/// The bytes of a request to `host`, with a content-length and `connection: close`.
pub fn request_bytes(request: &Request, host: &str) -> Vec<u8> {
    let mut out = format!(
        "{} {} HTTP/1.1\r\nhost: {host}\r\n",
        request.method, request.target
    )
    .into_bytes();
    for (name, value) in &request.headers {
        if !HOP_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
    }
    out.extend_from_slice(format!("content-length: {}\r\n", request.body.len()).as_bytes());
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out.extend_from_slice(&request.body);
    out
}

/// Sends one request to `addr` (`host:port`) on a fresh connection and reads the answer,
/// within [`UPSTREAM_TIMEOUT`].
pub async fn send(addr: &str, request: &Request) -> io::Result<Response> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(&request_bytes(request, addr)).await?;
        let mut reader = tokio::io::BufReader::new(stream);
        read_response(&mut reader, &request.method).await
    };
    tokio::time::timeout(UPSTREAM_TIMEOUT, exchange)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the upstream did not answer"))?
}

/// Writes bytes and flushes, ignoring a client that has gone away.
pub async fn write_all_quietly(writer: &mut (impl AsyncWrite + Unpin), bytes: &[u8]) -> bool {
    writer.write_all(bytes).await.is_ok() && writer.flush().await.is_ok()
}

/// The standard reason phrase of the statuses the proxy makes up.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}
