//! The web pages over loopback against the real binary: every route's
//! status, content type and security headers, sessions, CSRF, escaping,
//! body limits and slow clients. The plain-HTTP listener serves most
//! checks; one goes through HTTPS.

mod common;

use common::server::{pem_body, presented, Lines, Server};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const ADMIN: &str = "boss@example.test";
const STAFF: &str = "anna@example.test";
const PASSWORD: &str = "correct horse battery";

/// An HTTP response.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request (`Connection: close`) and reads the whole answer.
fn send(addr: SocketAddr, raw: &[u8]) -> Resp {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(raw).expect("send");
    let mut out = Vec::new();
    // The server may close while a too-large body is still being sent.
    let _ = s.read_to_end(&mut out);
    parse(&out)
}

fn parse(raw: &[u8]) -> Resp {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: body.to_string(),
    }
}

fn request(addr: SocketAddr, method: &str, path: &str, cookie: &str, body: Option<&str>) -> Resp {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if !cookie.is_empty() {
        raw.push_str(&format!("Cookie: facteur_session={cookie}\r\n"));
    }
    if let Some(b) = body {
        raw.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        ));
    } else {
        raw.push_str("\r\n");
    }
    send(addr, raw.as_bytes())
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'.' || b == b'@' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A browser with its session cookie.
struct Browser {
    addr: SocketAddr,
    cookie: String,
}

impl Browser {
    fn login(addr: SocketAddr, user: &str, password: &str) -> Browser {
        let r = request(
            addr,
            "POST",
            "/login",
            "",
            Some(&format!(
                "username={}&password={}",
                enc(user),
                enc(password)
            )),
        );
        assert_eq!(r.status, 303, "login of {user}: {r:?}");
        let set = r
            .header("set-cookie")
            .expect("a session cookie")
            .to_string();
        for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
            assert!(set.contains(attr), "{set} lacks {attr}");
        }
        let token = set
            .strip_prefix("facteur_session=")
            .and_then(|v| v.split(';').next())
            .expect("the token")
            .to_string();
        assert_eq!(token.len(), 32, "128 bits in hex: {token}");
        Browser {
            addr,
            cookie: token,
        }
    }

    fn get(&self, path: &str) -> Resp {
        request(self.addr, "GET", path, &self.cookie, None)
    }

    /// The CSRF token of this session, as its pages carry it.
    fn csrf(&self) -> String {
        let page = self.get("/account").body;
        let at = page.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
        page[at..at + 32].to_string()
    }

    /// Posts `fields` with this session's CSRF token.
    fn post(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let mut body = format!("csrf={}", self.csrf());
        for (k, v) in fields {
            body.push_str(&format!("&{k}={}", enc(v)));
        }
        self.post_raw(path, &body)
    }

    fn post_raw(&self, path: &str, body: &str) -> Resp {
        request(self.addr, "POST", path, &self.cookie, Some(body))
    }
}

fn start(extra: &str) -> (Server, SocketAddr) {
    let srv = Server::start(extra);
    let (ok, out, err) = srv.cli(
        &["user", "add", ADMIN, "--admin", "--password-stdin"],
        Some(PASSWORD),
    );
    assert!(ok, "{out} {err}");
    srv.add_user(STAFF, PASSWORD);
    let addr = srv.addr("web_plain");
    (srv, addr)
}

fn assert_security_headers(path: &str, r: &Resp) {
    let csp = r.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("default-src 'self'"), "{path}: CSP {csp:?}");
    assert!(!csp.contains("unsafe-inline"), "{path}: CSP {csp:?}");
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{path}");
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{path}"
    );
}

#[test]
fn every_route_answers_with_its_type_and_the_security_headers() {
    let (_srv, addr) = start("");
    let admin = Browser::login(addr, ADMIN, PASSWORD);
    let dash = admin.get("/").body;
    for fact in ["Outbound queue", "Sent to Junk", "imaps", "web_plain"] {
        assert!(dash.contains(fact), "dashboard lacks {fact}: {dash}");
    }
    assert!(
        admin.get("/log").body.contains("signed in"),
        "the log page shows the log"
    );
    for path in [
        "/", "/domains", "/users", "/aliases", "/queue", "/tls", "/account", "/logout",
    ] {
        let r = admin.get(path);
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert_eq!(
            r.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{path}"
        );
        assert_security_headers(path, &r);
        // Signed out, every page leads to the sign-in form.
        let r = request(addr, "GET", path, "", None);
        assert_eq!(
            (r.status, r.header("location")),
            (303, Some("/login")),
            "{path}"
        );
        assert_security_headers(path, &r);
    }
    let r = request(addr, "GET", "/login", "", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_security_headers("/login", &r);
    let r = request(addr, "GET", "/style.css", "", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    assert_security_headers("/style.css", &r);
    // Unknown paths, file-looking ones included, are 404 and touch nothing.
    for path in [
        "/nope",
        "/../../etc/passwd",
        "/style.css/x",
        "/%2e%2e/facteur.toml",
        "/data/",
    ] {
        let r = admin.get(path);
        assert_eq!(r.status, 404, "{path}");
        assert!(!r.body.contains("[server]"), "{path}");
        assert_security_headers(path, &r);
    }
    // Mail client autoconfiguration: no login.
    for path in [
        "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=anna%40example.test",
        "/mail/config-v1.1.xml?emailaddress=anna%40example.test",
    ] {
        let r = request(addr, "GET", path, "", None);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some("text/xml; charset=utf-8"));
        assert_security_headers(path, &r);
        assert!(
            r.body.contains("<clientConfig version=\"1.1\">"),
            "{}",
            r.body
        );
        assert!(
            r.body.contains("<incomingServer type=\"imap\">"),
            "{}",
            r.body
        );
        assert!(
            r.body.contains("<outgoingServer type=\"smtp\">"),
            "{}",
            r.body
        );
    }
    let r = request(
        addr,
        "GET",
        "/mail/config-v1.1.xml?emailaddress=x%40elsewhere.example",
        "",
        None,
    );
    assert_eq!(r.status, 404);
    let pox = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
        <Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\">\
        <Request><EMailAddress>anna@example.test</EMailAddress>\
        <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>\
        </Request></Autodiscover>";
    for path in [
        "/autodiscover/autodiscover.xml",
        "/Autodiscover/Autodiscover.xml",
    ] {
        let raw = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{pox}",
            pox.len()
        );
        let r = send(addr, raw.as_bytes());
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some("text/xml; charset=utf-8"));
        assert_security_headers(path, &r);
        assert!(r.body.contains("<Type>IMAP</Type>"), "{}", r.body);
        assert!(
            r.body.contains("<LoginName>anna@example.test</LoginName>"),
            "{}",
            r.body
        );
    }
    let staff = Browser::login(addr, STAFF, PASSWORD);
    let r = staff.get("/account/mobileconfig");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/x-apple-aspen-config")
    );
    assert!(r.body.contains("anna@example.test"));
    assert_security_headers("/account/mobileconfig", &r);
    let r = staff.get("/account");
    assert!(
        r.body.contains("STARTTLS") || r.body.contains("SSL/TLS"),
        "client settings shown"
    );
    let r = request(addr, "PUT", "/users", &admin.cookie, None);
    assert_eq!(r.status, 405);
    assert_security_headers("PUT /users", &r);
}

#[test]
fn a_wrong_password_is_refused_and_signing_out_ends_the_session() {
    let (_srv, addr) = start("");
    let r = request(
        addr,
        "POST",
        "/login",
        "",
        Some(&format!("username={ADMIN}&password=wrong")),
    );
    assert_eq!(r.status, 401);
    assert!(r.header("set-cookie").is_none());
    assert!(r.body.contains("Wrong address or password"));
    let b = Browser::login(addr, ADMIN, PASSWORD);
    assert_eq!(b.get("/users").status, 200);
    let r = b.post("/logout", &[]);
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));
    assert!(r
        .header("set-cookie")
        .unwrap_or_default()
        .contains("Max-Age=0"));
    let r = b.get("/users");
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));
}

#[test]
fn a_post_without_the_sessions_csrf_token_is_refused_and_changes_nothing() {
    let (srv, addr) = start("");
    let a = Browser::login(addr, ADMIN, PASSWORD);
    let b = Browser::login(addr, ADMIN, PASSWORD);
    let other = b.csrf();
    assert_ne!(a.csrf(), other);
    for body in [
        "action=add&name=new.example".to_string(),
        format!("csrf={other}&action=add&name=new.example"),
        "csrf=&action=add&name=new.example".to_string(),
    ] {
        let r = a.post_raw("/domains", &body);
        assert_eq!(r.status, 403, "{body}: {r:?}");
        assert_security_headers("/domains", &r);
    }
    // No session at all.
    let r = request(
        addr,
        "POST",
        "/domains",
        "",
        Some(&format!("csrf={other}&action=add&name=new.example")),
    );
    assert_eq!(r.status, 403);
    let (_, domains, _) = srv.cli(&["domain", "list"], None);
    assert!(!domains.contains("new.example"), "{domains}");

    // With its own token, the domain is added, and mail to it is accepted
    // at once: no restart.
    let mut smtp = Lines::connect(srv.addr("smtp"));
    smtp.reply();
    smtp.cmd("EHLO client.example");
    smtp.reply();
    smtp.cmd("MAIL FROM:<someone@remote.example>");
    assert!(smtp.reply().starts_with("250"));
    smtp.cmd("RCPT TO:<info@new.example>");
    let reply = smtp.reply();
    assert!(reply.starts_with('5'), "not ours yet: {reply}");
    let r = a.post("/domains", &[("action", "add"), ("name", "new.example")]);
    assert_eq!((r.status, r.header("location")), (303, Some("/domains")));
    assert!(a.get("/domains").body.contains("added domain new.example"));
    a.post(
        "/users",
        &[
            ("action", "add"),
            ("address", "info@new.example"),
            ("password", PASSWORD),
        ],
    );
    smtp.cmd("RCPT TO:<info@new.example>");
    let reply = smtp.reply();
    assert!(reply.starts_with("250"), "{reply}");
}

#[test]
fn what_a_user_typed_is_shown_escaped() {
    let (_srv, addr) = start("");
    let a = Browser::login(addr, ADMIN, PASSWORD);
    let evil = "<script>alert(1)</script>@example.test";
    let r = a.post(
        "/users",
        &[("action", "add"), ("address", evil), ("password", "")],
    );
    assert_eq!(r.status, 400, "refused, the form shown again: {r:?}");
    assert!(!r.body.contains("<script>"), "{}", r.body);
    assert!(r
        .body
        .contains("&lt;script&gt;alert(1)&lt;/script&gt;@example.test"));
    assert!(
        r.body.contains("class=\"error\""),
        "the error beside the field"
    );
    let r = a.post(
        "/aliases",
        &[
            ("action", "add"),
            ("alias", "x@example.test"),
            ("targets", "\"><script>x</script>"),
        ],
    );
    assert!(!r.body.contains("<script>"), "{}", r.body);
}

#[test]
fn a_staff_account_cannot_open_the_admin_pages() {
    let (_srv, addr) = start("");
    let staff = Browser::login(addr, STAFF, PASSWORD);
    for path in [
        "/", "/domains", "/users", "/aliases", "/queue", "/relay", "/spam", "/tls", "/log",
    ] {
        let r = staff.get(path);
        assert_eq!(r.status, 403, "{path}");
        assert_security_headers(path, &r);
    }
    let r = staff.post(
        "/users",
        &[("action", "add"), ("address", "x@example.test")],
    );
    assert_eq!(r.status, 403);
    let r = staff.get("/account");
    assert_eq!(r.status, 200);
    assert!(
        !r.body.contains("href=\"/users\""),
        "no admin links for staff"
    );
    // Staff change their own password, after giving the current one.
    let r = staff.post(
        "/account",
        &[
            ("current", "wrong"),
            ("new", "another good password"),
            ("confirm", "another good password"),
        ],
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("current password is wrong"));
    let r = staff.post(
        "/account",
        &[
            ("current", PASSWORD),
            ("new", "another good password"),
            ("confirm", "another good password"),
        ],
    );
    assert_eq!(r.status, 303, "{r:?}");
    Browser::login(addr, STAFF, "another good password");
}

#[test]
fn an_idle_session_is_signed_out() {
    let (_srv, addr) = start("[web]\nsession_idle = \"1s\"\n");
    let a = Browser::login(addr, ADMIN, PASSWORD);
    assert_eq!(a.get("/users").status, 200);
    std::thread::sleep(Duration::from_millis(1500));
    let r = a.get("/users");
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));
    let r = a.post_raw("/domains", "action=add&name=late.example");
    assert_eq!(r.status, 403);
}

#[test]
fn bodies_over_the_limit_get_413() {
    let (_srv, addr) = start("");
    let a = Browser::login(addr, ADMIN, PASSWORD);
    let big = format!(
        "csrf={}&action=add&name={}",
        a.csrf(),
        "a".repeat(65 * 1024)
    );
    let r = a.post_raw("/domains", &big);
    assert_eq!(r.status, 413);
    assert_security_headers("/domains", &r);
    // Chunked, with no length announced: cut off once past the limit.
    let mut raw = format!(
        "POST /domains HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nCookie: facteur_session={}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n",
        a.cookie
    );
    for _ in 0..70 {
        raw.push_str(&format!("400\r\n{}\r\n", "a".repeat(1024)));
    }
    raw.push_str("0\r\n\r\n");
    assert_eq!(send(addr, raw.as_bytes()).status, 413);
    // A form under the limit is read.
    let r = a.post("/domains", &[("action", "add"), ("name", "fits.example")]);
    assert_eq!(r.status, 303);
}

#[test]
fn slow_clients_are_cut_off() {
    let (_srv, addr) = start("[web]\nheader_timeout = \"1s\"\nidle_timeout = \"1s\"\n");
    // Headers sent a byte at a time never finish.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    let mut closed = false;
    for b in
        b"GET /login HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    {
        if s.write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(closed || started.elapsed() < Duration::from_secs(10));
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
    // An idle connection is closed.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf);
    assert!(
        matches!(n, Ok(0)) || n.is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "closed by the server"
    );
}

#[test]
fn the_https_listener_speaks_http_1_1_with_the_box_certificate() {
    use rustls::pki_types::pem::PemObject;
    let (srv, _) = start("");
    let cert = srv.dir.path().join("data/tls/cert.pem");
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(&cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(cfg), name).unwrap();
    let mut tcp = TcpStream::connect(srv.addr("web")).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
    tls.write_all(b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    assert_eq!(conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    let r = parse(&out);
    assert_eq!(r.status, 200);
    assert_security_headers("https /login", &r);
}

#[test]
fn plain_http_off_loopback_is_refused_by_check_config() {
    let dir = common::server::TempDir::new("webcfg");
    let config = dir.path().join("f.toml");
    let text = common::server::test_config(dir.path(), "").replace(
        "web_plain = \"127.0.0.1:0\"",
        "web_plain = \"0.0.0.0:8080\"",
    );
    std::fs::write(&config, text).unwrap();
    let (ok, out, err) = common::server::cli(&config, &["check-config"], None);
    assert!(!ok, "{out}");
    assert!(err.contains("listen.web_plain"), "{err}");
    assert!(err.contains("not a loopback address"), "{err}");
}

/// The pages in a real browser: headless Chromium driven by
/// python3-selenium (tests/web/browser.py) claims a fresh box with the
/// setup code from the log and runs the wizard, then creates a user; mail
/// is sent and received as that user. Screenshots of each page go to
/// target/web-screenshots/.
#[test]
fn a_browser_runs_the_pages_and_the_new_user_sends_and_receives() {
    use common::server::{have_tool, run_bounded};
    for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        if !have_tool(tool) {
            return;
        }
    }
    let selenium = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import selenium"])
        .status()
        .is_ok_and(|s| s.success());
    if !selenium {
        return common::missing("python3-selenium");
    }
    let srv = Server::start("");
    let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/web-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web/browser.py");
    let web = srv.addr("web");
    let mut cmd = std::process::Command::new("/usr/bin/python3");
    cmd.arg(&script)
        .arg("--base")
        .arg(format!("https://localhost:{}", web.port()))
        .arg("--shots")
        .arg(&shots)
        .arg("--submission")
        .arg(srv.addr("submission").port().to_string())
        .arg("--imap")
        .arg(srv.addr("imap").port().to_string())
        .arg("--log")
        .arg(srv.dir.path().join("stderr.log"));
    let (ok, out, err) = run_bounded(&mut cmd, Duration::from_secs(120));
    assert!(
        ok,
        "browser test failed:\n{out}\n{err}\n--- server log:\n{}",
        srv.log()
    );
    assert!(out.contains("received:"), "{out}");
    let n = std::fs::read_dir(&shots).map(|d| d.count()).unwrap_or(0);
    assert!(n >= 8, "{n} screenshots");
}

#[test]
fn settings_pages_write_the_config_file_or_nothing() {
    let (srv, addr) = start("");
    let a = Browser::login(addr, ADMIN, PASSWORD);
    let before = std::fs::read_to_string(&srv.config).unwrap();
    // An invalid value: refused with the config check's error, file
    // byte-identical.
    let r = a.post(
        "/relay",
        &[
            ("relay.host", "smtp.provider.example"),
            ("relay.port", "not a port"),
            ("relay.tls", "starttls"),
            ("relay.username", ""),
            ("relay.password", ""),
        ],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("relay.port"), "{}", r.body);
    assert_eq!(std::fs::read_to_string(&srv.config).unwrap(), before);
    let r = a.post(
        "/relay",
        &[
            ("relay.host", "smtp.provider.example"),
            ("relay.port", "465"),
            ("relay.tls", "tls"),
            ("relay.username", "box@provider.example"),
            ("relay.password", "s3cret <pass>"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let after = std::fs::read_to_string(&srv.config).unwrap();
    assert!(
        after.contains("host = \"smtp.provider.example\""),
        "{after}"
    );
    assert!(after.contains("port = 465"), "{after}");
    let page = a.get("/relay").body;
    assert!(page.contains("value=\"smtp.provider.example\""), "{page}");
    assert!(!page.contains("s3cret"), "the password is never shown");
    // Spam thresholds and switches.
    let r = a.post(
        "/spam",
        &[
            ("antispam.junk_score", "4.5"),
            ("antispam.reject_score", "12"),
            ("present", "antispam.greylisting"),
            ("antispam.bayes", "true"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let after = std::fs::read_to_string(&srv.config).unwrap();
    assert!(after.contains("junk_score = 4.5"), "{after}");
    assert!(after.contains("greylisting = false"), "{after}");
    let staff = Browser::login(addr, STAFF, PASSWORD);
    assert_eq!(
        staff.post("/spam", &[("antispam.junk_score", "1")]).status,
        403
    );
}

/// The setup code, as the server logs it at every start while unclaimed.
fn setup_code(srv: &Server) -> String {
    let log = srv.log();
    let at = log
        .find("give the setup code ")
        .expect("the setup code in the log")
        + 20;
    log[at..].split_whitespace().next().unwrap().to_string()
}

/// The session cookie a response sets.
fn set_cookie(r: &Resp) -> String {
    r.header("set-cookie")
        .and_then(|v| v.strip_prefix("facteur_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string()
}

/// The CSRF token of a page.
fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    page[at..at + 32].to_string()
}

#[test]
fn an_unclaimed_box_shows_only_the_wizard_and_wrong_codes_are_limited() {
    let srv = Server::start(
        "[limits]\nauth_failures_before_delay = 2\nauth_failures_before_refusal = 5\n",
    );
    let addr = srv.addr("web_plain");
    for path in ["/", "/users", "/login", "/account", "/queue"] {
        let r = request(addr, "GET", path, "", None);
        assert_eq!(
            (r.status, r.header("location")),
            (303, Some("/setup")),
            "{path}"
        );
        assert_security_headers(path, &r);
    }
    let r = request(addr, "GET", "/setup", "", None);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Setup code"));
    let code = setup_code(&srv);
    assert!(srv.dir.path().join("data/setup-code").exists());
    for _ in 0..5 {
        let r = request(addr, "POST", "/setup", "", Some("code=ABCD-EFGH-JKMN"));
        assert_eq!(r.status, 401);
        assert!(r.body.contains("not the setup code"), "{}", r.body);
        assert!(r.header("set-cookie").is_none());
    }
    // Past the limit even the right code is refused, as logins are.
    let r = request(addr, "POST", "/setup", "", Some(&format!("code={code}")));
    assert_eq!(r.status, 401);
    assert!(r.body.contains("Too many wrong codes"), "{}", r.body);
    assert!(r.header("set-cookie").is_none());
}

#[test]
fn the_wizard_checks_each_step_and_applies_the_plan_at_the_end() {
    let srv = Server::start("");
    let addr = srv.addr("web_plain");
    let r = request(
        addr,
        "POST",
        "/setup",
        "",
        Some(&format!("code={}", enc(&setup_code(&srv)))),
    );
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/setup")),
        "{r:?}"
    );
    let cookie = set_cookie(&r);
    let page = request(addr, "GET", "/setup", &cookie, None);
    assert!(page.body.contains("Step 1 of 6"), "{}", page.body);
    let csrf = csrf_of(&page.body);
    let step = |fields: &str| {
        request(
            addr,
            "POST",
            "/setup",
            &cookie,
            Some(&format!("csrf={csrf}&go=next&{fields}")),
        )
    };
    // Without the session's token: refused.
    let r = request(
        addr,
        "POST",
        "/setup",
        &cookie,
        Some("go=next&hostname=mail.shop.example"),
    );
    assert_eq!(r.status, 403);
    // A bad value stays on its step, with the error beside the field.
    let r = step("hostname=not+a+host");
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("Step 1 of 6") && r.body.contains("class=\"error\""),
        "{}",
        r.body
    );
    assert!(step("hostname=mail.shop.example")
        .body
        .contains("Step 2 of 6"));
    assert!(step("domains=shop.example").body.contains("Step 3 of 6"));
    let r = step("admin.address=boss%40shop.example&admin.password=a+fine+long+password&admin.confirm=another");
    assert_eq!(r.status, 400, "passwords differ");
    assert!(step("admin.address=boss%40shop.example&admin.password=a+fine+long+password&admin.confirm=a+fine+long+password")
        .body
        .contains("Step 4 of 6"));
    assert!(step("staff=anna%40shop.example")
        .body
        .contains("Step 5 of 6"));
    let r = step("relay.host=");
    assert!(r.body.contains("Step 6 of 6"), "{}", r.body);
    // Nothing is applied before the last step.
    let (_, users, _) = srv.cli(&["user", "list"], None);
    assert!(!users.contains("boss@shop.example"), "{users}");
    let r = request(
        addr,
        "POST",
        "/setup",
        &cookie,
        Some(&format!("csrf={csrf}&go=apply")),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("DNS records"), "{}", r.body);
    assert!(
        r.body.contains("anna@shop.example"),
        "the generated password shown"
    );
    assert!(!srv.dir.path().join("data/setup-code").exists());
    // Claimed: the wizard is gone, the admin signs in.
    let r = request(addr, "GET", "/setup", "", None);
    assert_eq!(r.header("location"), Some("/"));
    let admin = Browser::login(addr, "boss@shop.example", "a fine long password");
    assert_eq!(admin.get("/users").status, 200);
}

#[test]
fn an_uploaded_certificate_is_presented_by_new_imaps_connections() {
    let (srv, addr) = start("");
    let a = Browser::login(addr, ADMIN, PASSWORD);
    let cert_file = srv.dir.path().join("data/tls/cert.pem");
    let old = std::fs::read_to_string(&cert_file).unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["new.example.test".to_string()]).unwrap();
    let (chain, key) = (made.cert.pem(), made.signing_key.serialize_pem());
    // A key that does not match: refused, the files unchanged.
    let other = rcgen::generate_simple_self_signed(vec!["x.test".to_string()]).unwrap();
    let r = a.post(
        "/tls",
        &[
            ("chain", &chain),
            ("key", &other.signing_key.serialize_pem()),
        ],
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("does not belong"), "{}", r.body);
    assert_eq!(std::fs::read_to_string(&cert_file).unwrap(), old);
    // Up to 1 MiB is read for this page (garbage: refused, not 413);
    // beyond, 413.
    let r = a.post("/tls", &[("chain", &"a".repeat(100 * 1024)), ("key", "x")]);
    assert_eq!(r.status, 400, "{}", r.body);
    let big = format!("csrf={}&chain={}", a.csrf(), "a".repeat(1024 * 1024));
    assert_eq!(a.post_raw("/tls", &big).status, 413);
    assert_eq!(std::fs::read_to_string(&cert_file).unwrap(), old);
    let Some(before) = presented(&srv) else {
        return;
    };
    assert_eq!(before, pem_body(&old));
    let r = a.post("/tls", &[("chain", &chain), ("key", &key)]);
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(presented(&srv).unwrap(), pem_body(&chain));
    let log = srv.log();
    assert!(log.contains("new certificate installed"), "{log}");
    let page = a.get("/tls").body;
    assert!(page.contains("new.example.test"), "{page}");
    // rcgen's default end of validity, on the dashboard too.
    let dash = a.get("/").body;
    assert!(dash.contains("4096-01-01T00:00:00Z"), "{dash}");
}

/// A `[dns]` table that sends every query to the test server at `addr`.
fn dns_config(addr: SocketAddr) -> String {
    format!("[dns]\nnameservers = [\"{addr}\"]\ntimeout = \"2s\"\nattempts = 1\n")
}

/// The (record, verdict) rows of a DNS check page.
fn checks_of(page: &str) -> Vec<(String, String)> {
    page.split("<tr class=\"check\">")
        .skip(1)
        .map(|row| {
            let between = |from: &str| {
                let at = row.find(from).expect(from) + from.len();
                row[at..].split('<').next().unwrap_or_default().to_string()
            };
            (between("<code>"), between("class=\"verdict\">"))
        })
        .collect()
}

#[test]
fn the_dns_page_lists_the_records_and_checks_them_through_our_resolver() {
    use common::dns::{DnsServer, Zone};
    let zone = |mx: &str, dkim: &str| {
        let mut z = Zone::new();
        z.mx("example.test", 10, mx)
            .txt("example.test", "v=spf1 mx -all")
            .txt("ed1._domainkey.example.test", dkim)
            .txt("_dmarc.example.test", "v=DMARC1; p=none")
            .a("mail.example.test", "192.0.2.10")
            .ptr("192.0.2.10", "mail.example.test");
        z
    };
    let dns = DnsServer::start(Zone::new());
    let (srv, addr) = start(&dns_config(dns.addr()));
    let key = facteur::auth::dkim::key::generate(
        &srv.dir.path().join("data"),
        "example.test",
        facteur::auth::dkim::Algorithm::Ed25519Sha256,
        Some("ed1"),
        0,
    )
    .expect("key");
    let dkim = key.record();
    dns.set_zone(zone("mail.example.test", &dkim));

    let a = Browser::login(addr, ADMIN, PASSWORD);
    let list = a.get("/domains").body;
    assert!(
        list.contains("href=\"/domains/dns?domain=example.test\""),
        "{list}"
    );
    let r = a.get("/domains/dns?domain=example.test");
    assert_eq!(r.status, 200, "{}", r.body);
    for shown in [
        "<td>MX</td>",
        "10 mail.example.test.",
        "v=spf1 mx -all",
        "ed1._domainkey.example.test",
        "v=DKIM1; k=ed25519",
        "_dmarc.example.test",
        "<td>SRV</td>",
        "_imaps._tcp.example.test",
        "_submissions._tcp.example.test",
        "autoconfig.example.test",
    ] {
        assert!(r.body.contains(shown), "{shown} missing: {}", r.body);
    }
    assert!(checks_of(&r.body).is_empty(), "no check before asked");

    let r = a.get("/domains/dns?domain=example.test&check=1");
    assert_eq!(r.status, 200, "{}", r.body);
    let rows = checks_of(&r.body);
    let verdict = |rows: &[(String, String)], record: &str| {
        rows.iter()
            .find(|(r, _)| r == record)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{record} not checked: {rows:?}"))
    };
    for record in [
        "MX example.test",
        "SPF example.test",
        "DKIM ed1._domainkey.example.test",
        "DMARC _dmarc.example.test",
        "PTR 192.0.2.10",
    ] {
        assert_eq!(verdict(&rows, record), "ok", "{record}: {}", r.body);
    }

    // DNS changes: the next check sees it (nothing cached across checks).
    dns.set_zone(zone("mx.elsewhere.test", "v=DKIM1; k=ed25519; p=b2xk"));
    let r = a.get("/domains/dns?domain=example.test&check=1");
    let rows = checks_of(&r.body);
    assert_eq!(verdict(&rows, "MX example.test"), "WRONG", "{}", r.body);
    assert_eq!(verdict(&rows, "DKIM ed1._domainkey.example.test"), "WRONG");
    assert_eq!(verdict(&rows, "SPF example.test"), "ok");
    assert!(r.body.contains("10 mx.elsewhere.test."), "{}", r.body);

    assert_eq!(a.get("/domains/dns?domain=other.test").status, 404);
    let staff = Browser::login(addr, STAFF, PASSWORD);
    assert_eq!(staff.get("/domains/dns?domain=example.test").status, 403);
}

/// A STARTTLS relay `relay.example.test` that wants the login office /
/// s3cret-relay-pw, the DNS server that names it, and its CA file.
fn test_relay() -> (
    common::dns::DnsServer,
    common::smtp_peer::SmtpPeer,
    std::path::PathBuf,
    common::server::TempDir,
) {
    let mut zone = common::dns::Zone::new();
    zone.a("relay.example.test", "127.0.0.1");
    let dns = common::dns::DnsServer::start(zone);
    let ca_dir = common::server::TempDir::new("relayca");
    let (peer, ca) = common::smtp_peer::login_relay(
        ca_dir.path(),
        "relay.example.test",
        "office",
        "s3cret-relay-pw",
    );
    (dns, peer, ca, ca_dir)
}

#[test]
fn the_relay_test_button_shows_the_conversation_without_the_password() {
    let (dns, peer, ca, _ca_dir) = test_relay();
    let (_srv, addr) = start(&format!(
        "{}[relay]\nhost = \"relay.example.test\"\nport = {}\ntls = \"starttls\"\n\
         username = \"office\"\npassword = \"s3cret-relay-pw\"\nca_file = \"{}\"\n",
        dns_config(dns.addr()),
        peer.addr().port(),
        ca.display()
    ));
    let a = Browser::login(addr, ADMIN, PASSWORD);
    let page = a.get("/relay").body;
    assert!(page.contains("action=\"/relay/test\""), "{page}");

    let r = a.post("/relay/test", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    for shown in [
        "S: 220 ",
        "C: STARTTLS",
        "-- TLS established",
        "C: AUTH PLAIN (credentials of office)",
        "S: 235",
        "The relay works.",
    ] {
        assert!(r.body.contains(shown), "{shown} missing: {}", r.body);
    }
    assert!(!r.body.contains("s3cret"), "{}", r.body);

    // A wrong password saved from the form: the test says so, and does
    // not show it either.
    let r = a.post("/relay", &[("relay.password", "wrong-relay-pw")]);
    assert_eq!(r.status, 303, "{}", r.body);
    let r = a.post("/relay/test", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("S: 535"), "{}", r.body);
    assert!(r.body.contains("The relay test failed."), "{}", r.body);
    assert!(!r.body.contains("wrong-relay-pw"), "{}", r.body);
    assert!(peer.accepted().is_empty(), "no mail was sent");
    // A check with no token is refused like every POST.
    assert_eq!(a.post_raw("/relay/test", "").status, 403);
}

/// The samples of a Prometheus text exposition (format 0.0.4), checked
/// against its grammar: every sample follows the `# TYPE` of its family
/// (counter or gauge), each family is typed once, names are well formed,
/// values are numbers. Keyed by `name{labels}` as written.
fn prometheus_samples(text: &str) -> std::collections::HashMap<String, f64> {
    let name_ok = |n: &str| {
        !n.is_empty()
            && !n.starts_with(|c: char| c.is_ascii_digit())
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut typed: Vec<String> = Vec::new();
    let mut out = std::collections::HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect(line);
            assert!(name_ok(name) && !typed.iter().any(|t| t == name), "{line}");
            assert!(matches!(kind, "counter" | "gauge"), "{line}");
            typed.push(name.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            assert!(name_ok(rest.split(' ').next().unwrap_or("")), "{line}");
            continue;
        }
        let (key, value) = line.rsplit_once(' ').expect(line);
        let name = key.split('{').next().unwrap_or("");
        assert_eq!(typed.last().map(String::as_str), Some(name), "{line}");
        if let Some(labels) = key.strip_prefix(name).filter(|l| !l.is_empty()) {
            let inner = labels.strip_prefix('{').and_then(|l| l.strip_suffix('}'));
            for pair in inner.expect(line).split("\",") {
                let (k, v) = pair.split_once("=\"").expect(line);
                assert!(name_ok(k) && !v.contains('\n'), "{line}");
            }
        }
        let value: f64 = value.parse().expect(line);
        assert!(
            !name.ends_with("_total") || value >= 0.0,
            "a counter below zero: {line}"
        );
        out.insert(key.to_string(), value);
    }
    out
}

#[test]
fn metrics_parse_as_prometheus_text_and_move_as_mail_flows() {
    let (srv, addr) = start("[tls]\nallow_plaintext_auth = true\n");
    let before = request(addr, "GET", "/metrics", "", None);
    assert_eq!(before.status, 200, "{before:?}");
    assert_eq!(
        before.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_security_headers("/metrics", &before);
    let m0 = prometheus_samples(&before.body);
    for key in [
        "facteur_messages_received_total",
        "facteur_messages_delivered_total",
        "facteur_messages_junked_total",
        "facteur_messages_sent_total",
        "facteur_messages_deferred_total",
        "facteur_messages_bounced_total",
        "facteur_refused_total{reason=\"recipient\"}",
        "facteur_logins_total{service=\"imap\"}",
        "facteur_logins_failed_total{service=\"web_plain\"}",
        "facteur_connections{service=\"smtp\"}",
        "facteur_queue_length",
        "facteur_resident_memory_bytes",
        "facteur_data_dir_free_bytes",
        "facteur_certificate_expiry_seconds",
    ] {
        assert!(m0.contains_key(key), "no {key} in\n{}", before.body);
    }
    // This request is one open web connection.
    assert!(m0["facteur_connections{service=\"web_plain\"}"] >= 1.0);
    assert!(m0["facteur_resident_memory_bytes"] > 1e6);

    // Mail flows: one message in, one unknown recipient, one wrong login.
    let smtp = srv.addr("smtp");
    let r = common::server::smtp_send(
        smtp,
        "someone@elsewhere.test",
        &[STAFF],
        "Subject: counted\r\n\r\nHello\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    let r = common::server::smtp_send(smtp, "someone@elsewhere.test", &["nobody@example.test"], "");
    assert!(r.starts_with("550"), "{r}");
    let mut imap = Lines::connect(srv.addr("imap"));
    imap.line();
    imap.cmd(&format!("a LOGIN {STAFF} wrong"));
    assert!(imap.line().starts_with("a NO"));
    imap.cmd(&format!("b LOGIN {STAFF} \"{PASSWORD}\""));
    assert!(imap.line().starts_with("b OK"));
    let r = request(
        addr,
        "POST",
        "/login",
        "",
        Some("username=x%40example.test&password=bad"),
    );
    assert_eq!(r.status, 401, "a failed web login");

    let m1 = prometheus_samples(&request(addr, "GET", "/metrics", "", None).body);
    let moved = |key: &str| m1[key] - m0[key];
    assert_eq!(moved("facteur_messages_received_total"), 1.0);
    assert_eq!(moved("facteur_messages_delivered_total"), 1.0);
    assert_eq!(moved("facteur_refused_total{reason=\"recipient\"}"), 1.0);
    assert_eq!(moved("facteur_logins_failed_total{service=\"imap\"}"), 1.0);
    assert_eq!(moved("facteur_logins_total{service=\"imap\"}"), 1.0);
    assert_eq!(
        moved("facteur_logins_failed_total{service=\"web_plain\"}"),
        1.0
    );
    assert_eq!(
        m1["facteur_connections{service=\"imap\"}"], 1.0,
        "the open IMAP session"
    );

    // `facteur status` says the same in words, with the certificate's
    // expiry as the dashboard shows it.
    let (ok, out, err) = srv.cli(&["status"], None);
    assert!(ok, "{out} {err}");
    assert!(out.contains("Failed logins (service imap): 1\n"), "{out}");
    assert!(out.contains("Messages accepted over SMTP: 1\n"), "{out}");
    let expiry = out
        .lines()
        .find_map(|l| l.strip_prefix("certificate expires: "))
        .expect(&out);
    assert!(expiry.ends_with('Z'), "{out}");
    let admin = Browser::login(addr, ADMIN, PASSWORD);
    assert!(admin.get("/").body.contains(expiry), "the dashboard's date");
    drop(imap);
}

#[test]
fn metrics_off_loopback_need_the_token() {
    let (_srv, addr) = start("");
    // A reverse proxy on loopback forwards clients from anywhere.
    let r = send(
        addr,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 403, "no token configured: never open");
    assert!(!r.body.contains("facteur_"));
    assert_security_headers("/metrics", &r);
    let r = request(addr, "POST", "/metrics", "", Some("x=1"));
    assert_eq!(r.status, 405);
}

#[test]
fn the_wizard_tests_the_relay_typed_in_its_step() {
    let (dns, peer, ca, _ca_dir) = test_relay();
    // The relay's private CA is trusted by the server's config, as a box
    // behind a provider with its own CA would be set up.
    let srv = Server::start(&format!(
        "{}[relay]\nca_file = \"{}\"\n",
        dns_config(dns.addr()),
        ca.display()
    ));
    let addr = srv.addr("web_plain");
    let r = request(
        addr,
        "POST",
        "/setup",
        "",
        Some(&format!("code={}", enc(&setup_code(&srv)))),
    );
    let cookie = set_cookie(&r);
    let csrf = csrf_of(&request(addr, "GET", "/setup", &cookie, None).body);
    let post = |fields: &str| {
        request(
            addr,
            "POST",
            "/setup",
            &cookie,
            Some(&format!("csrf={csrf}&{fields}")),
        )
    };
    post("go=next&hostname=mail.example.test");
    post("go=next&domains=example.test");
    post("go=next&admin.address=boss%40example.test&admin.password=a+fine+long+password&admin.confirm=a+fine+long+password");
    let r = post("go=next&staff=");
    assert!(r.body.contains("Step 5 of 6"), "{}", r.body);
    assert!(
        r.body.contains("value=\"test\""),
        "a test button: {}",
        r.body
    );
    let relay = format!(
        "relay.host=relay.example.test&relay.port={}&relay.tls=starttls&relay.username=office",
        peer.addr().port()
    );
    let r = post(&format!("go=test&{relay}&relay.password=s3cret-relay-pw"));
    assert_eq!(r.status, 200, "{}", r.body);
    for shown in [
        "C: STARTTLS",
        "-- TLS established",
        "S: 235",
        "The relay works.",
    ] {
        assert!(r.body.contains(shown), "{shown} missing: {}", r.body);
    }
    assert!(r.body.contains("Step 5 of 6"), "the test stays on its step");
    assert!(!r.body.contains("s3cret"), "{}", r.body);
    // The password typed before the test is kept for the next step.
    let r = post(&format!("go=test&{relay}&relay.password="));
    assert!(r.body.contains("The relay works."), "{}", r.body);
    let r = post(&format!("go=test&{relay}&relay.password=wrong-pw"));
    assert!(r.body.contains("S: 535") && r.body.contains("The relay test failed."));
    // No host: nothing to test, said beside the field.
    let r = post("go=test&relay.host=");
    assert_eq!(r.status, 400);
    assert!(r.body.contains("host name to test"), "{}", r.body);
    assert!(peer.accepted().is_empty(), "no mail was sent");
}

#[test]
fn the_dashboard_follows_a_listener_moved_by_reload() {
    let (srv, addr) = start("");
    let admin = Browser::login(addr, ADMIN, PASSWORD);
    let cell = |a: &str| format!("<td>{a}</td>");
    let old = srv.addr("pop3").to_string();
    assert!(admin.get("/").body.contains(&cell(&old)));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let new = format!("127.0.0.1:{port}");
    let (ok, out, err) = srv.cli(&["config", "set", "listen.pop3", &new], None);
    assert!(ok, "{out} {err}");
    assert!(out.contains(&format!("pop3 listening on {new}")), "{out}");
    let dash = admin.get("/").body;
    assert!(dash.contains(&cell(&new)), "{dash}");
    assert!(!dash.contains(&cell(&old)), "{dash}");
    let (ok, status, _) = srv.cli(&["status"], None);
    assert!(ok);
    assert!(
        status.contains(&format!("service pop3: up on {new}\n")),
        "{status}"
    );
}

#[test]
fn the_users_page_sets_a_quota_or_says_why_not_beside_the_field() {
    let (_srv, addr) = start("");
    let a = Browser::login(addr, ADMIN, PASSWORD);
    let r = a.post(
        "/users",
        &[("action", "quota"), ("address", STAFF), ("quota", "lots")],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    // The error is in the row of that user, beside its quota field.
    let row = r
        .body
        .split("<tr>")
        .find(|row| row.contains(&format!("<td>{STAFF}</td>")))
        .expect("the user's row");
    assert!(
        row.contains("class=\"error\"") && row.contains("not a size"),
        "{row}"
    );
    assert!(!a.get("/users").body.contains(" of 5.0 MiB"));
    let r = a.post(
        "/users",
        &[("action", "quota"), ("address", STAFF), ("quota", "5 MiB")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let page = a.get("/users").body;
    assert!(
        page.contains("the quota of anna@example.test is 5 MiB"),
        "{page}"
    );
    assert!(page.contains(" of 5.0 MiB"), "{page}");
    let r = a.post(
        "/users",
        &[
            ("action", "quota"),
            ("address", "ghost@example.test"),
            ("quota", "1 MiB"),
        ],
    );
    assert_eq!(r.status, 400, "an unknown user: {}", r.body);
    // Empty: back to the default (unlimited here).
    let r = a.post(
        "/users",
        &[("action", "quota"), ("address", STAFF), ("quota", "")],
    );
    assert_eq!(r.status, 303);
    assert!(!a.get("/users").body.contains(" of 5.0 MiB"));
}

#[test]
fn the_spam_page_shows_what_each_users_filter_learned() {
    let (mut srv, _) = start("");
    assert!(srv.stop(), "the training command needs the server stopped");
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus/ham");
    let mut names: Vec<_> = std::fs::read_dir(corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let ham = srv.dir.path().join("ham");
    std::fs::create_dir(&ham).unwrap();
    let files = 3;
    for p in names.iter().take(files) {
        std::fs::copy(p, ham.join(p.file_name().unwrap())).unwrap();
    }
    let (ok, out, err) = common::server::cli(
        &srv.config,
        &["spam", "train", "--ham", &ham.display().to_string(), STAFF],
        None,
    );
    assert!(ok, "{out} {err}");
    let srv = srv.restart();
    let a = Browser::login(srv.addr("web_plain"), ADMIN, PASSWORD);
    let page = a.get("/spam").body;
    let row = |who: &str| {
        page.split("<tr>")
            .find(|r| r.contains(&format!("<td>{who}</td>")))
            .unwrap_or_else(|| panic!("no row of {who}: {page}"))
            .to_string()
    };
    let anna = row(STAFF);
    assert!(
        anna.contains(&format!("<td>0</td><td>{files}</td>")),
        "{files} learned as good: {anna}"
    );
    assert!(
        !anna.contains("<td>0</td></tr>") && !anna.ends_with("<td>0</td>"),
        "words: {anna}"
    );
    assert!(
        row(ADMIN).contains("<td>0</td><td>0</td><td>0</td>"),
        "{page}"
    );
    assert!(row("Shared (everyone)").contains(&format!("<td>{files}</td>")));
}

/// Sends a keep-alive request on `s` and reads its response head.
fn keep_alive_get(s: &mut TcpStream, path: &str) -> String {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && s.read(&mut b).unwrap_or(0) == 1 {
        head.push(b[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

#[test]
fn the_web_listener_counts_in_the_connection_limits() {
    let (_srv, addr) = start("[limits]\nmax_connections_per_ip = 2\n");
    let mut a = TcpStream::connect(addr).unwrap();
    let mut b = TcpStream::connect(addr).unwrap();
    assert!(keep_alive_get(&mut a, "/style.css").starts_with("HTTP/1.1 200"));
    assert!(keep_alive_get(&mut b, "/style.css").starts_with("HTTP/1.1 200"));
    // Both held open: a third from the same address is turned away.
    let r = request(addr, "GET", "/style.css", "", None);
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.header("retry-after").is_some());
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = request(addr, "GET", "/style.css", "", None);
        if r.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the slot was never given back");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(b);
}
