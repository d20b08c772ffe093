//! The HTTP server's own defences: connection limits and timeouts around hyper, and the client
//! address a request comes from (behind trusted proxies, from `X-Forwarded-For`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use strongroom_providers::IpNetwork;

use crate::AppState;

/// How the server guards itself against slow and numerous connections.
#[derive(Debug, Clone)]
pub struct Network {
    /// Proxies (load balancers) whose `X-Forwarded-For` is believed; their own addresses are
    /// also exempt from the per-address connection cap.
    pub trusted_proxies: Vec<IpNetwork>,
    /// Open connections in all; beyond it new ones wait in the kernel's queue.
    pub max_connections: usize,
    /// Open connections from one client address; beyond it new ones are closed at once.
    pub max_connections_per_address: usize,
    /// Time to receive a request's headers, and to wait for the next request on an idle
    /// keep-alive connection.
    pub header_read_timeout: Duration,
    /// Time to receive a request's whole body.
    pub body_timeout: Duration,
    /// Time to answer a request (408 after it).
    pub request_timeout: Duration,
}

impl Default for Network {
    fn default() -> Self {
        let max_connections = default_max_connections();
        Self {
            trusted_proxies: Vec::new(),
            max_connections,
            max_connections_per_address: Self::per_address_for(max_connections),
            header_read_timeout: Duration::from_secs(15),
            body_timeout: Duration::from_secs(15),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// File descriptors kept for the database, outbound calls and files, whatever the load.
const RESERVED_FDS: usize = 256;

/// Connections the process can hold: its open-file limit less a reserve, at most 10,000.
fn default_max_connections() -> usize {
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3)?.parse::<usize>().ok())
        })
        .unwrap_or(1024);
    limit.saturating_sub(RESERVED_FDS).clamp(64, 10_000)
}

impl Network {
    /// The default cap per client address for a total of `max_connections`: a quarter of it,
    /// so one client cannot take them all.
    pub fn per_address_for(max_connections: usize) -> usize {
        (max_connections / 4).max(64)
    }

    pub fn is_trusted_proxy(&self, addr: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(addr))
    }

    /// The client behind a request from `peer`: `peer` itself, unless it is a trusted proxy;
    /// then the right-most `X-Forwarded-For` address that is not a trusted proxy (the left-most
    /// entries are whatever the client chose to send).
    pub fn client_address(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        if !self.is_trusted_proxy(peer) {
            return peer;
        }
        let mut client = peer;
        for entry in forwarded_for
            .iter()
            .flat_map(|h| h.split(','))
            .rev()
            .map(str::trim)
        {
            match entry.parse::<IpAddr>() {
                Ok(addr) if self.is_trusted_proxy(addr) => client = addr,
                Ok(addr) => return addr,
                Err(_) => return client,
            }
        }
        client
    }
}

/// The address of the client making a request (see [`Network::client_address`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        Ok(Self(state.network.client_address(peer, &forwarded)))
    }
}

/// Open connections per client address.
#[derive(Debug, Default)]
pub(crate) struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

/// One open connection of an address; dropping it closes the count.
#[derive(Debug)]
pub(crate) struct AddressSlot {
    counts: Arc<PerAddress>,
    addr: IpAddr,
}

impl PerAddress {
    /// A slot for `addr`, unless it already holds `limit` connections.
    pub(crate) fn enter(self: &Arc<Self>, addr: IpAddr, limit: usize) -> Option<AddressSlot> {
        let mut counts = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = counts.entry(addr).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            counts: self.clone(),
            addr,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self
            .counts
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&self.addr) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let net = Network {
            trusted_proxies: IpNetwork::parse_list("10.0.0.0/8, 192.0.2.7").expect("networks"),
            ..Network::default()
        };
        // Not a proxy: the header is whatever the client says.
        assert_eq!(
            net.client_address(ip("203.0.113.9"), &["1.2.3.4"]),
            ip("203.0.113.9")
        );
        // A proxy: the right-most untrusted entry, whatever the client prepended.
        assert_eq!(
            net.client_address(ip("10.1.2.3"), &["6.6.6.6, 198.51.100.4"]),
            ip("198.51.100.4")
        );
        // Chains of trusted proxies are walked; several headers count as one list.
        assert_eq!(
            net.client_address(ip("10.1.2.3"), &["198.51.100.4, 192.0.2.7", "10.9.9.9"]),
            ip("198.51.100.4")
        );
        // No header, or garbage: the last trusted hop.
        assert_eq!(net.client_address(ip("10.1.2.3"), &[]), ip("10.1.2.3"));
        assert_eq!(
            net.client_address(ip("10.1.2.3"), &["not-an-ip, 10.2.2.2"]),
            ip("10.2.2.2")
        );
    }

    #[test]
    fn per_address_slots_are_capped_and_released() {
        let counts = Arc::new(PerAddress::default());
        let a = ip("192.0.2.1");
        let first = counts.enter(a, 2).expect("first");
        let _second = counts.enter(a, 2).expect("second");
        assert!(counts.enter(a, 2).is_none());
        assert!(counts.enter(ip("192.0.2.2"), 2).is_some());
        drop(first);
        assert!(counts.enter(a, 2).is_some());
    }
}
