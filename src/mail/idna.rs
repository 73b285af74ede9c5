//! Internationalised domain names: every domain that enters (an SMTP
//! address under SMTPUTF8, a config domain, a domain, user or alias added
//! by the administrator) is kept and compared in its ASCII form, U-labels
//! turned into A-labels (`bücher.example` is `xn--bcher-kva.example`) by
//! the UTS #46 processing of IDNA 2008 (RFC 5891 §4, RFC 6531 §3.2).

/// The ASCII form of `domain`: an all-ASCII name is returned as it is
/// (its case and any `_` kept, for the callers' own checks), a name with
/// U-labels is mapped (lowercase, NFC) and each U-label written as an
/// A-label. `None` when the name is not a valid IDN (a disallowed
/// character, a bad hyphen, a label over 63 bytes once encoded).
pub fn to_ascii(domain: &str) -> Option<String> {
    if domain.is_ascii() {
        return Some(domain.to_string());
    }
    // UTS #46 with UseSTD3ASCIIRules, CheckHyphens and VerifyDnsLength:
    // the strict profile that suits host names.
    let trailing_dot = domain.ends_with('.');
    let name = domain.strip_suffix('.').unwrap_or(domain);
    let mut ascii = idna::domain_to_ascii_strict(name).ok()?;
    if trailing_dot {
        ascii.push('.');
    }
    Some(ascii)
}

/// An address or `@domain` with its domain in A-labels, as the store
/// keeps it: for every place that looks an address up (a login, the
/// administrator's commands). A domain that is not a valid IDN is left
/// as it is, so the lookup fails as for any unknown name.
pub fn address_to_ascii(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => match to_ascii(domain) {
            Some(d) => format!("{local}@{d}"),
            None => address.to_string(),
        },
        None => address.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u_labels_become_a_labels() {
        assert_eq!(
            to_ascii("bücher.test").as_deref(),
            Some("xn--bcher-kva.test")
        );
        assert_eq!(
            to_ascii("BÜCHER.Test.").as_deref(),
            Some("xn--bcher-kva.test.")
        );
        assert_eq!(
            to_ascii("mail.例え.jp").as_deref(),
            Some("mail.xn--r8jz45g.jp")
        );
        // NFC: u + combining diaeresis is ü.
        assert_eq!(
            to_ascii("bu\u{308}cher.test").as_deref(),
            Some("xn--bcher-kva.test")
        );
        // ASCII names pass untouched, A-labels included.
        assert_eq!(to_ascii("Mail.Example").as_deref(), Some("Mail.Example"));
        assert_eq!(to_ascii("_dmarc.x.test").as_deref(), Some("_dmarc.x.test"));
        assert_eq!(
            to_ascii("xn--bcher-kva.test").as_deref(),
            Some("xn--bcher-kva.test")
        );
    }

    #[test]
    fn invalid_names_are_refused() {
        for bad in [
            "bü cher.test",
            "bü_cher.test",
            "ab--ü.test",
            "-bü.test",
            "bü..test",
            "bü\u{7}.test",
        ] {
            assert_eq!(to_ascii(bad), None, "{bad:?}");
        }
        assert_eq!(to_ascii(&format!("{}.test", "ü".repeat(70))), None);
    }

    #[test]
    fn addresses_get_their_domain_in_a_labels() {
        assert_eq!(address_to_ascii("a@Bücher.test"), "a@xn--bcher-kva.test");
        assert_eq!(address_to_ascii("@bücher.test"), "@xn--bcher-kva.test");
        assert_eq!(address_to_ascii("Ann@Example.test"), "Ann@Example.test");
        assert_eq!(address_to_ascii("no-domain"), "no-domain");
    }
}
