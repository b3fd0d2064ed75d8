//! Server specifications: `"host"`, `"host:port"`, `"[v6addr]:port"`, `"unix:/path"`, each
//! optionally followed by whitespace and a weight (`"cache1:11211 3"`).

use std::fmt;
use std::net::Ipv6Addr;
use std::path::PathBuf;

pub const DEFAULT_PORT: u16 = 11211;
/// Largest server weight. Some presets spend memory in proportion to weight (uhashring: 160
/// ring points per unit, python_memcached: one bucket per unit).
pub const MAX_WEIGHT: u32 = 1000;

/// Where a server listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// Host name or IP literal exactly as configured (IPv6 without brackets), and port. Names
    /// are resolved at every connect, so DNS changes are followed.
    Tcp { host: String, port: u16 },
    /// A Unix domain socket path.
    Unix(PathBuf),
}

/// One configured server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerSpec {
    pub address: Address,
    /// Relative share of the keyspace (ketama weighting); at least 1.
    pub weight: u32,
}

impl ServerSpec {
    /// Parse a spec string (forms in the module docs).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = text.split_whitespace();
        let address_text = parts.next().ok_or_else(|| "empty server address".to_owned())?;
        let weight = match parts.next() {
            None => 1,
            Some(w) => parse_weight(w).ok_or_else(|| format!("bad weight {w:?} in server {text:?}"))?,
        };
        if parts.next().is_some() {
            return Err(format!(
                "server {text:?} has trailing text; expected \"host:port [weight]\""
            ));
        }
        Ok(ServerSpec {
            address: parse_address(address_text)?,
            weight,
        })
    }

    /// Build a spec from parts, as given by a `(host, port[, weight])` tuple.
    pub fn from_parts(host: &str, port: u16, weight: u32) -> Result<Self, String> {
        if weight == 0 || weight > MAX_WEIGHT {
            return Err(format!("server weight must be in 1..={MAX_WEIGHT}"));
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        validate_host(host)?;
        Ok(ServerSpec {
            address: Address::Tcp {
                host: host.to_owned(),
                port,
            },
            weight,
        })
    }

    /// The name used in errors, stats and results: `host:port`, `[v6]:port` or `unix:/path`.
    pub fn name(&self) -> String {
        self.address.to_string()
    }
}

fn parse_weight(text: &str) -> Option<u32> {
    text.parse::<u32>().ok().filter(|w| (1..=MAX_WEIGHT).contains(w))
}

fn validate_host(host: &str) -> Result<(), String> {
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/') {
        return Err(format!("bad host {host:?}"));
    }
    Ok(())
}

fn parse_port(text: &str, spec: &str) -> Result<u16, String> {
    text.parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("bad port {text:?} in server {spec:?}"))
}

fn parse_address(text: &str) -> Result<Address, String> {
    if let Some(path) = text.strip_prefix("unix:") {
        if path.is_empty() {
            return Err("empty unix socket path".into());
        }
        return Ok(Address::Unix(PathBuf::from(path)));
    }
    if text.starts_with('/') {
        return Ok(Address::Unix(PathBuf::from(text)));
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("unclosed '[' in server {text:?}"))?;
        host.parse::<Ipv6Addr>()
            .map_err(|_| format!("bad IPv6 address {host:?}"))?;
        let port = match after {
            "" => DEFAULT_PORT,
            _ => parse_port(
                after.strip_prefix(':').ok_or_else(|| format!("bad server {text:?}"))?,
                text,
            )?,
        };
        return Ok(Address::Tcp {
            host: host.to_owned(),
            port,
        });
    }
    if text.parse::<Ipv6Addr>().is_ok() {
        return Ok(Address::Tcp {
            host: text.to_owned(),
            port: DEFAULT_PORT,
        });
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (host, parse_port(port, text)?),
        None => (text, DEFAULT_PORT),
    };
    validate_host(host)?;
    Ok(Address::Tcp {
        host: host.to_owned(),
        port,
    })
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Address::Tcp { host, port } => write!(f, "{host}:{port}"),
            Address::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> Address {
        Address::Tcp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn parses_every_documented_form() {
        assert_eq!(ServerSpec::parse("cache1").unwrap().address, tcp("cache1", 11211));
        assert_eq!(
            ServerSpec::parse("10.0.0.1:11212").unwrap().address,
            tcp("10.0.0.1", 11212)
        );
        assert_eq!(ServerSpec::parse("[::1]:11213").unwrap().address, tcp("::1", 11213));
        assert_eq!(ServerSpec::parse("[::1]").unwrap().address, tcp("::1", 11211));
        assert_eq!(ServerSpec::parse("::1").unwrap().address, tcp("::1", 11211));
        assert_eq!(
            ServerSpec::parse("unix:/tmp/mc.sock").unwrap().address,
            Address::Unix("/tmp/mc.sock".into())
        );
        let weighted = ServerSpec::parse("  cache2:11211   3 ").unwrap();
        assert_eq!(weighted.weight, 3);
        assert_eq!(weighted.name(), "cache2:11211");
        assert_eq!(ServerSpec::parse("[::1]:5").unwrap().name(), "[::1]:5");
        assert_eq!(ServerSpec::parse("unix:/s").unwrap().name(), "unix:/s");
    }

    #[test]
    fn refuses_malformed_specs() {
        for bad in [
            "",
            "host:",
            "host:0",
            "host:70000",
            "host:x",
            "[::1",
            "[zz]:1",
            "h 0",
            "h 1 2",
            "unix:",
            "a b",
        ] {
            assert!(ServerSpec::parse(bad).is_err(), "{bad:?} should fail");
        }
        assert!(ServerSpec::from_parts("h", 1, 0).is_err());
        assert!(ServerSpec::from_parts("", 1, 1).is_err());
    }
}
