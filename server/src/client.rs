//! Who a request comes from, and how much each client may hold at once.
//!
//! A client is the peer of its connection, unless the operator trusts that peer as a proxy
//! (`--trust-proxy CIDR,...`): then a request's client is taken from the header the proxy sets
//! (`X-Forwarded-For` by default, or `Forwarded: for=`), the rightmost address in it that is
//! not itself trusted, so that a client cannot pass itself off as another by sending the header
//! itself. A header from a peer that is not trusted is ignored. With `--proxy-protocol`, every
//! connection on the public listener starts with a PROXY protocol header (v1 or v2, as HAProxy
//! and AWS's Network Load Balancer send), and the address in it is the connection's peer.
//!
//! A client is counted as its IPv4 address or its IPv6 /64. A client that connects directly
//! holds one place under its cap for each connection; behind a trusted proxy, whose
//! connections carry everybody's requests, it holds one for each request being answered
//! (until its body is sent), and a request past the cap is answered 429.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use hyper::HeaderMap;
use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The header trusted proxies name the client in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (Caddy, nginx, HAProxy, cloud load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

/// How clients are told apart behind proxies.
#[derive(Debug, Clone, Default)]
pub struct Proxies {
    /// Peers whose header naming the client is believed.
    pub trusted: Vec<IpNet>,
    /// The header they set. Only that one is read: a proxy passes on any other header as the
    /// client sent it.
    pub header: ClientHeader,
    /// Every connection on the public listener starts with a PROXY protocol header.
    pub proxy_protocol: bool,
}

impl Proxies {
    /// Parses `--trust-proxy`: CIDR ranges or single addresses, separated by commas.
    pub fn parse_trusted(text: &str) -> Result<Vec<IpNet>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                part.parse::<IpNet>()
                    .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{part}` is not an address or a CIDR range such as 10.0.0.0/8 or fd00::/8"))
            })
            .collect()
    }

    /// Whether `peer` is a proxy whose header is believed.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.trusted.iter().any(|net| net.contains(&peer))
    }

    /// The client of a request that `peer`, a trusted proxy, passed on with `headers`: walking
    /// the header's addresses from the right (the one the nearest proxy added), the first that
    /// is not trusted; the last trusted one when an entry cannot be read or every one is
    /// trusted; `peer` when there is no header.
    pub fn forwarded_client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        let hops = match self.header {
            ClientHeader::XForwardedFor => hops(headers, "x-forwarded-for", forwarded_for_entry),
            ClientHeader::Forwarded => hops(headers, "forwarded", forwarded_element),
        };
        for hop in hops.into_iter().rev() {
            let Some(address) = hop else { break };
            client = address.to_canonical();
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// The entries of every `name` header, in order, each read by `read` (`None`: unreadable).
fn hops(headers: &HeaderMap, name: &str, read: fn(&str) -> Option<IpAddr>) -> Vec<Option<IpAddr>> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| value.to_str().ok().unwrap_or("\u{0}").split(','))
        .map(|entry| read(entry.trim()))
        .collect()
}

/// One `X-Forwarded-For` entry: an address, maybe with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:4711`), or an IPv6 address in brackets.
fn forwarded_for_entry(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
        .or_else(|| entry.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

/// The `for=` node of one `Forwarded` element (`for=192.0.2.60;proto=http`,
/// `for="[2001:db8:cafe::17]:4711"`); `None` for `unknown` or an obfuscated name.
fn forwarded_element(element: &str) -> Option<IpAddr> {
    let node = element.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        name.trim().eq_ignore_ascii_case("for").then_some(value.trim())
    })?;
    forwarded_for_entry(node.trim_matches('"'))
}

/// How many places each client holds: an IPv4 address, or an IPv6 /64 (one host's share of
/// the address space, which it can spread its connections over at will).
#[derive(Debug, Default, Clone)]
pub struct PerClient(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One place counted against a client's cap, until dropped.
#[derive(Debug)]
pub struct Counted {
    clients: PerClient,
    client: IpAddr,
}

impl PerClient {
    /// Counts a place for `address`, or `None` when its client holds `cap` already.
    pub fn admit(&self, address: IpAddr, cap: usize) -> Option<Counted> {
        let client = client_of(address);
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(client).or_default();
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(Counted { clients: self.clone(), client })
    }

    /// Clients holding a place now.
    pub fn clients(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// The client an address counts against: an IPv4 address (also when written as IPv6), or the
/// /64 an IPv6 address is in.
fn client_of(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut counts = self.clients.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.client);
            }
        }
    }
}

/// The v2 header's first twelve bytes.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 header, `\r\n` included.
const V1_MAX: usize = 107;
/// The most address and TLV bytes a v2 header may carry here (AWS adds a few dozen).
const V2_MAX_PAYLOAD: usize = 4096;

/// Reads the PROXY protocol header (v1 or v2) a connection starts with, and nothing after it:
/// the client it names, or `None` when it names none (v1 `UNKNOWN`, v2 `LOCAL`: the balancer's
/// own health check). An error when the connection does not start with one.
pub async fn read_proxy_header<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<Option<SocketAddr>> {
    let mut start = [0u8; 12];
    stream.read_exact(&mut start).await?;
    if start == V2_SIGNATURE {
        return read_v2(stream).await;
    }
    if !start.starts_with(b"PROXY ") {
        return Err(invalid("the connection does not start with a PROXY protocol header"));
    }
    // A v1 line is read a byte at a time, so that nothing after it is taken from the stream.
    let mut line = start.to_vec();
    while !line.ends_with(b"\r\n") {
        if line.len() >= V1_MAX {
            return Err(invalid("a PROXY v1 header longer than 107 bytes"));
        }
        line.push(stream.read_u8().await?);
    }
    parse_v1(&line[..line.len() - 2])
}

fn parse_v1(line: &[u8]) -> io::Result<Option<SocketAddr>> {
    let line = std::str::from_utf8(line).map_err(|_| invalid("a PROXY v1 header that is not ASCII"))?;
    let parts: Vec<&str> = line.split(' ').collect();
    match parts.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Ok(None),
        ["PROXY", "TCP4" | "TCP6", source, _destination, port, _destination_port] => {
            let address: IpAddr = source.parse().map_err(|_| invalid("a PROXY v1 source that is not an address"))?;
            let port: u16 = port.parse().map_err(|_| invalid("a PROXY v1 source port that is not a port"))?;
            Ok(Some(SocketAddr::new(address, port)))
        }
        _ => Err(invalid("a PROXY v1 header that is not `PROXY TCP4|TCP6|UNKNOWN ...`")),
    }
}

async fn read_v2<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<Option<SocketAddr>> {
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).await?;
    let [version_command, family, high, low] = head;
    let length = usize::from(u16::from_be_bytes([high, low]));
    if version_command >> 4 != 2 || length > V2_MAX_PAYLOAD {
        return Err(invalid("a PROXY v2 header of another version, or too long"));
    }
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).await?;
    let command = version_command & 0x0F;
    if command == 0 {
        return Ok(None);
    }
    if command != 1 {
        return Err(invalid("a PROXY v2 header with an unknown command"));
    }
    let address = match family >> 4 {
        1 if payload.len() >= 12 => {
            let ip = Ipv4Addr::new(payload[0], payload[1], payload[2], payload[3]);
            Some(SocketAddr::new(IpAddr::V4(ip), u16::from_be_bytes([payload[8], payload[9]])))
        }
        2 if payload.len() >= 36 => {
            let octets: [u8; 16] = payload[..16].try_into().expect("16 bytes checked");
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(octets)), u16::from_be_bytes([payload[32], payload[33]])))
        }
        // Unspecified or a Unix socket: no address to count by.
        0 | 3 => None,
        _ => return Err(invalid("a PROXY v2 header whose addresses are cut short")),
    };
    Ok(address)
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn proxies(trusted: &str, header: ClientHeader) -> Proxies {
        Proxies { trusted: Proxies::parse_trusted(trusted).unwrap(), header, proxy_protocol: false }
    }

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_client_is_the_rightmost_address_not_trusted() {
        let behind = proxies("127.0.0.1, 10.0.0.0/8", ClientHeader::XForwardedFor);
        let peer = ip("127.0.0.1");
        // The client sent a header of its own: the proxies appended to it.
        let spoofed = headers("x-forwarded-for", &["6.6.6.6, 203.0.113.9", "10.1.2.3"]);
        assert_eq!(behind.forwarded_client(peer, &spoofed), ip("203.0.113.9"));
        assert_eq!(behind.forwarded_client(peer, &headers("x-forwarded-for", &["198.51.100.7"])), ip("198.51.100.7"));
        assert_eq!(behind.forwarded_client(peer, &HeaderMap::new()), peer, "no header: the proxy itself");
        let all_trusted = headers("x-forwarded-for", &["10.0.0.1, 10.0.0.2"]);
        assert_eq!(behind.forwarded_client(peer, &all_trusted), ip("10.0.0.1"));
        let unreadable = headers("x-forwarded-for", &["198.51.100.7, garbage, 10.0.0.2"]);
        assert_eq!(behind.forwarded_client(peer, &unreadable), ip("10.0.0.2"), "no further than an unreadable hop");
        let with_ports = headers("x-forwarded-for", &["[2001:db8::1]:4711"]);
        assert_eq!(behind.forwarded_client(peer, &with_ports), ip("2001:db8::1"));
        let mapped = headers("x-forwarded-for", &["::ffff:192.0.2.5"]);
        assert_eq!(behind.forwarded_client(peer, &mapped), ip("192.0.2.5"));
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let forwarded = proxies("127.0.0.1", ClientHeader::Forwarded);
        let peer = ip("127.0.0.1");
        let both = {
            let mut map = headers("forwarded", &["for=192.0.2.60;proto=http, for=\"[2001:db8:cafe::17]:4711\""]);
            map.append("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
            map
        };
        assert_eq!(forwarded.forwarded_client(peer, &both), ip("2001:db8:cafe::17"));
        assert_eq!(proxies("127.0.0.1", ClientHeader::XForwardedFor).forwarded_client(peer, &both), ip("6.6.6.6"));
        let hidden = headers("forwarded", &["for=198.51.100.1, for=_hidden"]);
        assert_eq!(forwarded.forwarded_client(peer, &hidden), peer, "an obfuscated hop stops the walk");
    }

    #[test]
    fn trust_is_by_range_and_refuses_what_is_not_one() {
        let behind = proxies("10.0.0.0/8,fd00::/8,192.0.2.1", ClientHeader::XForwardedFor);
        assert!(behind.trusts(ip("10.200.0.1")) && behind.trusts(ip("fd12::1")) && behind.trusts(ip("192.0.2.1")));
        assert!(behind.trusts(ip("::ffff:10.0.0.1")), "an IPv4 peer on a dual-stack socket");
        assert!(!behind.trusts(ip("192.0.2.2")) && !behind.trusts(ip("11.0.0.1")));
        let refused = Proxies::parse_trusted("10.0.0.0/8,proxy.example").unwrap_err();
        assert!(refused.contains("`proxy.example`"), "{refused}");
    }

    #[test]
    fn a_client_holds_at_most_its_cap_and_an_ipv6_client_is_its_64() {
        let clients = PerClient::default();
        let held: Vec<Counted> = (0..3).filter_map(|_| clients.admit(ip("127.0.0.2"), 3)).collect();
        assert_eq!(held.len(), 3);
        assert!(clients.admit(ip("127.0.0.2"), 3).is_none());
        assert!(clients.admit(ip("127.0.0.3"), 3).is_some(), "another address is counted apart");
        drop(held);
        assert!(clients.admit(ip("127.0.0.2"), 3).is_some());
        let v6: Vec<Counted> =
            ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9"].iter().filter_map(|a| clients.admit(ip(a), 2)).collect();
        assert_eq!(v6.len(), 2);
        assert!(clients.admit(ip("2001:db8:1:2:abcd::1"), 2).is_none(), "the same /64");
        assert!(clients.admit(ip("2001:db8:1:3::1"), 2).is_some(), "another /64");
        let _v4 = clients.admit(ip("192.0.2.7"), 1).unwrap();
        assert!(clients.admit(ip("::ffff:192.0.2.7"), 1).is_none(), "the same client, written as IPv6");
    }

    async fn read(bytes: &[u8]) -> (io::Result<Option<SocketAddr>>, Vec<u8>) {
        let mut stream = bytes;
        let header = read_proxy_header(&mut stream).await;
        (header, stream.to_vec())
    }

    #[tokio::test]
    async fn proxy_v1_names_the_client_and_leaves_the_request() {
        let (header, rest) = read(b"PROXY TCP4 198.51.100.22 203.0.113.7 35646 80\r\nGET / HTTP/1.1\r\n").await;
        assert_eq!(header.unwrap(), Some("198.51.100.22:35646".parse().unwrap()));
        assert_eq!(rest, b"GET / HTTP/1.1\r\n");
        let (header, _) = read(b"PROXY TCP6 2001:db8::1 2001:db8::2 4711 443\r\n").await;
        assert_eq!(header.unwrap(), Some("[2001:db8::1]:4711".parse().unwrap()));
        assert_eq!(read(b"PROXY UNKNOWN\r\nGET").await.0.unwrap(), None);
        assert!(read(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.0.is_err(), "no header");
        assert!(read(b"PROXY TCP4 not-an-address 1.2.3.4 1 2\r\n").await.0.is_err());
        let endless = [b"PROXY TCP4 ".as_slice(), &[b'1'; 200]].concat();
        assert!(read(&endless).await.0.is_err(), "a line past 107 bytes");
    }

    #[tokio::test]
    async fn proxy_v2_names_the_client_and_skips_its_tlvs() {
        let mut v4 = V2_SIGNATURE.to_vec();
        v4.extend([0x21, 0x11, 0, 12 + 7]);
        v4.extend([198, 51, 100, 22, 203, 0, 113, 7, 0x8B, 0x3E, 0, 80]);
        v4.extend([0xEA, 0, 4, 1, 2, 3, 4]); // a TLV (AWS's VPC endpoint, say)
        v4.extend(b"GET /");
        let (header, rest) = read(&v4).await;
        assert_eq!(header.unwrap(), Some("198.51.100.22:35646".parse().unwrap()));
        assert_eq!(rest, b"GET /");

        let mut v6 = V2_SIGNATURE.to_vec();
        v6.extend([0x21, 0x21, 0, 36]);
        v6.extend("2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        v6.extend("2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        v6.extend([0x12, 0x67, 0x01, 0xBB]);
        assert_eq!(read(&v6).await.0.unwrap(), Some("[2001:db8::1]:4711".parse().unwrap()));

        let mut local = V2_SIGNATURE.to_vec();
        local.extend([0x20, 0x00, 0, 0]);
        assert_eq!(read(&local).await.0.unwrap(), None, "a health check of the balancer");

        let mut short = V2_SIGNATURE.to_vec();
        short.extend([0x21, 0x11, 0, 4, 1, 2, 3, 4]);
        assert!(read(&short).await.0.is_err(), "addresses cut short");
        let mut version_one = V2_SIGNATURE.to_vec();
        version_one.extend([0x11, 0x11, 0, 0]);
        assert!(read(&version_one).await.0.is_err());
    }
}
