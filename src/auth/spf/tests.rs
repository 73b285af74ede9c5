//! check_host() over canned DNS: RFC 7208 Appendix B's examples, the
//! processing limits and the error cases.

use super::*;
use crate::dns::{DnsError, RecordData, RecordType, StaticResolver};

fn txt(s: &str) -> RecordData {
    RecordData::Txt(vec![s.as_bytes().to_vec()])
}

fn a(ip: &str) -> RecordData {
    match ip.parse::<IpAddr>().unwrap() {
        IpAddr::V4(v4) => RecordData::A(v4),
        IpAddr::V6(v6) => RecordData::Aaaa(v6),
    }
}

fn mx(pref: u16, host: &str) -> RecordData {
    RecordData::Mx {
        preference: pref,
        exchange: host.into(),
    }
}

fn ptr(ip: &str, host: &str) -> (String, RecordData) {
    (
        crate::dns::reverse_name(ip.parse().unwrap()),
        RecordData::Ptr(host.into()),
    )
}

/// RFC 7208 Appendix B's DNS setup.
fn appendix_b() -> StaticResolver {
    let mut r = StaticResolver::new();
    r.add("example.com", mx(10, "mail-a.example.com"))
        .add("example.com", mx(20, "mail-b.example.com"))
        .add("example.com", a("192.0.2.10"))
        .add("example.com", a("192.0.2.11"))
        .add("amy.example.com", a("192.0.2.65"))
        .add("bob.example.com", a("192.0.2.66"))
        .add("mail-a.example.com", a("192.0.2.129"))
        .add("mail-b.example.com", a("192.0.2.130"))
        .cname("www.example.com", "example.com")
        .add("example.org", mx(10, "mail-c.example.org"))
        .add("mail-c.example.org", a("192.0.2.140"));
    for (ip, host) in [
        ("192.0.2.10", "example.com"),
        ("192.0.2.11", "example.com"),
        ("192.0.2.65", "amy.example.com"),
        ("192.0.2.66", "bob.example.com"),
        ("192.0.2.129", "mail-a.example.com"),
        ("192.0.2.130", "mail-b.example.com"),
        ("192.0.2.140", "mail-c.example.org"),
        // "A rogue reverse IP domain that claims to be something it's not"
        ("10.0.0.4", "bob.example.com"),
    ] {
        let (name, data) = ptr(ip, host);
        r.add(&name, data);
    }
    r
}

fn run(r: &StaticResolver, ip: &str, sender: &str) -> SpfOutcome {
    smol::block_on(check_mail_from(
        r,
        ip.parse().unwrap(),
        sender,
        "mx.example.net",
        "receiver.example.net",
        1_700_000_000,
    ))
}

fn result(r: &StaticResolver, ip: &str, sender: &str) -> SpfResult {
    run(r, ip, sender).result
}

/// Asserts the result of `record` at example.com for each address, in
/// Appendix B's setup.
fn b1(record: &str, cases: &[(&str, SpfResult)]) {
    let mut r = appendix_b();
    r.add("example.com", txt(record));
    for (ip, want) in cases {
        assert_eq!(
            result(&r, ip, "joe@example.com"),
            *want,
            "{record} for {ip}"
        );
    }
}

use SpfResult::{Fail, Neutral, None as NoneR, Pass, PermError, SoftFail, TempError};

#[test]
fn appendix_b1_simple_examples() {
    b1(
        "v=spf1 +all",
        &[("192.0.2.200", Pass), ("2001:db8::1", Pass)],
    );
    b1(
        "v=spf1 a -all",
        &[
            ("192.0.2.10", Pass),
            ("192.0.2.11", Pass),
            ("192.0.2.12", Fail),
        ],
    );
    b1(
        "v=spf1 a:example.org -all",
        &[("192.0.2.10", Fail), ("192.0.2.140", Fail)],
    );
    b1(
        "v=spf1 mx -all",
        &[
            ("192.0.2.129", Pass),
            ("192.0.2.130", Pass),
            ("192.0.2.10", Fail),
        ],
    );
    b1(
        "v=spf1 mx:example.org -all",
        &[("192.0.2.140", Pass), ("192.0.2.129", Fail)],
    );
    b1(
        "v=spf1 mx mx:example.org -all",
        &[
            ("192.0.2.129", Pass),
            ("192.0.2.130", Pass),
            ("192.0.2.140", Pass),
            ("192.0.2.65", Fail),
        ],
    );
    b1(
        "v=spf1 mx/30 mx:example.org/30 -all",
        &[
            ("192.0.2.128", Pass),
            ("192.0.2.131", Pass),
            ("192.0.2.142", Pass),
            ("192.0.2.143", Pass),
            ("192.0.2.132", Fail),
            ("192.0.2.144", Fail),
        ],
    );
    b1(
        "v=spf1 ptr -all",
        &[
            ("192.0.2.65", Pass),
            ("192.0.2.140", Fail),
            ("10.0.0.4", Fail),
        ],
    );
    b1(
        "v=spf1 ip4:192.0.2.128/28 -all",
        &[("192.0.2.65", Fail), ("192.0.2.129", Pass)],
    );
}

#[test]
fn appendix_b2_multiple_domains() {
    let mut r = appendix_b();
    r.add("example.com", txt("v=spf1 mx -all"))
        .add("example.net", txt("v=spf1 ip4:192.0.2.200 -all"))
        .add(
            "example.org",
            txt("v=spf1 include:example.com include:example.net -all"),
        )
        .add("la.example.org", txt("v=spf1 redirect=example.org"))
        .add("ny.example.org", txt("v=spf1 redirect=example.org"));
    for sender in [
        "joe@example.org",
        "joe@la.example.org",
        "joe@NY.example.org",
    ] {
        assert_eq!(result(&r, "192.0.2.129", sender), Pass, "{sender}");
        assert_eq!(result(&r, "192.0.2.200", sender), Pass, "{sender}");
        assert_eq!(result(&r, "192.0.2.65", sender), Fail, "{sender}");
    }
    // sf.example.org has no record.
    assert_eq!(result(&r, "192.0.2.129", "joe@sf.example.org"), NoneR);
}

#[test]
fn appendix_b3_dnsbl_style() {
    let mut r = appendix_b();
    r.add(
        "example.com",
        txt("v=spf1 mx include:mobile-users._spf.%{d} include:remote-users._spf.%{d} -all"),
    )
    .add(
        "mobile-users._spf.example.com",
        txt("v=spf1 exists:%{l1r+}.%{d}"),
    )
    .add(
        "remote-users._spf.example.com",
        txt("v=spf1 exists:%{ir}.%{l1r+}.%{d}"),
    )
    .add("mary.mobile-users._spf.example.com", a("127.0.0.2"))
    .add("fred.mobile-users._spf.example.com", a("127.0.0.2"))
    .add(
        "15.15.168.192.joel.remote-users._spf.example.com",
        a("127.0.0.2"),
    )
    .add(
        "16.15.168.192.joel.remote-users._spf.example.com",
        a("127.0.0.2"),
    );
    assert_eq!(result(&r, "198.51.100.1", "mary@example.com"), Pass);
    assert_eq!(result(&r, "198.51.100.1", "fred+lists@example.com"), Pass);
    assert_eq!(result(&r, "192.168.15.15", "joel@example.com"), Pass);
    assert_eq!(result(&r, "192.168.15.16", "joel+x@example.com"), Pass);
    assert_eq!(result(&r, "192.168.15.17", "joel@example.com"), Fail);
    assert_eq!(result(&r, "192.0.2.129", "anyone@example.com"), Pass);
}

#[test]
fn outcome_of_a_fail_with_the_default_explanation() {
    let mut r = appendix_b();
    r.add(
        "example.com",
        txt("v=spf1 a ~a:example.org -ip4:192.0.2.0/24 ?all"),
    );
    let o = run(&r, "192.0.2.99", "joe@example.com");
    assert_eq!(o.result, Fail);
    assert_eq!(o.mechanism.as_deref(), Some("-ip4:192.0.2.0/24"));
    assert_eq!(
        o.explanation.as_deref(),
        Some("192.0.2.99 is not one of example.com's designated mail servers")
    );
    assert_eq!(o.problem, None);
    let o = run(&r, "198.51.100.1", "joe@example.com");
    assert_eq!(
        (o.result, o.mechanism.as_deref(), o.explanation),
        (Neutral, Some("?all"), None)
    );
    assert_eq!(result(&r, "192.0.2.10", "joe@example.com"), Pass);
}

#[test]
fn qualifiers_and_default_neutral() {
    let mut r = StaticResolver::new();
    r.add("soft.test.example", txt("v=spf1 ip4:192.0.2.1 ~all"))
        .add("neutral.test.example", txt("v=spf1 ip4:192.0.2.1"))
        .add(
            "q.test.example",
            txt("v=spf1 ?ip4:192.0.2.1 +ip4:192.0.2.2 -all"),
        );
    assert_eq!(result(&r, "192.0.2.9", "a@soft.test.example"), SoftFail);
    assert_eq!(result(&r, "192.0.2.1", "a@soft.test.example"), Pass);
    let o = run(&r, "192.0.2.9", "a@neutral.test.example");
    assert_eq!((o.result, o.mechanism), (Neutral, None));
    assert_eq!(result(&r, "192.0.2.1", "a@q.test.example"), Neutral);
    assert_eq!(result(&r, "192.0.2.2", "a@q.test.example"), Pass);
}

#[test]
fn record_selection() {
    let mut r = StaticResolver::new();
    r.add("two.example", txt("v=spf1 -all"))
        .add("two.example", txt("v=spf1 +all"))
        .add("mixed.example", txt("v=spf10 +all"))
        .add("mixed.example", txt("google-site-verification=abc"))
        .add("mixed.example", txt("v=spf1 -all"))
        .add("other.example", txt("v=spf10 +all"))
        .add("other.example", txt("spf2.0/pra +all"))
        .add("upper.example", txt("V=SPF1 +ALL"))
        .add("empty.example", txt("v=spf1"))
        .nodata("nodata.example");
    let o = run(&r, "192.0.2.1", "a@two.example");
    assert_eq!(o.result, PermError);
    assert!(o.problem.unwrap().contains("more than one"));
    assert_eq!(result(&r, "192.0.2.1", "a@mixed.example"), Fail);
    assert_eq!(result(&r, "192.0.2.1", "a@other.example"), NoneR);
    assert_eq!(result(&r, "192.0.2.1", "a@upper.example"), Pass);
    assert_eq!(result(&r, "192.0.2.1", "a@empty.example"), Neutral);
    assert_eq!(result(&r, "192.0.2.1", "a@nodata.example"), NoneR);
    assert_eq!(result(&r, "192.0.2.1", "a@nowhere.example"), NoneR);
    // Malformed or single-label domains are none without a lookup (§4.3).
    let before = r.query_count();
    for sender in ["a@localhost", "a@bad..example", "a@", "a@.example"] {
        assert_eq!(result(&r, "192.0.2.1", sender), NoneR, "{sender}");
    }
    let long = format!("a@{}.example", "x".repeat(64));
    assert_eq!(result(&r, "192.0.2.1", &long), NoneR);
    assert_eq!(r.query_count(), before);
}

#[test]
fn a_record_split_into_strings_at_every_byte() {
    let text = "v=spf1 ip4:192.0.2.0/24 a:h.example.com/30 -all";
    for cut in 0..=text.len() {
        let (x, y) = text.split_at(cut);
        let mut r = StaticResolver::new();
        r.add(
            "example.com",
            RecordData::Txt(vec![x.as_bytes().to_vec(), y.as_bytes().to_vec()]),
        )
        .add("h.example.com", a("198.51.100.1"));
        assert_eq!(result(&r, "192.0.2.7", "a@example.com"), Pass, "cut {cut}");
        assert_eq!(
            result(&r, "198.51.100.3", "a@example.com"),
            Pass,
            "cut {cut}"
        );
        assert_eq!(
            result(&r, "198.51.100.4", "a@example.com"),
            Fail,
            "cut {cut}"
        );
    }
}

#[test]
fn unknown_modifiers_are_ignored() {
    let mut r = StaticResolver::new();
    r.add(
        "example.com",
        txt("v=spf1 moo=cow ip4:192.0.2.1 x-1.y_z=%{d}.%{s} -all a=b"),
    );
    assert_eq!(result(&r, "192.0.2.1", "a@example.com"), Pass);
    assert_eq!(result(&r, "192.0.2.2", "a@example.com"), Fail);
}

#[test]
fn syntax_errors_are_permerrors_before_anything_matches() {
    for record in [
        "v=spf1 +all a/33",
        "v=spf1 +all ip4:192.0.2.1/33",
        "v=spf1 +all ip4:garbage",
        "v=spf1 +all ip6:2001:db8::/129",
        "v=spf1 +all foo:bar",
        "v=spf1 +all frob",
        "v=spf1 +all exists:%{q}.example.com",
        "v=spf1 +all include:%",
        "v=spf1 +all redirect=a.example redirect=b.example",
        "v=spf1 +all exp=a.example exp=b.example",
        "v=spf1 +all mod=%",
        "v=spf1 +all a:museum",
    ] {
        let mut r = StaticResolver::new();
        r.add("example.com", txt(record));
        let o = run(&r, "192.0.2.1", "a@example.com");
        assert_eq!(o.result, PermError, "{record}");
        assert!(
            o.problem.is_some_and(|p| p.starts_with("example.com: ")),
            "{record}"
        );
        assert_eq!(r.query_count(), 1, "{record}: only the TXT lookup");
    }
}

#[test]
fn cname_chains_are_followed() {
    let mut r = appendix_b();
    r.cname("alias.example.net", "alias2.example.net")
        .cname("alias2.example.net", "example.com")
        .add("example.com", txt("v=spf1 a:www.example.com -all"))
        .cname("spf.example.net", "example.com");
    assert_eq!(result(&r, "192.0.2.10", "joe@example.com"), Pass);
    assert_eq!(result(&r, "192.0.2.10", "joe@alias.example.net"), Pass);
    assert_eq!(result(&r, "192.0.2.12", "joe@alias.example.net"), Fail);
    let mut loops = StaticResolver::new();
    loops
        .cname("l1.example", "l2.example")
        .cname("l2.example", "l1.example");
    assert_eq!(result(&loops, "192.0.2.1", "a@l1.example"), TempError);
}

/// A chain of includes, each include one DNS-querying term.
fn include_chain(n: usize) -> StaticResolver {
    let mut r = StaticResolver::new();
    for i in 0..n {
        r.add(
            &format!("d{i}.example"),
            txt(&format!("v=spf1 include:d{}.example -all", i + 1)),
        );
    }
    r.add(&format!("d{n}.example"), txt("v=spf1 +all"));
    r
}

#[test]
fn lookup_limit_counts_terms_inside_includes() {
    assert_eq!(
        result(&include_chain(10), "192.0.2.1", "a@d0.example"),
        Pass
    );
    let r = include_chain(11);
    let o = run(&r, "192.0.2.1", "a@d0.example");
    assert_eq!(o.result, PermError);
    assert!(o.problem.unwrap().contains("more than 10"));
    // Nothing is asked after the limit: 11 TXT lookups.
    assert_eq!(r.query_count(), 11);

    // A loop ends at the limit too.
    let mut r = StaticResolver::new();
    r.add("loop.example", txt("v=spf1 include:loop.example -all"));
    assert_eq!(result(&r, "192.0.2.1", "a@loop.example"), PermError);
    let mut r = StaticResolver::new();
    r.add("loop.example", txt("v=spf1 redirect=loop.example"));
    assert_eq!(result(&r, "192.0.2.1", "a@loop.example"), PermError);
}

#[test]
fn lookup_limit_is_checked_as_terms_are_evaluated() {
    let mut r = StaticResolver::new();
    r.add("h.example", a("192.0.2.1"));
    let ten = "a:h.example ".repeat(10);
    r.add("ten.example", txt(&format!("v=spf1 {ten}-all")))
        .add(
            "eleven.example",
            txt(&format!("v=spf1 {ten}a:h.example -all")),
        )
        .add(
            "early.example",
            txt(&format!("v=spf1 ip4:192.0.2.7 {ten}a:h.example -all")),
        )
        .add(
            "redir.example",
            txt(&format!("v=spf1 {ten}redirect=ok.example")),
        )
        .add("ok.example", txt("v=spf1 +all"))
        .add(
            "nondns.example",
            txt(&format!("v=spf1 {ten}ip4:192.0.2.9 ip6:::1 ~all")),
        );
    assert_eq!(
        result(&r, "192.0.2.1", "a@eleven.example"),
        Pass,
        "matched at the first term"
    );
    assert_eq!(result(&r, "192.0.2.9", "a@ten.example"), Fail);
    assert_eq!(result(&r, "192.0.2.9", "a@eleven.example"), PermError);
    assert_eq!(result(&r, "192.0.2.7", "a@early.example"), Pass);
    assert_eq!(result(&r, "192.0.2.9", "a@redir.example"), PermError);
    assert_eq!(result(&r, "192.0.2.9", "a@nondns.example"), Pass);
    assert_eq!(result(&r, "192.0.2.8", "a@nondns.example"), SoftFail);
}

#[test]
fn void_lookup_limit() {
    let mut r = StaticResolver::new();
    r.nodata("empty.example")
        .add("h.example", a("192.0.2.5"))
        .add(
            "two.example",
            txt("v=spf1 a:n1.example mx:empty.example -all"),
        )
        .add(
            "three.example",
            txt("v=spf1 a:n1.example mx:empty.example exists:n3.example -all"),
        )
        .add(
            "v6only.example",
            txt("v=spf1 a:h.example a:h.example a:h.example ?all"),
        )
        .add(
            "incl.example",
            txt("v=spf1 a:n1.example include:inner.example -all"),
        )
        .add(
            "inner.example",
            txt("v=spf1 a:n2.example a:n3.example -all"),
        );
    assert_eq!(result(&r, "192.0.2.1", "a@two.example"), Fail);
    let o = run(&r, "192.0.2.1", "a@three.example");
    assert_eq!(o.result, PermError);
    assert!(o
        .problem
        .unwrap()
        .contains("more than 2 lookups found nothing"));
    // An IPv6 client makes AAAA lookups: NODATA at h.example, void.
    assert_eq!(result(&r, "2001:db8::1", "a@v6only.example"), PermError);
    assert_eq!(result(&r, "192.0.2.5", "a@v6only.example"), Pass);
    // Counted across includes.
    assert_eq!(result(&r, "192.0.2.1", "a@incl.example"), PermError);
}

#[test]
fn include_and_redirect_of_a_domain_without_a_record() {
    let mut r = StaticResolver::new();
    r.add("norecord.example", txt("not spf"))
        .add(
            "inc-none.example",
            txt("v=spf1 include:norecord.example +all"),
        )
        .add("inc-nx.example", txt("v=spf1 include:nowhere.example +all"))
        .add("inc-bad.example", txt("v=spf1 include:%{l}.example +all"))
        .add("red-none.example", txt("v=spf1 redirect=norecord.example"))
        .add("red-nx.example", txt("v=spf1 redirect=nowhere.example"))
        .add("inc-fail.example", txt("v=spf1 include:fail.example ?all"))
        .add("inc-soft.example", txt("v=spf1 include:soft.example ?all"))
        .add(
            "inc-neutral.example",
            txt("v=spf1 include:neutral.example -all"),
        )
        .add("inc-perm.example", txt("v=spf1 include:perm.example +all"))
        .add("fail.example", txt("v=spf1 -all"))
        .add("soft.example", txt("v=spf1 ~all"))
        .add("neutral.example", txt("v=spf1 ?all"))
        .add("perm.example", txt("v=spf1 ip4:bad"));
    for d in ["inc-none", "inc-nx", "red-none", "red-nx", "inc-perm"] {
        assert_eq!(
            result(&r, "192.0.2.1", &format!("a@{d}.example")),
            PermError,
            "{d}"
        );
    }
    // The local-part "x..y" makes an invalid name: none inside, permerror.
    assert_eq!(result(&r, "192.0.2.1", "x..y@inc-bad.example"), PermError);
    // §5.2: fail, softfail and neutral inside are "no match".
    assert_eq!(result(&r, "192.0.2.1", "a@inc-fail.example"), Neutral);
    assert_eq!(result(&r, "192.0.2.1", "a@inc-soft.example"), Neutral);
    assert_eq!(result(&r, "192.0.2.1", "a@inc-neutral.example"), Fail);
}

#[test]
fn redirect_is_used_only_without_a_match() {
    let mut r = StaticResolver::new();
    r.add(
        "r.example",
        txt("v=spf1 redirect=target.example ip4:192.0.2.1"),
    )
    .add("all.example", txt("v=spf1 redirect=target.example ?all"))
    .add("target.example", txt("v=spf1 ip4:192.0.2.2 -all"));
    assert_eq!(result(&r, "192.0.2.1", "a@r.example"), Pass);
    assert_eq!(result(&r, "192.0.2.2", "a@r.example"), Pass);
    assert_eq!(result(&r, "192.0.2.3", "a@r.example"), Fail);
    assert_eq!(result(&r, "192.0.2.3", "a@all.example"), Neutral);
    assert_eq!(result(&r, "192.0.2.2", "a@all.example"), Neutral);
}

#[test]
fn explanations() {
    let mut r = StaticResolver::new();
    r.add(
        "example.com",
        txt("v=spf1 ip4:192.0.2.1 -all exp=explain._spf.%{d}"),
    )
    .add(
        "explain._spf.example.com",
        RecordData::Txt(vec![
            b"%{i} is not allowed to send for %{d} ".to_vec(),
            b"(%{s} %{c} %{r} %{t} %{h} %{L} %{V} %%%_%-)".to_vec(),
        ]),
    )
    .add("multi.example", txt("v=spf1 -all exp=m.multi.example"))
    .add("m.multi.example", txt("one"))
    .add("m.multi.example", txt("two"))
    .add("nx.example", txt("v=spf1 -all exp=nowhere.example"))
    .add("bad.example", txt("v=spf1 -all exp=b.bad.example"))
    .add("b.bad.example", txt("50% off"))
    .add("tmp.example", txt("v=spf1 -all exp=t.tmp.example"))
    .fail(
        "t.tmp.example",
        RecordType::Txt,
        DnsError::Temporary("SERVFAIL".into()),
    )
    .add(
        "inc.example",
        txt("v=spf1 include:inner.example -all exp=e.inc.example"),
    )
    .add("e.inc.example", txt("outer explains %{d}"))
    .add("inner.example", txt("v=spf1 +all exp=e.inner.example"))
    .add("e.inner.example", txt("inner explains"))
    .add(
        "red.example",
        txt("v=spf1 redirect=target.example exp=e.red.example"),
    )
    .add("e.red.example", txt("the redirecting domain explains"))
    .add("target.example", txt("v=spf1 -all exp=e.%{d}"))
    .add("e.target.example", txt("%{d} explains"))
    .add("soft.example", txt("v=spf1 ~all exp=e.target.example"));
    let o = run(&r, "192.0.2.3", "strong-bad@example.com");
    assert_eq!(o.result, Fail);
    assert_eq!(
        o.explanation.as_deref(),
        Some(
            "192.0.2.3 is not allowed to send for example.com (strong-bad@example.com \
             192.0.2.3 receiver.example.net 1700000000 mx.example.net strong-bad in-addr % %20)"
        )
    );
    let default = |d: &str| {
        Some(format!(
            "192.0.2.3 is not one of {d}'s designated mail servers"
        ))
    };
    for d in ["multi.example", "nx.example", "bad.example", "tmp.example"] {
        let o = run(&r, "192.0.2.3", &format!("a@{d}"));
        assert_eq!((o.result, o.explanation), (Fail, default(d)), "{d}");
    }
    // An include's exp= is not used; the includer's is.
    assert_eq!(run(&r, "192.0.2.3", "a@inc.example").explanation, None);
    assert_eq!(
        run(&r, "192.0.2.3", "a@inc.example").result,
        Pass,
        "+all inside matches"
    );
    // With redirect=, the target's exp= is used, with the target as %{d}.
    let o = run(&r, "192.0.2.3", "a@red.example");
    assert_eq!(o.explanation.as_deref(), Some("target.example explains"));
    // Only a fail has an explanation.
    assert_eq!(run(&r, "192.0.2.3", "a@soft.example").explanation, None);
    // The explanation lookup is not counted among the ten.
    let mut r = StaticResolver::new();
    let ten = "a:h.example ".repeat(10);
    r.add("h.example", a("127.0.0.2"))
        .add(
            "ten.example",
            txt(&format!("v=spf1 {ten}-all exp=e.ten.example")),
        )
        .add("e.ten.example", txt("ten lookups"));
    let o = run(&r, "192.0.2.3", "a@ten.example");
    assert_eq!(
        (o.result, o.explanation.as_deref()),
        (Fail, Some("ten lookups"))
    );
}

#[test]
fn exp_from_an_include_chain_after_its_own_fail() {
    let mut r = StaticResolver::new();
    r.add(
        "example.com",
        txt("v=spf1 include:ok.example -all exp=e.example.com"),
    )
    .add("ok.example", txt("v=spf1 ip4:192.0.2.1 -all"))
    .add("e.example.com", txt("go away %{c}"));
    let o = run(&r, "2001:db8::cb01", "a@example.com");
    assert_eq!(o.result, Fail);
    assert_eq!(o.explanation.as_deref(), Some("go away 2001:db8::cb01"));
}

#[test]
fn mx_limits() {
    let mut r = StaticResolver::new();
    for i in 0..11 {
        r.add("eleven.example", mx(10, &format!("mx{i}.example")));
        if i < 10 {
            r.add("ten.example", mx(10, &format!("mx{i}.example")));
        }
        r.add(
            &format!("mx{i}.example"),
            a(&format!("192.0.2.{}", 100 + i)),
        );
    }
    r.add("ten.example", txt("v=spf1 mx -all"))
        .add("eleven.example", txt("v=spf1 mx -all"))
        .add("null.example", mx(0, ""))
        .add("null.example", txt("v=spf1 mx -all"))
        .add("gone.example", mx(10, "nowhere.example"))
        .add("gone.example", mx(20, "mx3.example"))
        .add("gone.example", txt("v=spf1 mx -all"))
        .add("tmp.example", mx(10, "broken.example"))
        .add("tmp.example", mx(20, "mx3.example"))
        .add("tmp.example", txt("v=spf1 mx -all"))
        .fail(
            "broken.example",
            RecordType::A,
            DnsError::Temporary("timeout".into()),
        );
    assert_eq!(result(&r, "192.0.2.109", "a@ten.example"), Pass);
    assert_eq!(result(&r, "192.0.2.110", "a@ten.example"), Fail);
    let o = run(&r, "192.0.2.100", "a@eleven.example");
    assert_eq!(o.result, PermError);
    assert!(o.problem.unwrap().contains("more than 10 MX"));
    assert_eq!(result(&r, "192.0.2.1", "a@null.example"), Fail);
    assert_eq!(result(&r, "192.0.2.103", "a@gone.example"), Pass);
    assert_eq!(result(&r, "192.0.2.1", "a@gone.example"), Fail);
    // A match wins over another host's failure; without one, temperror.
    assert_eq!(result(&r, "192.0.2.103", "a@tmp.example"), Pass);
    assert_eq!(result(&r, "192.0.2.1", "a@tmp.example"), TempError);
}

#[test]
fn ptr_mechanism() {
    let mut r = appendix_b();
    r.add("example.com", txt("v=spf1 ptr:example.com -all"))
        .add("example.org", txt("v=spf1 ptr -all"));
    // Eleven names: only the first ten count (§4.6.4).
    let (rev, _) = ptr("192.0.2.200", "x");
    for i in 0..11 {
        let host = format!("h{i}.example.org");
        r.add(&rev, RecordData::Ptr(host.clone()));
        r.add(&host, a("192.0.2.200"));
    }
    r.add("h10.example.org", a("192.0.2.201"));
    let (rev201, _) = ptr("192.0.2.201", "x");
    for i in 0..11 {
        r.add(&rev201, RecordData::Ptr(format!("other{i}.example.net")));
    }
    r.add(&rev201, RecordData::Ptr("h10.example.org".into()));
    assert_eq!(result(&r, "192.0.2.65", "joe@example.com"), Pass);
    assert_eq!(result(&r, "192.0.2.10", "joe@example.com"), Pass);
    assert_eq!(result(&r, "10.0.0.4", "joe@example.com"), Fail);
    assert_eq!(result(&r, "192.0.2.140", "joe@example.org"), Pass);
    assert_eq!(result(&r, "192.0.2.200", "joe@example.org"), Pass);
    assert_eq!(
        result(&r, "192.0.2.201", "joe@example.org"),
        Fail,
        "12th name ignored"
    );
    // A PTR lookup error is no match, not an error (§5.5).
    r.fail(
        &crate::dns::reverse_name("192.0.2.66".parse().unwrap()),
        RecordType::Ptr,
        DnsError::Temporary("x".into()),
    );
    assert_eq!(result(&r, "192.0.2.66", "joe@example.com"), Fail);
}

#[test]
fn p_macro() {
    let mut r = appendix_b();
    r.add("example.com", txt("v=spf1 exists:%{p}.ok.example.net -all"))
        .add("amy.example.com.ok.example.net", a("127.0.0.2"))
        .add("unknown.ok.example.net", a("127.0.0.2"))
        .add("e.example.org", txt("%{p} %{P}"))
        .add("example.org", txt("v=spf1 -all exp=e.example.org"));
    assert_eq!(result(&r, "192.0.2.65", "joe@example.com"), Pass);
    assert_eq!(
        result(&r, "10.0.0.4", "joe@example.com"),
        Pass,
        "not validated: unknown"
    );
    assert_eq!(result(&r, "192.0.2.66", "joe@example.com"), Fail);
    assert_eq!(
        run(&r, "192.0.2.140", "joe@example.org")
            .explanation
            .as_deref(),
        Some("mail-c.example.org mail-c.example.org")
    );
}

#[test]
fn ipv6_clients() {
    let mut r = StaticResolver::new();
    r.add(
        "example.com",
        txt("v=spf1 a/24//64 ip6:2001:db8:1::/48 exists:%{ir}.%{v}._spf.%{d2} -all"),
    )
    .add("example.com", a("192.0.2.10"))
    .add("example.com", a("2001:db8:ffff::1"))
    .add(
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com",
        a("127.0.0.2"),
    );
    assert_eq!(result(&r, "192.0.2.99", "a@example.com"), Pass);
    assert_eq!(result(&r, "2001:db8:ffff::abcd", "a@example.com"), Pass);
    assert_eq!(result(&r, "2001:db8:fffe::1", "a@example.com"), Fail);
    assert_eq!(result(&r, "2001:db8:1:2::3", "a@example.com"), Pass);
    assert_eq!(result(&r, "2001:db8::cb01", "a@example.com"), Pass);
    // An IPv4-mapped address is the IPv4 client.
    assert_eq!(result(&r, "::ffff:192.0.2.99", "a@example.com"), Pass);
    assert_eq!(
        run(&r, "::ffff:192.0.2.99", "a@example.com")
            .client_ip
            .to_string(),
        "192.0.2.99"
    );
}

#[test]
fn temporary_dns_errors() {
    let mut r = StaticResolver::new();
    r.fail(
        "down.example",
        RecordType::Txt,
        DnsError::Temporary("SERVFAIL".into()),
    )
    .fail(
        "junk.example",
        RecordType::Txt,
        DnsError::Malformed("junk".into()),
    )
    .add("inc.example", txt("v=spf1 include:down.example +all"))
    .add("a.example", txt("v=spf1 a:h.down.example +all"))
    .fail(
        "h.down.example",
        RecordType::A,
        DnsError::Temporary("timeout".into()),
    )
    .add("red.example", txt("v=spf1 redirect=down.example"));
    for d in ["down", "junk", "inc", "a", "red"] {
        let o = run(&r, "192.0.2.1", &format!("a@{d}.example"));
        assert_eq!(o.result, TempError, "{d}");
        assert!(o.problem.is_some());
        assert_eq!(o.explanation, None);
    }
}

#[test]
fn helo_and_null_sender() {
    let mut r = StaticResolver::new();
    r.add("mx.example.net", txt("v=spf1 a -all exp=e.example.net"))
        .add("mx.example.net", a("192.0.2.5"))
        .add("e.example.net", txt("%{s} %{l} %{o} %{h}"));
    let ip = "192.0.2.5".parse().unwrap();
    let o = smol::block_on(check_helo(&r, ip, "mx.example.net", "me.example", 0));
    assert_eq!((o.result, o.identity), (Pass, Identity::Helo));
    assert_eq!(o.sender, "postmaster@mx.example.net");
    assert_eq!(o.auth_results(), "spf=pass smtp.helo=mx.example.net");
    let other = "192.0.2.6".parse().unwrap();
    let o = smol::block_on(check_helo(&r, other, "mx.example.net", "me.example", 0));
    assert_eq!(o.result, Fail);
    assert_eq!(
        o.explanation.as_deref(),
        Some("postmaster@mx.example.net postmaster mx.example.net mx.example.net")
    );
    for literal in ["[192.0.2.5]", "192.0.2.5", "[IPv6:2001:db8::1]"] {
        let o = smol::block_on(check_helo(&r, ip, literal, "me.example", 0));
        assert_eq!((o.result, o.domain.as_str()), (NoneR, ""), "{literal}");
    }
    // §2.4: a null MAIL FROM is checked as postmaster@HELO.
    for null in ["", "<>"] {
        let o = smol::block_on(check_mail_from(
            &r,
            other,
            null,
            "mx.example.net",
            "me.example",
            0,
        ));
        assert_eq!((o.result, o.identity), (Fail, Identity::MailFrom));
        assert_eq!(o.domain, "mx.example.net");
        assert_eq!(o.sender, "postmaster@mx.example.net");
    }
    // No local-part: postmaster (§4.3).
    let o = smol::block_on(check_host(
        &r,
        ip,
        "mx.example.net",
        "@mx.example.net",
        "h",
        "me",
        0,
    ));
    assert_eq!(
        (o.result, o.sender.as_str()),
        (Pass, "postmaster@mx.example.net")
    );
}

#[test]
fn received_spf_and_authentication_results() {
    let mut r = StaticResolver::new();
    r.add("example.com", txt("v=spf1 ip4:192.0.2.0/24 -all"))
        .add("perm.example", txt("v=spf1 ip4:300.1.1.1"))
        .add("neutral.example", txt("v=spf1 ip4:10.0.0.1"));
    let o = run(&r, "192.0.2.1", "joe@example.com");
    let h = received_spf_header(&o);
    assert_eq!(
        h,
        "Received-SPF: pass (receiver.example.net: domain of joe@example.com designates\r\n\
         \t192.0.2.1 as permitted sender) client-ip=192.0.2.1;\r\n\
         \tenvelope-from=\"joe@example.com\"; helo=mx.example.net;\r\n\
         \treceiver=receiver.example.net; identity=mailfrom;\r\n\
         \tmechanism=\"ip4:192.0.2.0/24\";\r\n"
    );
    assert_eq!(o.auth_results(), "spf=pass smtp.mailfrom=example.com");

    let o = run(&r, "192.0.2.1", "\"we(ird)\"\r\n@perm.example");
    assert_eq!(o.result, PermError);
    let h = received_spf_header(&o);
    assert!(h.starts_with("Received-SPF: permerror (receiver.example.net: permanent error"));
    assert!(h.contains("problem=\"perm.example: bad IPv4 network in \\\"ip4:300.1.1.1\\\"\";"));
    assert!(h.contains("envelope-from=\"\\\"we(ird)\\\"??@perm.example\""));
    assert_eq!(h.matches("\r\n").count(), h.matches("\r\n\t").count() + 1);
    assert!(h.lines().all(|l| l.len() <= 998));
    let comment_end = h.find(')').unwrap();
    assert!(
        !h[..comment_end].contains("we(ird"),
        "parentheses in the comment are replaced"
    );

    let o = run(&r, "192.0.2.1", "a@neutral.example");
    assert!(received_spf_header(&o).contains("mechanism=default;"));
    let o = run(&r, "192.0.2.1", "a@nowhere.example");
    assert_eq!(o.auth_results(), "spf=none smtp.mailfrom=nowhere.example");
    assert!(received_spf_header(&o).starts_with("Received-SPF: none ("));
}

#[test]
fn result_words() {
    let words: Vec<&str> = [NoneR, Neutral, Pass, Fail, SoftFail, TempError, PermError]
        .iter()
        .map(|r| r.as_str())
        .collect();
    assert_eq!(
        words,
        [
            "none",
            "neutral",
            "pass",
            "fail",
            "softfail",
            "temperror",
            "permerror"
        ]
    );
    assert_eq!(Fail.to_string(), "fail");
}

/// Cases in the style of the RFC 7208 test suite (its "ALL", "PTR", "A",
/// "include", "exists", "IP4", "IP6" and modifier sections), for a client
/// at 1.2.3.4 sending as foo@e.example.com.
#[test]
fn test_suite_style_cases() {
    for (record, want) in [
        ("v=spf1 -all.", PermError),
        ("v=spf1 -all:foobar", PermError),
        ("v=spf1 -all/8", PermError),
        ("v=spf1 all -all", Pass),
        ("v=spf1 ptr/0 -all", PermError),
        ("v=spf1 ptr: -all", PermError),
        ("v=spf1 a/29a", PermError),
        ("v=spf1 a//33/29", PermError),
        ("v=spf1 a:111.222.33.444", PermError),
        ("v=spf1 a:abc.123", PermError),
        ("v=spf1 a/0 -all", Pass),
        ("v=spf1 a//0 -all", Fail),
        ("v=spf1 include:e3.example.com/24", PermError),
        ("v=spf1 exists", PermError),
        ("v=spf1 exists:e.example.com/24", PermError),
        ("v=spf1 exists:%{d}. -all", Pass),
        ("v=spf1 -exists:%(ir).sbl.example.org", PermError),
        ("v=spf1 -exists:%{i}.%{c}.sbl.example.org", PermError),
        ("v=spf1 ip4:1.2.3.4/032 -all", PermError),
        ("v=spf1 ip4:1.2.3.4:8080", PermError),
        ("v=spf1 ip4:1.2.3", PermError),
        ("v=spf1 ip4:1.2.3.4//0", PermError),
        ("v=spf1 ip4:1.2.3.4/0 -all", Pass),
        ("v=spf1 ip4:9.9.9.9/0 -all", Pass),
        ("v=spf1 ip6", PermError),
        ("v=spf1 ip6:::1.1.1.1/0", Neutral),
        ("v=spf1 ip6:::/0 -all", Fail),
        ("v=spf1 redirect:t3.example.com", PermError),
        ("v=spf1 1up=foo", PermError),
        ("v=spf1 mo~o=man ip4:1.2.3.4", PermError),
        ("v=spf1 moo.cow-far_out=man:dog/cat ip4:1.2.3.4 -all", Pass),
        ("v=spf1 ~all redirect=nowhere.example", SoftFail),
        ("v=spf1 exp= -all", PermError),
        ("v=spf1 exp=e.example.com/24 -all", PermError),
        ("v=spf1 -all  ", Fail),
        ("v=spf1mx", NoneR),
    ] {
        let mut r = StaticResolver::new();
        r.add("e.example.com", txt(record))
            .add("e.example.com", a("10.0.0.1"));
        assert_eq!(result(&r, "1.2.3.4", "foo@e.example.com"), want, "{record}");
    }
}

#[test]
fn checks_can_run_on_a_multithreaded_executor() {
    fn assert_send<T: Send>(_: &T) {}
    let r = StaticResolver::new();
    let ip = "192.0.2.1".parse().unwrap();
    assert_send(&check_mail_from(
        &r,
        ip,
        "a@example.com",
        "h.example",
        "me.example",
        0,
    ));
    assert_send(&check_helo(&r, ip, "h.example", "me.example", 0));
}
