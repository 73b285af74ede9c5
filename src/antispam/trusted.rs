//! Trusted networks (`antispam.trusted_networks`): clients whose mail
//! skips greylisting, the DNS block lists and the rate limits, as
//! Postfix's `mynetworks` and postgrey's whitelist do. SPF, DKIM and DMARC
//! are still checked and reported. Trust never lets a client relay: that
//! takes AUTH on submission.

use crate::auth::spf::in_network;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A network: an address and a prefix length (`192.0.2.0/24`,
/// `2001:db8::/32`; a bare address is the whole length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    len: u8,
}

impl Network {
    /// Whether `ip` is in the network. An IPv4 address written as IPv6
    /// (`::ffff:192.0.2.1`) counts as the IPv4 one.
    pub fn contains(&self, ip: IpAddr) -> bool {
        in_network(ip.to_canonical(), self.addr, self.len)
    }
}

/// Whether `ip` is in one of `networks`.
pub fn is_trusted(networks: &[Network], ip: IpAddr) -> bool {
    networks.iter().any(|n| n.contains(ip))
}

impl FromStr for Network {
    type Err = ();

    fn from_str(s: &str) -> Result<Network, ()> {
        let (addr, len) = match s.trim().split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s.trim(), None),
        };
        let addr = IpAddr::from_str(addr).map_err(|_| ())?.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) => {
                l.parse::<u8>().map_err(|_| ())?
            }
            Some(_) => return Err(()),
        };
        if len > max {
            return Err(());
        }
        Ok(Network { addr, len })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Network;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a network such as \"192.0.2.0/24\" or \"2001:db8::/32\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Network, E> {
                v.parse()
                    .map_err(|()| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Network {
        s.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_match() {
        let list = [net("127.0.0.0/8"), net("::1/128"), net("192.0.2.7")];
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "::1",
            "192.0.2.7",
            "::ffff:127.0.0.2",
        ] {
            assert!(is_trusted(&list, ip.parse().unwrap()), "{ip}");
        }
        for ip in ["128.0.0.1", "::2", "192.0.2.8", "10.0.0.1"] {
            assert!(!is_trusted(&list, ip.parse().unwrap()), "{ip}");
        }
        assert!(net("0.0.0.0/0").contains("203.0.113.9".parse().unwrap()));
        assert!(!net("0.0.0.0/0").contains("2001:db8::1".parse().unwrap()));
        assert_eq!(net("2001:db8::/32").to_string(), "2001:db8::/32");
        for bad in [
            "",
            "127.0.0.1/33",
            "::1/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "lan",
            "10/8",
        ] {
            assert!(bad.parse::<Network>().is_err(), "{bad}");
        }
    }
}
