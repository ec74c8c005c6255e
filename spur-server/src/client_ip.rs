//! The client's address: the socket peer, unless the peer is a trusted
//! proxy, in which case the nearest untrusted hop of `X-Forwarded-For`
//! (the leftmost entry is whatever the client chose to send).

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    hops.iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .or(hops.first())
        .copied()
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn only_trusted_proxies_are_believed() {
        let proxy: IpAddr = [10, 0, 0, 5].into();
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let spoofed = headers("1.1.1.1, 203.0.113.9, 10.0.0.7");
        // A direct client cannot pick its address.
        assert_eq!(
            client_ip([198, 51, 100, 1].into(), &spoofed, &trusted),
            IpAddr::from([198, 51, 100, 1])
        );
        // Behind the proxies: the nearest untrusted hop, not the spoofable leftmost.
        assert_eq!(
            client_ip(proxy, &spoofed, &trusted),
            IpAddr::from([203, 0, 113, 9])
        );
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), proxy);
        assert_eq!(client_ip(proxy, &spoofed, &[]), proxy);
    }
}
