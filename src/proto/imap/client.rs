//! The client side of IMAP (RFC 9051 §7, RFC 3501 §7), sans I/O: server
//! bytes in, responses out. Literals up to [`MAX_INLINE`] bytes stay in
//! their response line; a bigger one (a message body) is passed on in
//! pieces as it arrives, so a client never holds a whole message, and
//! its place in the line is left as an empty string.
//!
//! [`values`] reads a response line into [`Value`]s, and the helpers
//! below read what an importing client needs of them: FETCH items, LIST
//! attributes, flags and INTERNALDATE.

/// Literals up to this size are kept in their response line (header
/// fields, mailbox names); bigger ones stream.
pub const MAX_INLINE: u64 = 64 * 1024;

/// Longest response line kept, literals kept inline included. A longer
/// one is an error: no response a client asks for is that long.
pub const MAX_LINE: usize = 1024 * 1024;

/// What the reader found.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A big literal starts: its size. The response line read so far is
    /// [`Reader::line`].
    Literal(u64),
    /// Bytes of the big literal.
    Data(&'a [u8]),
    /// A whole response line (CRLF removed, small literals inline, big
    /// ones as `""`).
    Response(Vec<u8>),
}

/// The reader's failure: the connection cannot go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLong;

#[derive(Debug)]
enum State {
    Line,
    /// Inline literal bytes still to come.
    Inline(u64),
    /// Streamed literal bytes still to come.
    Stream(u64),
}

/// Splits server bytes into responses.
#[derive(Debug)]
pub struct Reader {
    line: Vec<u8>,
    state: State,
}

impl Default for Reader {
    fn default() -> Reader {
        Reader::new()
    }
}

impl Reader {
    /// A reader at the start of a connection.
    pub fn new() -> Reader {
        Reader {
            line: Vec::new(),
            state: State::Line,
        }
    }

    /// The response line read so far (before a streamed literal: what
    /// the literal belongs to, e.g. `* 3 FETCH (BODY[] `).
    pub fn line(&self) -> &[u8] {
        &self.line
    }

    /// Feeds bytes from the server.
    pub fn feed(&mut self, mut data: &[u8], out: &mut dyn FnMut(Event<'_>)) -> Result<(), TooLong> {
        while !data.is_empty() {
            match self.state {
                State::Stream(left) => {
                    let n = (left.min(data.len() as u64)) as usize;
                    out(Event::Data(&data[..n]));
                    data = &data[n..];
                    self.state = if left == n as u64 {
                        State::Line
                    } else {
                        State::Stream(left - n as u64)
                    };
                }
                State::Inline(left) => {
                    let n = (left.min(data.len() as u64)) as usize;
                    self.line.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    self.state = if left == n as u64 {
                        State::Line
                    } else {
                        State::Inline(left - n as u64)
                    };
                }
                State::Line => {
                    let Some(i) = data.iter().position(|&b| b == b'\n') else {
                        self.line.extend_from_slice(data);
                        data = &[];
                        if self.line.len() > MAX_LINE {
                            return Err(TooLong);
                        }
                        continue;
                    };
                    self.line.extend_from_slice(&data[..i]);
                    data = &data[i + 1..];
                    if self.line.len() > MAX_LINE {
                        return Err(TooLong);
                    }
                    if self.line.last() == Some(&b'\r') {
                        self.line.pop();
                    }
                    match literal_at_end(&self.line) {
                        Some((start, n)) if n > MAX_INLINE => {
                            self.line.truncate(start);
                            out(Event::Literal(n));
                            self.line.extend_from_slice(b"\"\"");
                            self.state = State::Stream(n);
                        }
                        Some((_, n)) => {
                            self.line.extend_from_slice(b"\r\n");
                            if n > 0 {
                                self.state = State::Inline(n);
                            }
                        }
                        None => out(Event::Response(std::mem::take(&mut self.line))),
                    }
                }
            }
        }
        Ok(())
    }
}

/// `{N}` (or `{N+}`) ending a line: where it starts and N.
fn literal_at_end(line: &[u8]) -> Option<(usize, u64)> {
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let digits = &body[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((open, n))
}

/// One value of a response line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An atom or number (also `BODY[HEADER.FIELDS (X)]`-like items, whose
    /// bracketed part is kept in the atom).
    Atom(Vec<u8>),
    /// A quoted string or literal.
    Str(Vec<u8>),
    /// `NIL`.
    Nil,
    /// A parenthesised list.
    List(Vec<Value>),
}

impl Value {
    /// The bytes of an atom or string.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Atom(b) | Value::Str(b) => Some(b),
            _ => None,
        }
    }

    /// A number atom.
    pub fn number(&self) -> Option<u64> {
        match self {
            Value::Atom(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    }
}

/// Reads the values of a response line (after the tag, or the whole
/// line); `None` when it is not well formed.
pub fn values(line: &[u8]) -> Option<Vec<Value>> {
    let mut pos = 0;
    let mut stack: Vec<Vec<Value>> = vec![Vec::new()];
    while pos < line.len() {
        let b = line[pos];
        match b {
            b' ' => pos += 1,
            b'(' => {
                stack.push(Vec::new());
                pos += 1;
            }
            b')' => {
                let done = stack.pop()?;
                stack.last_mut()?.push(Value::List(done));
                pos += 1;
            }
            b'"' => {
                let mut s = Vec::new();
                pos += 1;
                loop {
                    match *line.get(pos)? {
                        b'"' => break,
                        b'\\' => {
                            s.push(*line.get(pos + 1)?);
                            pos += 2;
                        }
                        c => {
                            s.push(c);
                            pos += 1;
                        }
                    }
                }
                pos += 1;
                stack.last_mut()?.push(Value::Str(s));
            }
            b'{' => {
                let close = pos + line[pos..].iter().position(|&c| c == b'}')?;
                let digits = &line[pos + 1..close];
                let digits = digits.strip_suffix(b"+").unwrap_or(digits);
                let n: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
                let start = close + 3;
                if line.get(close + 1..start)? != b"\r\n" {
                    return None;
                }
                let data = line.get(start..start.checked_add(n)?)?;
                stack.last_mut()?.push(Value::Str(data.to_vec()));
                pos = start + n;
            }
            _ => {
                // An atom; brackets may hold spaces and parentheses
                // (BODY[HEADER.FIELDS (MESSAGE-ID)]).
                let start = pos;
                let mut depth = 0u32;
                while pos < line.len() {
                    match line[pos] {
                        b'[' => depth += 1,
                        b']' => depth = depth.saturating_sub(1),
                        b' ' | b'(' | b')' if depth == 0 => break,
                        _ => {}
                    }
                    pos += 1;
                }
                let atom = &line[start..pos];
                stack
                    .last_mut()?
                    .push(if atom.eq_ignore_ascii_case(b"NIL") {
                        Value::Nil
                    } else {
                        Value::Atom(atom.to_vec())
                    });
            }
        }
    }
    if stack.len() != 1 {
        return None;
    }
    stack.pop()
}

/// A response line's kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `* ...`: the values after the star.
    Untagged(Vec<Value>),
    /// `TAG OK|NO|BAD text`.
    Tagged {
        /// The tag.
        tag: Vec<u8>,
        /// Whether it is OK.
        ok: bool,
        /// The rest of the line.
        text: String,
    },
    /// `+ ...`: a continuation request.
    Continue,
}

/// Reads a response line.
pub fn response(line: &[u8]) -> Option<Response> {
    if let Some(rest) = line.strip_prefix(b"* ") {
        return values(rest).map(Response::Untagged);
    }
    if line.starts_with(b"+") {
        return Some(Response::Continue);
    }
    let sp = line.iter().position(|&b| b == b' ')?;
    let (tag, rest) = (&line[..sp], &line[sp + 1..]);
    let (status, text) = match rest.iter().position(|&b| b == b' ') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b""[..]),
    };
    Some(Response::Tagged {
        tag: tag.to_vec(),
        ok: status.eq_ignore_ascii_case(b"OK"),
        text: String::from_utf8_lossy(text).into_owned(),
    })
}

/// The items of `N FETCH (...)` untagged values: name (upper case) and
/// value pairs.
pub fn fetch_items(v: &[Value]) -> Option<(u64, Vec<(String, Value)>)> {
    let [n, Value::Atom(kw), Value::List(items)] = v else {
        return None;
    };
    if !kw.eq_ignore_ascii_case(b"FETCH") {
        return None;
    }
    let mut out = Vec::new();
    let mut it = items.iter();
    while let Some(name) = it.next() {
        let name = String::from_utf8_lossy(name.bytes()?).to_ascii_uppercase();
        out.push((name, it.next()?.clone()));
    }
    Some((n.number()?, out))
}

/// A `LIST` response: attributes, delimiter and name (modified UTF-7
/// decoded, RFC 3501 §5.1.3).
pub fn list_item(v: &[Value]) -> Option<(Vec<String>, Option<u8>, String)> {
    let [Value::Atom(kw), Value::List(attrs), delim, name] = v else {
        return None;
    };
    if !kw.eq_ignore_ascii_case(b"LIST") {
        return None;
    }
    let attrs = attrs
        .iter()
        .filter_map(|a| a.bytes().map(|b| String::from_utf8_lossy(b).into_owned()))
        .collect();
    let delim = delim.bytes().and_then(|d| d.first().copied());
    let raw = name.bytes()?;
    let name =
        super::utf7::decode(raw).unwrap_or_else(|_| String::from_utf8_lossy(raw).into_owned());
    Some((attrs, delim, name))
}

/// System flags bits and keywords of a FLAGS list; `\Recent` is dropped.
pub fn flags(v: &Value) -> (u8, Vec<String>) {
    use crate::store::records::flags as f;
    let mut bits = 0;
    let mut keywords = Vec::new();
    let Value::List(list) = v else {
        return (0, keywords);
    };
    for item in list {
        let Some(b) = item.bytes() else { continue };
        let s = String::from_utf8_lossy(b);
        match s.to_ascii_lowercase().as_str() {
            "\\seen" => bits |= f::SEEN,
            "\\answered" => bits |= f::ANSWERED,
            "\\flagged" => bits |= f::FLAGGED,
            "\\deleted" => bits |= f::DELETED,
            "\\draft" => bits |= f::DRAFT,
            l if l.starts_with('\\') => {}
            _ => keywords.push(s.into_owned()),
        }
    }
    (bits, keywords)
}

/// An INTERNALDATE (`"01-Jan-2024 10:00:00 +0000"`, RFC 9051 §9
/// date-time) as Unix time.
pub fn internal_date(s: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(s).ok()?.trim();
    let (date, rest) = s.split_once(' ')?;
    let (time, zone) = rest.trim().split_once(' ')?;
    let mut d = date.trim().split('-');
    let day: u32 = d.next()?.trim().parse().ok()?;
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(d.next().unwrap_or("")))? as u32
        + 1;
    let year: u32 = d.next()?.parse().ok()?;
    let mut t = time.split(':');
    let h: i64 = t.next()?.parse().ok()?;
    let m: i64 = t.next()?.parse().ok()?;
    let sec: i64 = t.next()?.parse().ok()?;
    let z = zone.as_bytes();
    if z.len() != 5 || !z[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let zn: i64 = zone[1..].parse().ok()?;
    let offset = (zn / 100) * 3600 + (zn % 100) * 60;
    let offset = match z[0] {
        b'+' => offset,
        b'-' => -offset,
        _ => return None,
    };
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let days = crate::mail::date::days_from_civil(year, month, day);
    Some(days * 86_400 + h * 3600 + m * 60 + sec - offset)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A string as an IMAP quoted string (RFC 9051 §4.3), or `None` when it
/// holds a CR, LF or NUL and needs a literal.
pub fn quoted(s: &str) -> Option<String> {
    if s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return None;
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(parts: &[&[u8]]) -> Vec<String> {
        let mut r = Reader::new();
        let mut out = Vec::new();
        for p in parts {
            r.feed(p, &mut |e| {
                out.push(match e {
                    Event::Literal(n) => format!("literal {n}"),
                    Event::Data(d) => format!("data {}", String::from_utf8_lossy(d)),
                    Event::Response(l) => format!("line {}", String::from_utf8_lossy(&l)),
                })
            })
            .unwrap();
        }
        // Data arrives in as many pieces as it was fed in: join them.
        let mut joined: Vec<String> = Vec::new();
        for e in out {
            match (joined.last_mut(), e.strip_prefix("data ")) {
                (Some(last), Some(d)) if last.starts_with("data ") => last.push_str(d),
                _ => joined.push(e),
            }
        }
        joined
    }

    #[test]
    fn small_literals_stay_inline_and_big_ones_stream_split_anywhere() {
        let big = "x".repeat(MAX_INLINE as usize + 1);
        let input = format!(
            "* 1 FETCH (UID 7 BODY[HEADER.FIELDS (MESSAGE-ID)] {{8}}\r\nM: <a>\r\n)\r\n\
             * 2 FETCH (UID 8 BODY[] {{{}}}\r\n{big} FLAGS (\\Seen))\r\na1 OK done\r\n",
            big.len()
        );
        let want = vec![
            "line * 1 FETCH (UID 7 BODY[HEADER.FIELDS (MESSAGE-ID)] {8}\r\nM: <a>\r\n)".to_string(),
            format!("literal {}", big.len()),
            format!("data {big}"),
            "line * 2 FETCH (UID 8 BODY[] \"\" FLAGS (\\Seen))".to_string(),
            "line a1 OK done".to_string(),
        ];
        let b = input.as_bytes();
        assert_eq!(feed_all(&[b]), want);
        for i in (0..b.len())
            .step_by(997)
            .chain([1, 60, 61, 62, b.len() - 3])
        {
            assert_eq!(feed_all(&[&b[..i], &b[i..]]), want, "split at {i}");
        }
    }

    #[test]
    fn fetch_responses_are_read_into_items() {
        let line = b"* 1 FETCH (UID 7 FLAGS (\\Seen $Label1 \\Recent) INTERNALDATE \"01-Jan-2024 12:00:00 +0200\" RFC822.SIZE 120 BODY[HEADER.FIELDS (MESSAGE-ID)] {8}\r\nM: <a>\r\n)";
        let Some(Response::Untagged(v)) = response(line) else {
            panic!("not untagged")
        };
        let (n, items) = fetch_items(&v).unwrap();
        assert_eq!(n, 1);
        let names: Vec<&str> = items.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "UID",
                "FLAGS",
                "INTERNALDATE",
                "RFC822.SIZE",
                "BODY[HEADER.FIELDS (MESSAGE-ID)]"
            ]
        );
        assert_eq!(
            flags(&items[1].1),
            (
                crate::store::records::flags::SEEN,
                vec!["$Label1".to_string()]
            )
        );
        assert_eq!(
            internal_date(items[2].1.bytes().unwrap()),
            Some(1_704_103_200)
        );
        assert_eq!(items[4].1, Value::Str(b"M: <a>\r\n".to_vec()));
    }

    #[test]
    fn list_responses_tagged_lines_and_bad_input() {
        let Some(Response::Untagged(v)) =
            response(b"* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"")
        else {
            panic!()
        };
        assert_eq!(
            list_item(&v),
            Some((
                vec!["\\HasNoChildren".to_string(), "\\Sent".to_string()],
                Some(b'/'),
                "Sent Items".to_string()
            ))
        );
        let Some(Response::Untagged(v)) = response(b"* LIST () \".\" Entw&APw-rfe") else {
            panic!()
        };
        assert_eq!(list_item(&v).unwrap().2, "Entwürfe");
        assert_eq!(
            response(b"a2 NO [AUTHENTICATIONFAILED] no"),
            Some(Response::Tagged {
                tag: b"a2".to_vec(),
                ok: false,
                text: "[AUTHENTICATIONFAILED] no".to_string()
            })
        );
        assert_eq!(values(b"(a (b"), None);
        assert_eq!(values(b"\"open"), None);
        assert_eq!(values(b"{5}\r\nab"), None);
        assert_eq!(quoted("a\"b\\"), Some("\"a\\\"b\\\\\"".to_string()));
        assert_eq!(quoted("a\r\n"), None);
        let mut r = Reader::new();
        let long = vec![b'x'; MAX_LINE + 1];
        assert_eq!(r.feed(&long, &mut |_| {}), Err(TooLong));
    }
}
