//! A tiny HTTP/1.1 client over `TcpStream` for the tests of `tessera serve`: one request a
//! connection, the reply read as the client sees it, a cut one told apart from a whole one.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One GET on a fresh connection: the status and the (de-chunked) body; an error when the
/// connection fails, or the reply is cut before its end (a chunked body without its last chunk).
pub fn get(addr: SocketAddr, path: &str) -> io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    parse_reply(&reply)
}

/// The status and body of a whole HTTP/1.1 reply.
pub fn parse_reply(reply: &[u8]) -> io::Result<(u16, Vec<u8>)> {
    let end = reply.windows(4).position(|window| window == b"\r\n\r\n").ok_or_else(|| cut("no whole head"))?;
    let head = String::from_utf8_lossy(&reply[..end]);
    let status = status_of(reply).ok_or_else(|| cut("no status line"))?;
    let body = &reply[end + 4..];
    if head.lines().any(|line| line.eq_ignore_ascii_case("transfer-encoding: chunked")) {
        return Ok((status, dechunk(body).ok_or_else(|| cut("a chunked body without its last chunk"))?));
    }
    Ok((status, body.to_vec()))
}

/// The status of a reply that has at least its status line.
pub fn status_of(reply: &[u8]) -> Option<u16> {
    let line = reply.split(|&b| b == b'\r').next()?;
    std::str::from_utf8(line).ok()?.split_whitespace().nth(1)?.parse().ok()
}

fn cut(what: &str) -> io::Error {
    io::Error::other(format!("the answer was cut: {what}"))
}

/// A chunked body's bytes, or `None` when its last chunk never came.
fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|window| window == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&body[..line_end]).ok()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(line_end + 2..line_end + 2 + size)?);
        body = body.get(line_end + 2 + size + 2..)?;
    }
}
