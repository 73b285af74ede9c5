//! The console's menus: keys in, screen text out, and calls to the admin
//! engine. No I/O and no clock: the adapter ([`super::tty`]) passes the
//! bytes read and `now`, writes what comes back, and carries out the
//! engine's calls ([`Engine`]). Every rule (who may log in, what a good
//! password is, what a plan needs) is the engine's; the console only asks
//! and shows.
//!
//! Line-oriented, for an 80×24 dumb terminal: numbered choices, no cursor
//! addressing, ASCII unless the terminal speaks UTF-8.

use super::editor::{Editor, Key, MAX_LINE};
use crate::admin::Request;
use crate::setup::plan::{Account, Plan, Relay, Staff};
use std::time::{Duration, Instant};

/// Log lines shown: they fit a 24-line screen with the menu's prompt.
const LOG_LINES: u32 = 20;

/// What the console asks of the box.
pub trait Engine {
    /// Carries out an admin request (through the running server, or on
    /// the store when none runs).
    fn call(&mut self, req: Request) -> Result<Vec<String>, String>;
    /// Whether the server runs.
    fn running(&mut self) -> bool;
    /// Starts the server; lines to show.
    fn start(&mut self) -> Result<Vec<String>, String>;
    /// The DNS records to publish for `domain`, as zone file lines.
    fn dns_records(&mut self, domain: &str) -> Result<Vec<String>, String>;
}

/// The console's settings (`[console]` and the terminal).
#[derive(Debug, Clone)]
pub struct Settings {
    /// "reset an admin password" without a login.
    pub allow_reset: bool,
    /// A session with no key this long is logged out.
    pub idle_timeout: Duration,
    /// The terminal speaks UTF-8.
    pub utf8: bool,
}

/// A menu of choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Menu {
    Top,
    Users,
    Aliases,
    Domains,
    Queue,
}

/// A question with several answers, asked one line at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Login,
    ResetAdmin,
    Wizard,
    UserAdd,
    UserRemove,
    UserPasswd,
    AliasAdd,
    AliasRemove,
    DomainAdd,
    DomainRemove,
    DnsRecords,
    QueueRetry,
}

/// What a numbered choice does.
#[derive(Debug, Clone, PartialEq)]
enum Choice {
    Status,
    Start,
    Open(Menu),
    Ask(Form),
    /// A request whose answer is shown as it is.
    Show(Box<Request>),
    Back,
    Logout,
    Quit,
}

/// One line of a form.
struct Field {
    prompt: &'static str,
    hidden: bool,
    /// The same answer as that field's (a password typed again).
    again_of: Option<usize>,
    /// Not asked when that field's answer is empty.
    needs: Option<usize>,
}

const fn ask(prompt: &'static str) -> Field {
    Field {
        prompt,
        hidden: false,
        again_of: None,
        needs: None,
    }
}

const fn secret(prompt: &'static str) -> Field {
    Field {
        prompt,
        hidden: true,
        again_of: None,
        needs: None,
    }
}

/// A password typed a second time, unless the first was empty.
const fn again(of: usize) -> Field {
    Field {
        prompt: "the password again",
        hidden: true,
        again_of: Some(of),
        needs: Some(of),
    }
}

/// A field asked only when field `needs` was answered.
const fn given(needs: usize, field: Field) -> Field {
    Field {
        needs: Some(needs),
        ..field
    }
}

const NEW_PASSWORD: &str = "password (empty: one is made and shown)";

const LOGIN: &[Field] = &[ask("admin address"), secret("password")];
const RESET_ADMIN: &[Field] = &[ask("admin address"), secret(NEW_PASSWORD), again(1)];
const WIZARD: &[Field] = &[
    ask("host name of this box (e.g. mail.example.com)"),
    ask("mail domains, separated by commas"),
    ask("admin address"),
    secret("admin password (at least 10 characters)"),
    again(3),
    ask("staff addresses, separated by commas (empty: none; passwords are made)"),
    ask("smarthost for outbound mail, HOST or HOST:PORT (empty: none)"),
    given(6, ask("smarthost user name (empty: no login)")),
    given(7, secret("smarthost password")),
    ask("set up the box now? (yes/no)"),
];
const USER_PASSWORD: &[Field] = &[ask("address"), secret(NEW_PASSWORD), again(1)];
const USER_REMOVE: &[Field] = &[
    ask("address"),
    ask("type yes to delete the user and their mail"),
];
const ALIAS_ADD: &[Field] = &[
    ask("alias (name@domain, or @domain for every other name)"),
    ask("deliver to (addresses separated by commas)"),
];
const ALIAS: &[Field] = &[ask("alias")];
const DOMAIN: &[Field] = &[ask("domain")];
const DOMAIN_REMOVE: &[Field] = &[ask("domain (it must have no users or aliases)")];
const QUEUE_RETRY: &[Field] = &[ask("queue entry number, or all")];

fn fields(form: Form) -> &'static [Field] {
    match form {
        Form::Login => LOGIN,
        Form::ResetAdmin => RESET_ADMIN,
        Form::Wizard => WIZARD,
        Form::UserAdd | Form::UserPasswd => USER_PASSWORD,
        Form::UserRemove => USER_REMOVE,
        Form::AliasAdd => ALIAS_ADD,
        Form::AliasRemove => ALIAS,
        Form::DomainAdd | Form::DnsRecords => DOMAIN,
        Form::DomainRemove => DOMAIN_REMOVE,
        Form::QueueRetry => QUEUE_RETRY,
    }
}

/// Where the session is.
#[derive(Debug)]
enum Screen {
    /// Waiting for a choice among `items`.
    Menu(Menu),
    /// Asking a form's fields; `answers` so far.
    Form { form: Form, answers: Vec<String> },
}

/// One console session.
pub struct Console {
    settings: Settings,
    editor: Editor,
    screen: Screen,
    /// The choices of the menu last drawn, numbered from 1 (0 last).
    items: Vec<(String, Choice)>,
    /// The admin logged in, if any.
    admin: Option<String>,
    last_key: Instant,
    ended: bool,
    out: Vec<u8>,
}

impl Console {
    /// A new session, started at `now`.
    pub fn new(settings: Settings, now: Instant) -> Console {
        Console {
            editor: Editor::new(settings.utf8),
            settings,
            screen: Screen::Menu(Menu::Top),
            items: Vec::new(),
            admin: None,
            last_key: now,
            ended: false,
            out: Vec::new(),
        }
    }

    /// The greeting and the first menu.
    pub fn start(&mut self, engine: &mut dyn Engine) -> Vec<u8> {
        self.say("facteur console: type a choice's number and Enter; Ctrl-C cancels a question.");
        self.draw_menu(Menu::Top, engine);
        std::mem::take(&mut self.out)
    }

    /// Whether the session is over (quit).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// When [`Console::tick`] has something to do.
    pub fn deadline(&self) -> Instant {
        self.last_key + self.settings.idle_timeout
    }

    /// Bytes typed at `now`; returns what to write back.
    pub fn input(&mut self, bytes: &[u8], now: Instant, engine: &mut dyn Engine) -> Vec<u8> {
        self.last_key = now;
        for &b in bytes {
            if self.ended {
                break;
            }
            let mut echo = Vec::new();
            let key = self.editor.push(b, &mut echo);
            self.out.extend_from_slice(&echo);
            if let Some(key) = key {
                self.key(key, engine);
            }
        }
        std::mem::take(&mut self.out)
    }

    /// Time passes: an idle session is logged out.
    pub fn tick(&mut self, now: Instant, engine: &mut dyn Engine) -> Vec<u8> {
        if now < self.deadline() || self.ended {
            return Vec::new();
        }
        self.last_key = now;
        let busy = self.admin.is_some() || !matches!(self.screen, Screen::Menu(Menu::Top));
        if busy {
            self.admin = None;
            self.editor.clear();
            self.say("");
            self.say(&format!(
                "no key for {}: logged out",
                minutes(self.settings.idle_timeout)
            ));
            self.draw_menu(Menu::Top, engine);
        }
        std::mem::take(&mut self.out)
    }

    fn key(&mut self, key: Key, engine: &mut dyn Engine) {
        let line = match key {
            Key::Line(l) => l,
            Key::TooLong => {
                self.say(&format!(
                    "line too long (at most {MAX_LINE} characters): refused"
                ));
                return self.prompt_again(engine);
            }
            Key::Garbage => {
                self.say(if self.settings.utf8 {
                    "unreadable characters (line noise?): refused"
                } else {
                    "only ASCII characters here (line noise?): refused"
                });
                return self.prompt_again(engine);
            }
            Key::Cancel | Key::End => {
                if let Screen::Form { .. } = self.screen {
                    self.say("cancelled");
                }
                let menu = self.menu();
                return self.draw_menu(menu, engine);
            }
        };
        match std::mem::replace(&mut self.screen, Screen::Menu(Menu::Top)) {
            Screen::Menu(menu) => {
                self.screen = Screen::Menu(menu);
                self.choose(menu, line.trim(), engine);
            }
            Screen::Form { form, mut answers } => {
                answers.push(line);
                let i = answers.len() - 1;
                if let Some(of) = fields(form)[i].again_of {
                    if answers[i] != answers[of] {
                        self.say("the two passwords differ: type them again");
                        answers.truncate(of);
                    }
                }
                self.next_field(form, answers, engine);
            }
        }
    }

    /// The menu the session returns to.
    fn menu(&self) -> Menu {
        match &self.screen {
            Screen::Menu(m) => *m,
            Screen::Form { form, .. } => home(*form),
        }
    }

    /// Asks the current question again, or draws the menu again.
    fn prompt_again(&mut self, engine: &mut dyn Engine) {
        match &self.screen {
            Screen::Menu(m) => {
                let m = *m;
                self.draw_menu(m, engine)
            }
            Screen::Form { form, answers } => {
                let field = &fields(*form)[answers.len()];
                self.prompt(field);
            }
        }
    }

    fn choose(&mut self, menu: Menu, typed: &str, engine: &mut dyn Engine) {
        if typed.is_empty() {
            return self.draw_menu(menu, engine);
        }
        let n = typed.parse::<usize>().ok();
        let choice = match n {
            Some(0) => self.items.last().map(|(_, c)| c.clone()),
            Some(n) if n < self.items.len() => self.items.get(n - 1).map(|(_, c)| c.clone()),
            _ => None,
        };
        let Some(choice) = choice else {
            self.say(&format!("no choice {typed:?}"));
            return self.draw_menu(menu, engine);
        };
        match choice {
            Choice::Status => {
                self.say("");
                match engine.call(Request::SetupInfo) {
                    Ok(lines) => self.lines(&lines),
                    Err(e) => self.say(&e),
                }
                self.answer(engine.call(Request::Status));
                self.draw_menu(menu, engine);
            }
            Choice::Start => {
                self.say("starting the server...");
                self.answer(engine.start());
                self.draw_menu(Menu::Top, engine);
            }
            Choice::Open(m) => self.draw_menu(m, engine),
            Choice::Ask(form) => self.next_field(form, Vec::new(), engine),
            Choice::Show(req) => {
                self.say("");
                self.answer(engine.call(*req));
                self.draw_menu(menu, engine);
            }
            Choice::Back => self.draw_menu(Menu::Top, engine),
            Choice::Logout => {
                self.admin = None;
                self.say("logged out");
                self.draw_menu(Menu::Top, engine);
            }
            Choice::Quit => {
                self.say("bye");
                self.ended = true;
            }
        }
    }

    /// Asks the next field of `form`, or carries it out once all are in.
    fn next_field(&mut self, form: Form, mut answers: Vec<String>, engine: &mut dyn Engine) {
        let all = fields(form);
        loop {
            let Some(field) = all.get(answers.len()) else {
                self.editor.hidden = false;
                return self.finish(form, answers, engine);
            };
            if field.needs.is_some_and(|i| answers[i].trim().is_empty()) {
                answers.push(String::new());
                continue;
            }
            self.prompt(field);
            self.screen = Screen::Form { form, answers };
            return;
        }
    }

    fn prompt(&mut self, field: &Field) {
        self.editor.hidden = field.hidden;
        self.put(&format!("{}: ", field.prompt));
    }

    /// All of `form` is answered: calls the engine.
    fn finish(&mut self, form: Form, answers: Vec<String>, engine: &mut dyn Engine) {
        let a = |i: usize| answers[i].trim().to_string();
        let password = |i: usize| Some(answers[i].clone()).filter(|p| !p.is_empty());
        let req = match form {
            Form::Login => {
                let address = a(0);
                match engine.call(Request::AdminLogin {
                    address: address.clone(),
                    password: answers[1].clone(),
                }) {
                    Ok(lines) => {
                        self.lines(&lines);
                        self.admin = Some(address);
                    }
                    Err(e) => self.say(&e),
                }
                return self.draw_menu(Menu::Top, engine);
            }
            Form::ResetAdmin => Request::AdminPasswd {
                address: a(0),
                password: password(1),
            },
            Form::Wizard => {
                if !a(9).eq_ignore_ascii_case("yes") {
                    self.say("nothing was changed");
                    return self.draw_menu(Menu::Top, engine);
                }
                Request::SetupApply(plan(&answers))
            }
            Form::UserAdd => Request::UserAdd {
                address: a(0),
                password: password(1),
                admin: false,
            },
            Form::UserRemove => {
                if a(1) != "yes" {
                    self.say("nothing was removed");
                    return self.draw_menu(Menu::Users, engine);
                }
                Request::UserRemove(a(0))
            }
            Form::UserPasswd => Request::UserPasswd {
                address: a(0),
                password: password(1),
            },
            Form::AliasAdd => Request::AliasAdd {
                alias: a(0),
                targets: list(&answers[1]),
            },
            Form::AliasRemove => Request::AliasRemove(a(0)),
            Form::DomainAdd => Request::DomainAdd(a(0)),
            Form::DomainRemove => Request::DomainRemove(a(0)),
            Form::DnsRecords => {
                self.answer(engine.dns_records(&a(0)));
                return self.draw_menu(Menu::Top, engine);
            }
            Form::QueueRetry => match a(0).as_str() {
                "all" => Request::QueueRetryAll,
                id => match id.parse() {
                    Ok(id) => Request::QueueRetry(id),
                    Err(_) => {
                        self.say(&format!("{id:?} is not a queue entry number"));
                        return self.draw_menu(Menu::Queue, engine);
                    }
                },
            },
        };
        let wizard = form == Form::Wizard;
        let res = engine.call(req);
        let done = res.is_ok();
        self.answer(res);
        if wizard && done && !engine.running() {
            self.say("choose \"start the server\" to serve mail");
        }
        self.draw_menu(home(form), engine);
    }

    /// Draws `menu` with the choices that fit the box's state, and makes
    /// it the current screen.
    fn draw_menu(&mut self, menu: Menu, engine: &mut dyn Engine) {
        self.editor.hidden = false;
        self.screen = Screen::Menu(menu);
        let items = self.choices(menu, engine);
        for (i, (label, _)) in items.iter().enumerate() {
            let n = if i + 1 == items.len() { 0 } else { i + 1 };
            self.say(&format!("{n:>2}  {label}"));
        }
        self.put("choice: ");
        self.items = items;
    }

    fn choices(&mut self, menu: Menu, engine: &mut dyn Engine) -> Vec<(String, Choice)> {
        let item = |label: &str, c: Choice| (label.to_string(), c);
        let show = |label: &str, r: Request| item(label, Choice::Show(Box::new(r)));
        let mut items = match menu {
            Menu::Top => return self.top(engine),
            Menu::Users => vec![
                show("list", Request::UserList),
                item("add", Choice::Ask(Form::UserAdd)),
                item("remove", Choice::Ask(Form::UserRemove)),
                item("reset a password", Choice::Ask(Form::UserPasswd)),
            ],
            Menu::Aliases => vec![
                show("list", Request::AliasList),
                item("add", Choice::Ask(Form::AliasAdd)),
                item("remove", Choice::Ask(Form::AliasRemove)),
            ],
            Menu::Domains => vec![
                show("list", Request::DomainList),
                item("add", Choice::Ask(Form::DomainAdd)),
                item("remove", Choice::Ask(Form::DomainRemove)),
            ],
            Menu::Queue => vec![
                show("list", Request::QueueList),
                item("retry", Choice::Ask(Form::QueueRetry)),
            ],
        };
        items.push(item("back", Choice::Back));
        self.say("");
        self.say(&format!("== {}", menu_title(menu)));
        items
    }

    /// The top menu: what the box's state allows.
    fn top(&mut self, engine: &mut dyn Engine) -> Vec<(String, Choice)> {
        let item = |label: &str, c: Choice| (label.to_string(), c);
        let running = engine.running();
        // Unknown (an error) counts as claimed: a login is asked.
        let claimed = engine
            .call(Request::ClaimState)
            .map_or(true, |l| l.first().map(String::as_str) != Some("unclaimed"));
        let reset = self.settings.allow_reset && claimed;
        let mut items = Vec::new();
        self.say("");
        // Without a server, or before a login: the few choices that work.
        let first = match (running, claimed && self.admin.is_none()) {
            (false, _) => Some((
                "the server is not running",
                item("start the server", Choice::Start),
            )),
            (true, true) => Some((
                "log in as an admin",
                item("log in", Choice::Ask(Form::Login)),
            )),
            (true, false) => None,
        };
        if let Some((title, first)) = first {
            self.say(&format!("== facteur: {title}"));
            if !claimed {
                items.push(item("first-boot setup", Choice::Ask(Form::Wizard)));
            }
            items.push(first);
            if reset {
                items.push(item(
                    "reset an admin password",
                    Choice::Ask(Form::ResetAdmin),
                ));
            }
            items.push(item("quit", Choice::Quit));
            return items;
        }
        match &self.admin {
            Some(a) => self.say(&format!("== facteur: {a}")),
            None => self.say("== facteur: a new box, not set up yet"),
        }
        items.push(item("status", Choice::Status));
        if !claimed {
            items.push(item("first-boot setup", Choice::Ask(Form::Wizard)));
        }
        items.extend([
            item("users", Choice::Open(Menu::Users)),
            item("aliases", Choice::Open(Menu::Aliases)),
            item("domains", Choice::Open(Menu::Domains)),
            item("DNS records to publish", Choice::Ask(Form::DnsRecords)),
            item("queue", Choice::Open(Menu::Queue)),
            item("reload the config", Choice::Show(Box::new(Request::Reload))),
            item(
                "last log lines",
                Choice::Show(Box::new(Request::LogTail(LOG_LINES))),
            ),
        ]);
        items.push(match self.admin {
            Some(_) => item("log out", Choice::Logout),
            None => item("quit", Choice::Quit),
        });
        items
    }

    /// An engine's answer: its lines, or its error.
    fn answer(&mut self, res: Result<Vec<String>, String>) {
        match res {
            Ok(lines) if lines.is_empty() => self.say("done"),
            Ok(lines) => self.lines(&lines),
            Err(e) => self.say(&format!("error: {e}")),
        }
    }

    fn lines(&mut self, lines: &[String]) {
        for l in lines {
            for part in l.lines() {
                self.say(part);
            }
        }
    }

    /// A line of text, then a new line.
    fn say(&mut self, text: &str) {
        self.put(text);
        self.out.extend_from_slice(b"\r\n");
    }

    /// Text for the terminal: control characters (an escape sequence in a
    /// logged HELO, say) are shown as `?`, and so is anything but ASCII on
    /// a terminal that does not speak UTF-8.
    fn put(&mut self, text: &str) {
        for c in text.chars() {
            let shown = if c.is_control() || (!self.settings.utf8 && !c.is_ascii()) {
                '?'
            } else {
                c
            };
            let mut buf = [0u8; 4];
            self.out
                .extend_from_slice(shown.encode_utf8(&mut buf).as_bytes());
        }
    }
}

/// The menu a form returns to.
fn home(form: Form) -> Menu {
    match form {
        Form::UserAdd | Form::UserRemove | Form::UserPasswd => Menu::Users,
        Form::AliasAdd | Form::AliasRemove => Menu::Aliases,
        Form::DomainAdd | Form::DomainRemove => Menu::Domains,
        Form::QueueRetry => Menu::Queue,
        Form::Login | Form::ResetAdmin | Form::Wizard | Form::DnsRecords => Menu::Top,
    }
}

fn menu_title(menu: Menu) -> &'static str {
    match menu {
        Menu::Top | Menu::Users => "users",
        Menu::Aliases => "aliases",
        Menu::Domains => "domains",
        Menu::Queue => "outbound queue",
    }
}

/// `a, b,c` as `[a, b, c]`.
fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// The wizard's answers as the plan the web wizard also builds.
fn plan(answers: &[String]) -> Plan {
    let relay = match answers[6].trim() {
        "" => None,
        host => {
            let (host, port) = match host.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().unwrap_or(0)),
                None => (host.to_string(), 587),
            };
            Some(Relay {
                tls: if port == 465 { "tls" } else { "starttls" }.into(),
                host,
                port,
                username: answers[7].trim().to_string(),
                password: answers[8].clone(),
            })
        }
    };
    Plan {
        hostname: answers[0].clone(),
        domains: list(&answers[1]),
        admin: Account {
            address: answers[2].clone(),
            password: answers[3].clone(),
        },
        staff: list(&answers[5])
            .into_iter()
            .map(|address| Staff {
                address,
                password: None,
            })
            .collect(),
        relay,
        // The console's wizard keeps the configured antispam choices.
        antispam: None,
    }
}

/// `10 minutes`, `90 seconds`.
fn minutes(d: Duration) -> String {
    match d.as_secs() {
        s if s % 60 == 0 => format!("{} minute(s)", s / 60),
        s => format!("{s} seconds"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{Admin, NoNotify, Response};
    use crate::store::Store;
    use std::sync::Arc;

    /// The real admin engine over a temp store, with a config file; the
    /// server's state is a flag.
    struct Local {
        admin: Admin,
        running: bool,
        dir: std::path::PathBuf,
    }

    impl Engine for Local {
        fn call(&mut self, req: Request) -> Result<Vec<String>, String> {
            if req.needs_server() && !self.running {
                return Err("the server is not running".into());
            }
            match self.admin.handle(req) {
                Response::Ok(l) => Ok(l),
                Response::Error(e) => Err(e),
            }
        }
        fn running(&mut self) -> bool {
            self.running
        }
        fn start(&mut self) -> Result<Vec<String>, String> {
            self.running = true;
            Ok(vec!["the server is running".into()])
        }
        fn dns_records(&mut self, domain: &str) -> Result<Vec<String>, String> {
            Ok(vec![format!("{domain}. IN MX 10 mail.example.test.")])
        }
    }

    fn local(running: bool) -> Local {
        let dir = crate::testing::temp_dir("console");
        let store = Arc::new(Store::open(&dir, 1 << 20).unwrap());
        store.add_domain("example.test").unwrap();
        let file = dir.join("facteur.toml");
        let text = format!(
            "[server]\nhostname = \"mail.example.test\"\ndata_dir = \"{}\"\n",
            dir.display()
        );
        std::fs::write(&file, text).unwrap();
        let admin = Admin::new(store, Arc::new(NoNotify)).with_config_file(file);
        Local {
            admin,
            running,
            dir,
        }
    }

    /// A running box with `boss@` as its admin and `ann@` as staff.
    fn claimed() -> Local {
        let engine = local(true);
        for (address, admin) in [("boss@example.test", true), ("ann@example.test", false)] {
            engine
                .admin
                .add_user(address, Some(PW.into()), admin)
                .unwrap();
        }
        engine
    }

    fn settings() -> Settings {
        Settings {
            allow_reset: true,
            idle_timeout: Duration::from_secs(600),
            utf8: false,
        }
    }

    /// A session and the text of its screen so far.
    struct Term {
        console: Console,
        engine: Local,
        now: Instant,
        screen: String,
    }

    impl Term {
        fn new(engine: Local, settings: Settings) -> Term {
            let now = Instant::now();
            let mut console = Console::new(settings, now);
            let mut engine = engine;
            let first = console.start(&mut engine);
            Term {
                console,
                engine,
                now,
                screen: String::from_utf8(first).unwrap(),
            }
        }

        /// Types `text` then CR, split at every byte; returns what was
        /// shown for it.
        fn typed(&mut self, text: &str) -> String {
            let mut shown = Vec::new();
            for b in text.bytes().chain([b'\r']) {
                shown.extend(self.console.input(&[b], self.now, &mut self.engine));
            }
            let shown = String::from_utf8(shown).unwrap();
            self.screen.push_str(&shown);
            shown
        }
    }

    impl Drop for Term {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.engine.dir);
        }
    }

    const PW: &str = "a long password";

    #[test]
    fn the_wizard_claims_the_box_then_a_login_is_needed() {
        let mut t = Term::new(local(false), settings());
        assert!(
            t.screen.contains("the server is not running"),
            "{}",
            t.screen
        );
        assert!(
            t.screen.contains(" 1  first-boot setup\r\n"),
            "{}",
            t.screen
        );
        assert!(t.screen.ends_with("choice: "), "{}", t.screen);
        t.typed("1");
        t.typed("Mail.Example.TEST");
        t.typed("example.test");
        t.typed("boss@example.test");
        t.typed(PW);
        let differ = t.typed("another one!");
        assert!(differ.contains("the two passwords differ"), "{differ}");
        assert!(differ.ends_with("admin password (at least 10 characters): "));
        t.typed(PW);
        t.typed(PW);
        t.typed("ann@example.test");
        let skipped = t.typed("");
        assert!(
            skipped.ends_with("(yes/no): "),
            "no smarthost, no login: {skipped}"
        );
        let done = t.typed("yes");
        assert!(done.contains("the box is set up"), "{done}");
        assert!(done.contains("password of ann@example.test: "), "{done}");
        assert!(done.contains("choose \"start the server\""), "{done}");
        assert!(
            !t.screen.contains(PW),
            "a password was echoed: {}",
            t.screen
        );
        // Claimed: the first-boot setup is gone; a login is asked.
        assert!(!done.contains("first-boot setup"), "{done}");
        t.typed("1");
        let started = t.screen.split("starting").last().unwrap().to_string();
        assert!(started.contains(" 1  log in"), "{started}");
        assert!(started.contains(" 2  reset an admin password"), "{started}");
        t.typed("1");
        t.typed("boss@example.test");
        let wrong = t.typed("not the password");
        assert!(wrong.contains("wrong address or password"), "{wrong}");
        t.typed("1");
        t.typed("ann@example.test");
        let staff = t.typed("whatever it is");
        assert!(staff.contains("not an admin"), "{staff}");
        t.typed("1");
        t.typed("BOSS@example.test");
        let menu = t.typed(PW);
        assert!(menu.contains("== facteur: BOSS@example.test"), "{menu}");
        assert!(menu.contains(" 2  users"), "{menu}");
        t.typed("2");
        t.typed("2");
        t.typed("carol@example.test");
        let added = t.typed("");
        assert!(added.contains("added user carol@example.test"), "{added}");
        assert!(added.contains("password: "), "generated and shown: {added}");
        let listed = t.typed("1");
        assert!(listed.contains("boss@example.test (admin)\r\n"), "{listed}");
        t.typed("0");
        let out = t.typed("0");
        assert!(out.contains("logged out"), "{out}");
        assert!(out.contains(" 1  log in"), "{out}");
    }

    #[test]
    fn an_admin_password_is_reset_without_a_login_only_when_allowed() {
        let mut t = Term::new(claimed(), settings());
        t.typed("2");
        t.typed("ann@example.test");
        let refused = t.typed("");
        assert!(refused.contains("not an admin account"), "{refused}");
        t.typed("2");
        t.typed("boss@example.test");
        t.typed("a brand new password");
        let done = t.typed("a brand new password");
        assert!(
            done.contains("changed the password of boss@example.test"),
            "{done}"
        );
        assert!(!t.screen.contains("brand new"), "{}", t.screen);
        assert!(t
            .engine
            .admin
            .check_admin_login("boss@example.test", "a brand new password")
            .is_ok());
        // Not offered, and not reachable, when the config says no.
        let mut closed = settings();
        closed.allow_reset = false;
        let engine = std::mem::replace(&mut t.engine, local(true));
        let mut t2 = Term::new(engine, closed);
        assert!(!t2.screen.contains("reset"), "{}", t2.screen);
        let out = t2.typed("2");
        assert!(out.contains("no choice \"2\""), "{out}");
    }

    #[test]
    fn noise_long_lines_and_idle_sessions() {
        let mut t = Term::new(claimed(), settings());
        let out = t.typed("\u{0}\u{1b}[A\u{7f}9x");
        assert!(out.contains("no choice \"9x\""), "{out}");
        assert!(out.ends_with("choice: "), "{out}");
        let shown = t.console.input(b"\xff\xfe\x80\r", t.now, &mut t.engine);
        let shown = String::from_utf8(shown).unwrap();
        assert!(shown.contains("only ASCII"), "{shown}");
        assert!(shown.ends_with("choice: "), "{shown}");
        let out = t.typed(&"1".repeat(MAX_LINE + 1));
        assert!(out.contains("line too long"), "{out}");
        // Logged in, then idle past the time-out: logged out.
        t.typed("1");
        t.typed("boss@example.test");
        t.typed(PW);
        let early = t.now + Duration::from_secs(599);
        assert!(t.console.tick(early, &mut t.engine).is_empty());
        let late = t.console.deadline();
        let out = String::from_utf8(t.console.tick(late, &mut t.engine)).unwrap();
        assert!(out.contains("no key for 10 minute(s): logged out"), "{out}");
        assert!(out.contains(" 1  log in"), "{out}");
        // Ctrl-C leaves a question; quitting ends the session.
        t.typed("1");
        let out = String::from_utf8(t.console.input(b"bo\x03", t.now, &mut t.engine)).unwrap();
        assert!(out.contains("cancelled"), "{out}");
        let out = t.typed("0");
        assert!(out.contains("bye"), "{out}");
        assert!(t.console.ended());
    }

    #[test]
    fn text_from_the_engine_is_made_safe_for_the_terminal() {
        let mut t = Term::new(local(true), settings());
        t.console.say("HELO \u{1b}[2Jevil caf\u{e9}");
        let out = String::from_utf8(std::mem::take(&mut t.console.out)).unwrap();
        assert_eq!(out, "HELO ?[2Jevil caf?\r\n");
        t.console.settings.utf8 = true;
        t.console.say("caf\u{e9}");
        let out = String::from_utf8(std::mem::take(&mut t.console.out)).unwrap();
        assert_eq!(out, "caf\u{e9}\r\n");
    }
}
