//! Keeps save-connection from being used to reach inside our network (SSRF): an Odoo URL
//! whose host resolves to a loopback, private, link-local, shared (CGNAT), cloud metadata
//! or otherwise non-public address is refused unless the host is in
//! `ALLOWED_PRIVATE_HOSTS`.
//!
//! Three checks, because one is not enough:
//! - before any request, [`AddressPolicy::check_url`] resolves the host and checks *every*
//!   address (an attacker's name may resolve to one public and one private address);
//! - the HTTP client made by [`AddressPolicy::guarded_client`] resolves names through
//!   [`GuardedResolver`], which applies the same rule at connect time (a name that resolves
//!   differently the second time, "DNS rebinding", is still refused);
//! - its redirect policy checks every redirect's scheme and literal address (literal
//!   addresses never go through a resolver), and the resolver covers redirects to names.
//!
//! Proxies from the environment are ignored by the guarded client: a proxy would resolve
//! names where we cannot check them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect::{Attempt, Policy};
use shared::odoo::{ClientSettings, OdooError};
use url::{Host, Url};

/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 5;

/// Why an address may not be reached.
pub fn blocked_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => blocked_v6(v6),
    }
}

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    // Cloud metadata services: AWS, GCP, Azure, OpenStack (link-local), Azure's wire
    // server (public range), Alibaba (shared range); named first for a clear message.
    if ip == Ipv4Addr::new(169, 254, 169, 254)
        || ip == Ipv4Addr::new(168, 63, 129, 16)
        || ip == Ipv4Addr::new(100, 100, 100, 200)
    {
        return Some("a cloud metadata address");
    }
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (carrier-grade NAT) address")
    } else if ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        Some("a broadcast, multicast or reserved address")
    } else if ip.is_documentation() || (a == 198 && (b == 18 || b == 19)) {
        Some("a documentation or benchmarking address")
    } else if a == 192 && b == 0 && c == 0 {
        Some("an IETF protocol address")
    } else {
        None
    }
}

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // IPv4 written as IPv6 (::ffff:a.b.c.d, NAT64 64:ff9b::a.b.c.d) is judged as IPv4.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return blocked_v4(v4);
    }
    let segments = ip.segments();
    if segments[0] == 0x64 && segments[1] == 0xff9b && segments[2..6] == [0, 0, 0, 0] {
        let [_, _, _, _, _, _, hi, lo] = segments;
        return blocked_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return Some("a cloud metadata address");
    }
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if ip.is_unique_local() {
        Some("a private (unique local) address")
    } else if ip.is_unicast_link_local() {
        Some("a link-local address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if segments[0] == 0x2001 && segments[1] == 0xdb8 {
        Some("a documentation address")
    } else if segments[..6] == [0, 0, 0, 0, 0, 0] {
        // Deprecated IPv4-compatible addresses (::a.b.c.d).
        Some("a reserved address")
    } else {
        None
    }
}

/// A refused destination: the host and why, safe to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsrfError {
    #[error("{host} resolves to {reason}, which is not allowed for an Odoo server")]
    Blocked { host: String, reason: &'static str },
    #[error("{host} could not be resolved")]
    Unresolvable { host: String },
    #[error("a redirect went to an unsupported URL scheme {0:?}")]
    Scheme(String),
    #[error("too many redirects")]
    TooManyRedirects,
}

/// The first refusal seen by a guarded client, so a failed request can say why.
#[derive(Debug, Clone, Default)]
pub struct Refusals(Arc<Mutex<Option<SsrfError>>>);

impl Refusals {
    fn record(&self, error: SsrfError) {
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert(error);
        }
    }

    /// The first refusal, if any.
    pub fn first(&self) -> Option<SsrfError> {
        self.0.lock().ok().and_then(|slot| slot.clone())
    }
}

/// Which hosts may resolve to non-public addresses.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allowed_hosts: Vec<String>,
}

impl AddressPolicy {
    /// `allowed_hosts` in lower case (host names or literal addresses).
    pub fn new(allowed_hosts: &[String]) -> AddressPolicy {
        AddressPolicy {
            allowed_hosts: allowed_hosts.iter().map(|h| normalise_host(h)).collect(),
        }
    }

    fn is_allowed(&self, host: &str) -> bool {
        let host = normalise_host(host);
        self.allowed_hosts.contains(&host)
    }

    /// Checks every address of `host` (`addresses`, already resolved).
    fn check_addresses(&self, host: &str, addresses: &[IpAddr]) -> Result<(), SsrfError> {
        if self.is_allowed(host) {
            return Ok(());
        }
        if addresses.is_empty() {
            return Err(SsrfError::Unresolvable {
                host: host.to_string(),
            });
        }
        for ip in addresses {
            if let Some(reason) = blocked_reason(*ip) {
                return Err(SsrfError::Blocked {
                    host: host.to_string(),
                    reason,
                });
            }
        }
        Ok(())
    }

    /// Resolves the URL's host and checks every address it has.
    pub async fn check_url(&self, url: &Url) -> Result<(), SsrfError> {
        let Some(host) = url.host() else {
            return Err(SsrfError::Unresolvable {
                host: String::new(),
            });
        };
        let name = host.to_string();
        let addresses = match host {
            Host::Ipv4(ip) => vec![IpAddr::V4(ip)],
            Host::Ipv6(ip) => vec![IpAddr::V6(ip)],
            Host::Domain(domain) => {
                if self.is_allowed(domain) {
                    return Ok(());
                }
                resolve(domain)
                    .await
                    .map_err(|_| SsrfError::Unresolvable { host: name.clone() })?
            }
        };
        self.check_addresses(&name, &addresses)
    }

    /// An HTTP client for talking to tenants' Odoo that can only reach allowed addresses,
    /// and the slot where it records what it refused.
    pub fn guarded_client(
        &self,
        settings: &ClientSettings,
    ) -> Result<(reqwest::Client, Refusals), OdooError> {
        let refusals = Refusals::default();
        let resolver = GuardedResolver {
            policy: self.clone(),
            refusals: refusals.clone(),
        };
        let redirects = RedirectGuard {
            policy: self.clone(),
            refusals: refusals.clone(),
        };
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .user_agent(concat!("odoo-sync/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .dns_resolver(Arc::new(resolver))
            .redirect(Policy::custom(move |attempt| redirects.decide(attempt)))
            .build()
            .map_err(|e| OdooError::InvalidSetting(format!("cannot build the HTTP client: {e}")))?;
        Ok((client, refusals))
    }
}

/// Hosts compare in lower case, IPv6 without brackets, without a trailing dot.
fn normalise_host(host: &str) -> String {
    host.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

async fn resolve(host: &str) -> std::io::Result<Vec<IpAddr>> {
    let found = tokio::net::lookup_host((host, 0)).await?;
    Ok(found.map(|addr| addr.ip()).collect())
}

/// Resolves names for the guarded client, refusing names with any non-allowed address.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: AddressPolicy,
    refusals: Refusals,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addresses = resolve(&host).await?;
            if let Err(refused) = this.policy.check_addresses(&host, &addresses) {
                this.refusals.record(refused.clone());
                return Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: Addrs = Box::new(
                addresses
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, 0))
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
            Ok(addrs)
        })
    }
}

/// The guarded client's redirect policy.
#[derive(Debug, Clone)]
struct RedirectGuard {
    policy: AddressPolicy,
    refusals: Refusals,
}

impl RedirectGuard {
    fn decide(&self, attempt: Attempt<'_>) -> reqwest::redirect::Action {
        let refused = self.check(attempt.url(), attempt.previous().len());
        match refused {
            Ok(()) => attempt.follow(),
            Err(error) => {
                self.refusals.record(error.clone());
                attempt.error(error)
            }
        }
    }

    fn check(&self, url: &Url, hops: usize) -> Result<(), SsrfError> {
        if hops > MAX_REDIRECTS {
            return Err(SsrfError::TooManyRedirects);
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SsrfError::Scheme(url.scheme().to_string()));
        }
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            // Names are checked by the resolver when the client connects.
            Some(Host::Domain(_)) => None,
            None => {
                return Err(SsrfError::Unresolvable {
                    host: String::new(),
                })
            }
        };
        match literal {
            Some(ip) => self.policy.check_addresses(&ip.to_string(), &[ip]),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn non_public_addresses_are_blocked() {
        for blocked in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "100.100.100.200",
            "168.63.129.16",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
        ] {
            assert!(
                blocked_reason(ip(blocked)).is_some(),
                "{blocked} must be blocked"
            );
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(blocked_reason(ip(public)).is_none(), "{public} is public");
        }
        assert_eq!(
            blocked_reason(ip("169.254.169.254")),
            Some("a cloud metadata address")
        );
    }

    #[test]
    fn every_address_is_checked_and_allowed_hosts_pass() {
        let policy = AddressPolicy::new(&["odoo.internal".into(), "127.0.0.1".into()]);
        let mixed = [ip("8.8.8.8"), ip("10.0.0.1")];
        assert!(matches!(
            policy.check_addresses("evil.example", &mixed),
            Err(SsrfError::Blocked { .. })
        ));
        assert!(policy.check_addresses("ODOO.internal.", &mixed).is_ok());
        assert!(policy
            .check_addresses("127.0.0.1", &[ip("127.0.0.1")])
            .is_ok());
        assert!(policy
            .check_addresses("public.example", &[ip("8.8.8.8")])
            .is_ok());
        assert!(matches!(
            policy.check_addresses("nowhere.example", &[]),
            Err(SsrfError::Unresolvable { .. })
        ));
    }

    #[tokio::test]
    async fn urls_are_resolved_before_any_request() {
        let policy = AddressPolicy::default();
        for url in [
            "http://127.0.0.1:8069",
            "http://localhost:8069",
            "http://[::1]:8069",
            "http://169.254.169.254/latest",
            "http://[::ffff:7f00:1]/",
        ] {
            let url = Url::parse(url).expect("valid");
            assert!(
                policy.check_url(&url).await.is_err(),
                "{url} must be refused"
            );
        }
        let allowed = AddressPolicy::new(&["localhost".into()]);
        let url = Url::parse("http://localhost:8069").expect("valid");
        assert!(allowed.check_url(&url).await.is_ok());
    }
}
