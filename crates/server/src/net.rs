//! Client addresses behind reverse proxies (SPEC 9 `TRUSTED_PROXIES`).
//!
//! Only a peer inside a trusted CIDR may speak for the client through
//! `X-Forwarded-For`; the client is then the right-most address in that header that is
//! not itself a trusted proxy. Anyone else's `X-Forwarded-For` is ignored, so a forged
//! header neither opens loopback-only reads nor moves a client to another IP budget.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

use crate::AppState;

/// The client's address as decided by [`client_ip`], put on every request by
/// [`client_ip_middleware`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The address of a request (loopback when the middleware did not run, e.g. in
    /// router tests without a socket).
    pub fn of(req_extensions: &axum::http::Extensions) -> IpAddr {
        req_extensions
            .get::<ClientIp>()
            .map(|c| c.0)
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }
}

/// Middleware: decides the client address once per request ([`ClientIp`] extension).
pub async fn client_ip_middleware(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let ip = client_ip(peer, req.headers(), &state.proxies);
    req.extensions_mut().insert(ClientIp(ip));
    // Never trust this marker from outside; set it only for loopback clients of a
    // loopback server without AGENTPIPE_READ_AUTH=key (SPEC 6 read rule).
    req.headers_mut().remove(OPEN_READS);
    if !state.reads_need_key && ip.is_loopback() {
        req.headers_mut()
            .insert(OPEN_READS, axum::http::HeaderValue::from_static("1"));
    }
    next.run(req).await
}

/// Internal request marker set by [`client_ip_middleware`] (and stripped from every
/// incoming request) when reads are open for this client.
pub const OPEN_READS: &str = "x-agentpipe-open-reads";

/// True when [`client_ip_middleware`] decided that reads are open for this request.
pub fn reads_open(headers: &HeaderMap) -> bool {
    headers.contains_key(OPEN_READS)
}

/// Parses `TRUSTED_PROXIES`: comma-separated CIDRs or single addresses.
///
/// Errors: the first entry that is neither, as text.
pub fn parse_trusted(spec: &str) -> Result<Vec<IpNet>, String> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("TRUSTED_PROXIES: '{s}' is not a CIDR or an IP address"))
        })
        .collect()
}

/// True when `ip` (IPv4-mapped IPv6 included) is inside one of `proxies`.
pub fn is_trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    proxies.iter().any(|n| n.contains(&ip))
}

/// The client's address: `peer`, or, when `peer` is a trusted proxy, the right-most
/// untrusted address of `X-Forwarded-For`.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, proxies: &[IpNet]) -> IpAddr {
    if proxies.is_empty() || !is_trusted(peer, proxies) {
        return peer;
    }
    let mut chain: Vec<IpAddr> = Vec::new();
    for v in headers.get_all("x-forwarded-for") {
        let Ok(s) = v.to_str() else { continue };
        for part in s.split(',') {
            if let Ok(ip) = part.trim().parse::<IpAddr>() {
                chain.push(ip);
            }
        }
    }
    chain
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(*ip, proxies))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn forged_header_from_untrusted_peer_is_ignored() {
        let proxies = parse_trusted("10.0.0.0/8, 127.0.0.1").unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("127.0.0.1"));
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(client_ip(peer, &h, &proxies), peer);
    }

    #[test]
    fn trusted_peer_gives_rightmost_untrusted() {
        let proxies = parse_trusted("10.0.0.0/8,127.0.0.1").unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 198.51.100.7, 10.1.2.3"),
        );
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            client_ip(peer, &h, &proxies),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert!(parse_trusted("nonsense").is_err());
    }
}
