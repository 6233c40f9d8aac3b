//! Client limits (`@server(rateLimit:)`): what key a request counts under,
//! and the checks the gateway runs before the engine does. Limits on a
//! header or the IP are decided from the request's head, before its body is
//! read; limits on the operation once the document is parsed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName};

use super::{Decision, Limiter, RedisBuckets};
use crate::config::{ClientKey, ClientRateLimit};

const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Every client limit of the schema.
#[derive(Debug)]
pub struct ClientLimits {
    head: Vec<(ClientKey, Arc<Limiter>)>,
    operation: Vec<Arc<Limiter>>,
}

/// A request over a limit.
#[derive(Debug, Clone)]
pub struct Refused {
    /// The limit's key kind (`ip`, `header:x-api-key`, `operation`); never
    /// the key's value, which may be a credential.
    pub limit: String,
    /// `100 per 1s, burst 200`.
    pub rate: String,
    /// When a token is back.
    pub retry_after: Duration,
}

impl ClientLimits {
    /// `None` without limits: nothing to check per request.
    pub fn new(
        limits: &[ClientRateLimit],
        redis: Option<&Arc<RedisBuckets>>,
    ) -> Option<ClientLimits> {
        if limits.is_empty() {
            return None;
        }
        let mut head = Vec::new();
        let mut operation = Vec::new();
        for limit in limits {
            let limiter = Arc::new(Limiter::new(
                format!("client:{}", limit.key.label()),
                &limit.bucket,
                Some(limit.max_keys),
                redis,
            ));
            match &limit.key {
                ClientKey::Operation => operation.push(limiter),
                key => head.push((key.clone(), limiter)),
            }
        }
        Some(ClientLimits { head, operation })
    }

    /// Every limiter, for metrics.
    pub fn limiters(&self) -> impl Iterator<Item = &Arc<Limiter>> {
        self.head.iter().map(|(_, l)| l).chain(&self.operation)
    }

    /// The limits on headers and the IP, in the order configured; the first
    /// one over refuses (the ones before it have counted the request).
    pub async fn admit_head(
        &self,
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
    ) -> Result<(), Refused> {
        for (key, limiter) in &self.head {
            let value = match key {
                ClientKey::Header(name) => headers
                    .get(name)
                    .map(|v| v.as_bytes().to_vec())
                    .unwrap_or_default(),
                ClientKey::Ip { trusted_proxies } => client_ip(headers, peer, *trusted_proxies)
                    .map(|ip| ip.into_bytes())
                    .unwrap_or_default(),
                ClientKey::Operation => continue,
            };
            check(limiter, key, &value).await?;
        }
        Ok(())
    }

    /// The limits on the operation's name (anonymous operations share the
    /// empty name).
    pub async fn admit_operation(&self, name: Option<&str>) -> Result<(), Refused> {
        for limiter in &self.operation {
            let key = name.unwrap_or_default().as_bytes();
            check(limiter, &ClientKey::Operation, key).await?;
        }
        Ok(())
    }

    pub fn has_operation_limits(&self) -> bool {
        !self.operation.is_empty()
    }
}

async fn check(limiter: &Limiter, key: &ClientKey, value: &[u8]) -> Result<(), Refused> {
    match limiter.check(value).await {
        Decision::Allowed => Ok(()),
        Decision::Refused(retry_after) => Err(Refused {
            limit: key.label(),
            rate: limiter.describe(),
            retry_after,
        }),
    }
}

/// The client's address: without trusted proxies the socket's peer; with
/// `trusted` of them, the `trusted`-th `X-Forwarded-For` entry from the
/// right (each proxy appends the address it was called from, so entries
/// further left are the client's to write and are ignored). Fewer entries
/// than proxies: the leftmost, the farthest hop known. No header: the peer.
fn client_ip(headers: &HeaderMap, peer: Option<SocketAddr>, trusted: usize) -> Option<String> {
    let from_peer = || peer.map(|p| p.ip().to_string());
    if trusted == 0 {
        return from_peer();
    }
    let entries: Vec<&str> = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let entry = match entries.len() {
        0 => return from_peer(),
        n if n >= trusted => entries[n - trusted],
        _ => entries[0],
    };
    Some(normalize(entry))
}

/// An address as one spelling (`1.2.3.4:80`, `[::1]:80` lose the port), or
/// the entry as it is when it is not one (`unknown`, an obfuscated name).
fn normalize(entry: &str) -> String {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return ip.to_string();
    }
    if let Ok(addr) = entry.parse::<SocketAddr>() {
        return addr.ip().to_string();
    }
    entry.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in xff {
            map.append(FORWARDED_FOR, value.parse().expect("a header value"));
        }
        map
    }

    fn peer() -> Option<SocketAddr> {
        Some("10.0.0.9:55000".parse().expect("an address"))
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() {
        let h = headers(&["6.6.6.6"]);
        assert_eq!(client_ip(&h, peer(), 0).as_deref(), Some("10.0.0.9"));
    }

    #[test]
    fn forwarded_for_is_read_right_to_left_past_the_trusted_hops() {
        // The client wrote 6.6.6.6 itself; the one proxy appended 1.2.3.4.
        let h = headers(&["6.6.6.6, 1.2.3.4"]);
        assert_eq!(client_ip(&h, peer(), 1).as_deref(), Some("1.2.3.4"));
        // Two proxies: the second appended the first's address.
        let h = headers(&["6.6.6.6, 1.2.3.4", "10.0.0.2"]);
        assert_eq!(client_ip(&h, peer(), 2).as_deref(), Some("1.2.3.4"));
        // Fewer entries than proxies: the farthest hop known.
        let h = headers(&["1.2.3.4"]);
        assert_eq!(client_ip(&h, peer(), 3).as_deref(), Some("1.2.3.4"));
        // No header at all: the peer.
        assert_eq!(
            client_ip(&HeaderMap::new(), peer(), 1).as_deref(),
            Some("10.0.0.9")
        );
    }

    #[test]
    fn addresses_are_spelled_one_way() {
        assert_eq!(normalize("1.2.3.4:8080"), "1.2.3.4");
        assert_eq!(normalize("[2001:db8::1]:443"), "2001:db8::1");
        assert_eq!(normalize("2001:DB8:0::1"), "2001:db8::1");
        assert_eq!(normalize("unknown"), "unknown");
    }
}
