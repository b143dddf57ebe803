//! Keeps save-connection from being used to reach inside our network (SSRF): an Odoo URL
//! whose host resolves to any address that is not global unicast — loopback, private,
//! link-local, shared (CGNAT), cloud metadata, documentation, multicast, reserved, and the
//! IPv6 transition ranges that can lead to private IPv4 (6to4, Teredo, NAT64 local use,
//! IPv4-mapped and -translated, with the IPv4 inside judged as IPv4) — is refused unless
//! `ALLOWED_PRIVATE_HOSTS` names the host and port (`host:port`, `host:*` for every port; a
//! bare `host` opens 80 and 443 only).
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

use ipnet::{Ipv4Net, Ipv6Net};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect::{Attempt, Policy};
use shared::odoo::{ClientSettings, OdooError};
use url::{Host, Url};

/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 5;

/// Why an address may not be reached: `None` only for global unicast addresses.
pub fn blocked_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => blocked_v6(v6),
    }
}

/// IPv4 ranges that are not global unicast (IANA's special-purpose registry, RFC 6890 and
/// its updates), most specific first. Written as a table over `ipnet` because std's
/// `Ipv4Addr::is_global` is still unstable and no maintained crate classifies both
/// families, transition ranges included.
const V4_BLOCKED: &[(Ipv4Net, &str)] = &[
    // Cloud metadata services: AWS, GCP, Azure, OpenStack (link-local), Azure's wire server
    // (public range), Alibaba (shared range); named first for a clear message.
    (v4(169, 254, 169, 254, 32), METADATA),
    (v4(168, 63, 129, 16, 32), METADATA),
    (v4(100, 100, 100, 200, 32), METADATA),
    (v4(0, 0, 0, 0, 8), "an unspecified address"),
    (v4(10, 0, 0, 0, 8), "a private address"),
    (
        v4(100, 64, 0, 0, 10),
        "a shared (carrier-grade NAT) address",
    ),
    (v4(127, 0, 0, 0, 8), "a loopback address"),
    (v4(169, 254, 0, 0, 16), "a link-local address"),
    (v4(172, 16, 0, 0, 12), "a private address"),
    (v4(192, 0, 0, 0, 24), "an IETF protocol address"),
    (v4(192, 0, 2, 0, 24), DOCUMENTATION),
    (v4(192, 88, 99, 0, 24), "a 6to4 relay address"),
    (v4(192, 168, 0, 0, 16), "a private address"),
    (v4(198, 18, 0, 0, 15), DOCUMENTATION),
    (v4(198, 51, 100, 0, 24), DOCUMENTATION),
    (v4(203, 0, 113, 0, 24), DOCUMENTATION),
    (v4(224, 0, 0, 0, 4), "a multicast address"),
    (v4(240, 0, 0, 0, 4), "a reserved or broadcast address"),
];

/// IPv6 ranges inside global unicast (2000::/3) that are not global or that tunnel to
/// IPv4 without a check we could make: Teredo and the other IETF protocol assignments
/// (2001::/23, ORCHID 2001:10::/28 included), documentation, 6to4 (2002::/16, the IPv4 end
/// is whatever the relay reaches).
const V6_BLOCKED: &[(Ipv6Net, &str)] = &[
    (v6([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254], 128), METADATA),
    (
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
        "an IETF protocol (Teredo, ORCHID, benchmarking) address",
    ),
    (v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), DOCUMENTATION),
    (v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16), "a 6to4 address"),
    (v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), DOCUMENTATION),
];

const METADATA: &str = "a cloud metadata address";
const DOCUMENTATION: &str = "a documentation or benchmarking address";

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

const fn v6(s: [u16; 8], len: u8) -> Ipv6Net {
    let ip = Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]);
    Ipv6Net::new_assert(ip, len)
}

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    V4_BLOCKED
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, reason)| *reason)
}

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // IPv4-mapped (::ffff:a.b.c.d) and NAT64's well-known prefix (64:ff9b::/96) reach the
    // embedded IPv4 address: judged as that address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return blocked_v4(v4);
    }
    let segments = ip.segments();
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., hi, lo] = segments;
        return blocked_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    if let Some((_, reason)) = V6_BLOCKED.iter().find(|(net, _)| net.contains(&ip)) {
        return Some(reason);
    }
    // Only 2000::/3 is global unicast; everything else is loopback, unspecified,
    // IPv4-compatible or -translated (::a.b.c.d, ::ffff:0:a.b.c.d), local-use NAT64
    // (64:ff9b:1::/48), discard (100::/64), unique local, link- and site-local (fec0::/10),
    // multicast or unassigned.
    if segments[0] & 0xe000 != 0x2000 {
        return Some(match ip {
            _ if ip.is_loopback() => "a loopback address",
            _ if ip.is_unspecified() => "an unspecified address",
            _ if ip.is_unique_local() => "a private (unique local) address",
            _ if ip.is_unicast_link_local() => "a link-local address",
            _ if ip.is_multicast() => "a multicast address",
            _ => "a reserved or non-global address",
        });
    }
    None
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
    #[error("{host} may only be reached on the ports ALLOWED_PRIVATE_HOSTS names, not {port}")]
    PortNotAllowed { host: String, port: u16 },
}

/// An `ALLOWED_PRIVATE_HOSTS` entry that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ALLOWED_PRIVATE_HOSTS: {0:?} is not host, host:port or host:*")]
pub struct AllowedHostError(String);

/// The ports an allowed host may be reached on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ports {
    /// A bare host: the web's default ports only, 80 and 443.
    Default,
    One(u16),
    /// `host:*`, asked for explicitly.
    Any,
}

impl Ports {
    fn allows(self, port: u16) -> bool {
        match self {
            Ports::Default => port == 80 || port == 443,
            Ports::One(p) => p == port,
            Ports::Any => true,
        }
    }
}

/// One allowed host and its ports.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    host: String,
    ports: Ports,
}

impl AllowedHost {
    /// `host`, `host:port`, `host:*`, `[v6]`, `[v6]:port`, `[v6]:*` or a bare IPv6 address.
    fn parse(entry: &str) -> Result<AllowedHost, AllowedHostError> {
        let bad = || AllowedHostError(entry.to_string());
        let entry = entry.trim();
        let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':').ok_or_else(bad)?)),
            }
        } else if entry.matches(':').count() == 1 {
            let (host, port) = entry.split_once(':').ok_or_else(bad)?;
            (host, Some(port))
        } else {
            (entry, None)
        };
        let ports = match port {
            None => Ports::Default,
            Some("*") => Ports::Any,
            Some(port) => Ports::One(port.parse().map_err(|_| bad())?),
        };
        let host = normalise_host(host);
        if host.is_empty() {
            return Err(bad());
        }
        Ok(AllowedHost { host, ports })
    }
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

/// Which hosts, on which ports, may resolve to non-public addresses.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allowed_hosts: Vec<AllowedHost>,
}

impl AddressPolicy {
    /// Reads `ALLOWED_PRIVATE_HOSTS` entries (see [`AllowedHost::parse`]).
    pub fn parse(allowed_hosts: &[String]) -> Result<AddressPolicy, AllowedHostError> {
        Ok(AddressPolicy {
            allowed_hosts: allowed_hosts
                .iter()
                .map(|h| AllowedHost::parse(h))
                .collect::<Result<_, _>>()?,
        })
    }

    /// [`AddressPolicy::parse`] for entries already checked at start-up; an unreadable
    /// entry allows nothing.
    pub fn new(allowed_hosts: &[String]) -> AddressPolicy {
        AddressPolicy {
            allowed_hosts: allowed_hosts
                .iter()
                .filter_map(|h| AllowedHost::parse(h).ok())
                .collect(),
        }
    }

    /// The entries naming `host`.
    fn entries<'a>(&'a self, host: &str) -> impl Iterator<Item = &'a AllowedHost> + 'a {
        let host = normalise_host(host);
        self.allowed_hosts.iter().filter(move |a| a.host == host)
    }

    /// `host` is allowed on `port`.
    fn is_allowed(&self, host: &str, port: u16) -> bool {
        self.entries(host).any(|a| a.ports.allows(port))
    }

    /// A host that is allowed, but on other ports, may not be reached on `port`.
    fn check_port(&self, host: &str, port: u16) -> Result<(), SsrfError> {
        let mut entries = self.entries(host).peekable();
        if entries.peek().is_some() && !entries.any(|a| a.ports.allows(port)) {
            return Err(SsrfError::PortNotAllowed {
                host: host.to_string(),
                port,
            });
        }
        Ok(())
    }

    /// Checks every address of `host` (`addresses`, already resolved) for a connection to
    /// `port`; `None` is the resolver's case, which does not see the port: the URL's port
    /// was checked before the request and every redirect's is checked by [`RedirectGuard`].
    fn check_addresses(
        &self,
        host: &str,
        port: Option<u16>,
        addresses: &[IpAddr],
    ) -> Result<(), SsrfError> {
        let allowed = match port {
            Some(port) => self.is_allowed(host, port),
            None => self.entries(host).next().is_some(),
        };
        if allowed {
            return Ok(());
        }
        if let Some(port) = port {
            self.check_port(host, port)?;
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
        let port = url.port_or_known_default().unwrap_or(80);
        let addresses = match host {
            Host::Ipv4(ip) => vec![IpAddr::V4(ip)],
            Host::Ipv6(ip) => vec![IpAddr::V6(ip)],
            Host::Domain(domain) => {
                if self.is_allowed(domain, port) {
                    return Ok(());
                }
                self.check_port(domain, port)?;
                resolve(domain)
                    .await
                    .map_err(|_| SsrfError::Unresolvable { host: name.clone() })?
            }
        };
        self.check_addresses(&name, Some(port), &addresses)
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
            if let Err(refused) = this.policy.check_addresses(&host, None, &addresses) {
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
        let port = url.port_or_known_default().unwrap_or(80);
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            // Names are checked by the resolver when the client connects; their port here.
            Some(Host::Domain(domain)) => {
                self.policy.check_port(domain, port)?;
                None
            }
            None => {
                return Err(SsrfError::Unresolvable {
                    host: String::new(),
                })
            }
        };
        match literal {
            Some(ip) => self
                .policy
                .check_addresses(&ip.to_string(), Some(port), &[ip]),
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
            // Transition and special-purpose ranges (issue 10).
            "64:ff9b:1::a00:1",
            "64:ff9b:1::808:808",
            "2002:a00:1::1",
            "2002:808:808::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:10::1",
            "2001:20::1",
            "::ffff:0:a00:1",
            "::ffff:0:808:808",
            "100::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "3fff::1",
            "4000::1",
            "192.88.99.1",
            "198.18.0.1",
            "203.0.113.9",
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
            "64:ff9b::808:808",
            "2a00:1450:4001::1",
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
        let policy = AddressPolicy::new(&["odoo.internal".into(), "127.0.0.1:*".into()]);
        let mixed = [ip("8.8.8.8"), ip("10.0.0.1")];
        assert!(matches!(
            policy.check_addresses("evil.example", Some(443), &mixed),
            Err(SsrfError::Blocked { .. })
        ));
        assert!(policy
            .check_addresses("ODOO.internal.", Some(443), &mixed)
            .is_ok());
        assert!(policy
            .check_addresses("127.0.0.1", Some(8069), &[ip("127.0.0.1")])
            .is_ok());
        assert!(policy
            .check_addresses("public.example", Some(443), &[ip("8.8.8.8")])
            .is_ok());
        assert!(matches!(
            policy.check_addresses("nowhere.example", Some(443), &[]),
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
        let allowed = AddressPolicy::new(&["localhost:8069".into()]);
        let url = Url::parse("http://localhost:8069").expect("valid");
        assert!(allowed.check_url(&url).await.is_ok());
    }

    #[tokio::test]
    async fn allowed_hosts_open_only_the_ports_they_name() {
        let policy = AddressPolicy::parse(&[
            "127.0.0.1:8069".into(),
            "localhost".into(),
            "[::1]:9000".into(),
            "odoo.lan:*".into(),
        ])
        .expect("valid entries");
        for (url, ok) in [
            ("http://127.0.0.1:8069/", true),
            ("http://127.0.0.1:6379/", false),
            ("http://127.0.0.1/", false),
            ("http://localhost/", true),
            ("https://localhost/", true),
            ("http://localhost:22/", false),
            ("http://[::1]:9000/", true),
            ("http://[::1]:9001/", false),
        ] {
            let url = Url::parse(url).expect("valid");
            assert_eq!(policy.check_url(&url).await.is_ok(), ok, "{url}");
        }
        let refused = policy
            .check_url(&Url::parse("http://localhost:6379/").expect("valid"))
            .await;
        assert!(
            matches!(refused, Err(SsrfError::PortNotAllowed { port: 6379, .. })),
            "{refused:?}"
        );
        // A redirect from an allowed port to another port of the same host is refused.
        let guard = RedirectGuard {
            policy: policy.clone(),
            refusals: Refusals::default(),
        };
        let redirect = Url::parse("http://127.0.0.1:6379/").expect("valid");
        assert!(guard.check(&redirect, 1).is_err());
        let redirect = Url::parse("http://odoo.lan:1234/").expect("valid");
        assert!(guard.check(&redirect, 1).is_ok());
        for bad in ["host:port", "[::1", "[::1]x", ":80", "host:99999"] {
            assert!(AddressPolicy::parse(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
