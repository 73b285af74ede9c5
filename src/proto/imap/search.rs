//! SEARCH arguments (RFC 9051 §6.4.4, RFC 3501 §6.4.4), with ESEARCH
//! return options (RFC 4731), the saved result `$` (RFC 5182) and MODSEQ
//! (RFC 7162 §3.1.5).

use super::command::{SearchCommand, SearchKey, SearchReturn};
use super::parse::{bad, Cursor, ErrorKind, Fail, PResult};
use super::sequence;

/// Parses what follows `SEARCH` through the end of the command.
pub(crate) fn parse(c: &mut Cursor<'_>, uid: bool) -> PResult<SearchCommand> {
    c.sp()?;
    let mut cmd = SearchCommand {
        uid,
        ret: None,
        charset: None,
        criteria: Vec::new(),
    };
    // RFC 4731 §3: search-return-opts come first.
    if c.eat_word("RETURN") {
        c.sp()?;
        let mut ret = SearchReturn::default();
        c.list(|c| {
            let o = c.atom_upper()?;
            match o.as_str() {
                "MIN" => ret.min = true,
                "MAX" => ret.max = true,
                "ALL" => ret.all = true,
                "COUNT" => ret.count = true,
                "SAVE" => ret.save = true,
                _ => return Err(bad(format!("unknown SEARCH return option {o}"))),
            }
            Ok(())
        })?;
        // RFC 4731 §3.1: "RETURN ()" is the same as "RETURN (ALL)".
        if ret == SearchReturn::default() {
            ret.all = true;
        }
        cmd.ret = Some(ret);
        c.sp()?;
    }
    if c.eat_word("CHARSET") {
        c.sp()?;
        let cs = String::from_utf8_lossy(&c.astring()?).to_ascii_uppercase();
        // RFC 9051 §6.4.4: US-ASCII and UTF-8 must be supported; we
        // support nothing else and say so with BADCHARSET.
        if cs != "UTF-8" && cs != "US-ASCII" {
            return Err(Fail {
                kind: ErrorKind::BadCharset,
                text: format!("charset {cs} is not supported"),
            });
        }
        cmd.charset = Some(cs);
        c.sp()?;
    }
    loop {
        cmd.criteria.push(key(c)?);
        if c.at_end() {
            break;
        }
        c.sp()?;
    }
    Ok(cmd)
}

/// One `search-key`, recursing through NOT, OR and parentheses within
/// the cursor's depth bound.
fn key(c: &mut Cursor<'_>) -> PResult<SearchKey> {
    c.charge(1)?;
    c.enter()?;
    let k = key_inner(c);
    c.leave();
    k
}

fn key_inner(c: &mut Cursor<'_>) -> PResult<SearchKey> {
    match c.peek() {
        Some(b'(') => {
            c.expect(b'(')?;
            let mut keys = Vec::new();
            loop {
                keys.push(key(c)?);
                if c.eat(b')') {
                    return Ok(SearchKey::And(keys));
                }
                c.sp()?;
            }
        }
        Some(b'0'..=b'9' | b'*' | b'$') => Ok(SearchKey::SequenceSet(sequence::parse(c, true)?)),
        None => Err(bad("missing search key")),
        _ => {
            let name = c.atom_upper()?;
            named(c, &name)
        }
    }
}

fn named(c: &mut Cursor<'_>, name: &str) -> PResult<SearchKey> {
    use SearchKey as K;
    let k = match name {
        "ALL" => K::All,
        "ANSWERED" => K::Answered,
        "DELETED" => K::Deleted,
        "DRAFT" => K::Draft,
        "FLAGGED" => K::Flagged,
        "NEW" => K::New,
        "OLD" => K::Old,
        "RECENT" => K::Recent,
        "SEEN" => K::Seen,
        "UNANSWERED" => K::Unanswered,
        "UNDELETED" => K::Undeleted,
        "UNDRAFT" => K::Undraft,
        "UNFLAGGED" => K::Unflagged,
        "UNSEEN" => K::Unseen,
        "BCC" => K::Bcc(string(c)?),
        "BODY" => K::Body(string(c)?),
        "CC" => K::Cc(string(c)?),
        "FROM" => K::From(string(c)?),
        "SUBJECT" => K::Subject(string(c)?),
        "TEXT" => K::Text(string(c)?),
        "TO" => K::To(string(c)?),
        "HEADER" => {
            let field = string(c)?;
            K::Header(field, string(c)?)
        }
        "BEFORE" => K::Before(date(c)?),
        "ON" => K::On(date(c)?),
        "SINCE" => K::Since(date(c)?),
        "SENTBEFORE" => K::SentBefore(date(c)?),
        "SENTON" => K::SentOn(date(c)?),
        "SENTSINCE" => K::SentSince(date(c)?),
        "KEYWORD" => K::Keyword(keyword(c)?),
        "UNKEYWORD" => K::Unkeyword(keyword(c)?),
        "LARGER" => {
            c.sp()?;
            K::Larger(c.number64()?)
        }
        "SMALLER" => {
            c.sp()?;
            K::Smaller(c.number64()?)
        }
        "UID" => {
            c.sp()?;
            K::Uid(sequence::parse(c, true)?)
        }
        "NOT" => {
            c.sp()?;
            K::Not(Box::new(key(c)?))
        }
        "OR" => {
            c.sp()?;
            let a = key(c)?;
            c.sp()?;
            K::Or(Box::new(a), Box::new(key(c)?))
        }
        // RFC 7162 §3.1.5: MODSEQ [SP entry-name SP entry-type-req] SP
        // mod-sequence-valzer.
        "MODSEQ" => {
            c.sp()?;
            let entry = if c.peek() == Some(b'"') {
                let name = String::from_utf8(c.quoted()?).map_err(|_| bad("invalid entry"))?;
                c.sp()?;
                let kind = c.atom_upper()?.to_ascii_lowercase();
                if !matches!(kind.as_str(), "priv" | "shared" | "all") {
                    return Err(bad("invalid MODSEQ entry type"));
                }
                c.sp()?;
                Some((name, kind))
            } else {
                None
            };
            K::ModSeq {
                entry,
                mod_seq: c.number64()?,
            }
        }
        _ => return Err(bad(format!("unknown search key {name}"))),
    };
    Ok(k)
}

fn string(c: &mut Cursor<'_>) -> PResult<String> {
    c.sp()?;
    c.astring_text()
}

fn date(c: &mut Cursor<'_>) -> PResult<super::command::Date> {
    c.sp()?;
    c.date()
}

/// `flag-keyword = atom` (no backslash flags here, RFC 9051 §9).
fn keyword(c: &mut Cursor<'_>) -> PResult<String> {
    c.sp()?;
    Ok(String::from_utf8_lossy(c.atom()?).into_owned())
}

#[cfg(test)]
mod tests {
    use super::super::command::{CommandBody, Date, SearchCommand};
    use super::super::parse::parse_command;
    use super::super::sequence::{SeqNum, SequenceSet};
    use super::*;

    fn s(text: &str) -> SearchCommand {
        match parse_command(text.as_bytes()).map(|c| c.body) {
            Ok(CommandBody::Search(s)) => s,
            other => panic!("{text:?}: {other:?}"),
        }
    }

    fn keys(text: &str) -> Vec<SearchKey> {
        s(text).criteria
    }

    #[test]
    fn rfc_examples() {
        use SearchKey as K;
        assert_eq!(
            keys("A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\""),
            vec![
                K::Flagged,
                K::Since(Date {
                    year: 1994,
                    month: 2,
                    day: 1
                }),
                K::Not(Box::new(K::From("Smith".into())))
            ]
        );
        let cmd = s("A283 SEARCH CHARSET UTF-8 TEXT {12}\r\nXXXXXXXXXXXX");
        assert_eq!(cmd.charset.as_deref(), Some("UTF-8"));
        assert_eq!(cmd.criteria, vec![K::Text("XXXXXXXXXXXX".into())]);
        assert_eq!(
            keys("A284 SEARCH TEXT \"string not in mailbox\""),
            vec![K::Text("string not in mailbox".into())]
        );
        assert_eq!(
            keys("a SEARCH OR (SEEN FLAGGED) NOT 1:5,*"),
            vec![K::Or(
                Box::new(K::And(vec![K::Seen, K::Flagged])),
                Box::new(K::Not(Box::new(K::SequenceSet(SequenceSet::Ranges(vec![
                    (SeqNum::Value(1), SeqNum::Value(5)),
                    (SeqNum::Star, SeqNum::Star)
                ])))))
            )]
        );
    }

    #[test]
    fn every_key() {
        use SearchKey as K;
        let d = Date {
            year: 2024,
            month: 3,
            day: 9,
        };
        let all = keys(
            "a UID SEARCH ALL ANSWERED BCC b BEFORE 9-Mar-2024 BODY x CC c DELETED DRAFT \
             FLAGGED FROM f HEADER Message-ID <id@x> KEYWORD $Junk LARGER 100 NEW NOT SEEN \
             OLD ON \"9-Mar-2024\" OR RECENT SEEN RECENT SEEN SENTBEFORE 9-Mar-2024 \
             SENTON 9-Mar-2024 SENTSINCE 9-Mar-2024 SINCE 9-Mar-2024 SMALLER 5 SUBJECT s \
             TEXT t TO to UID 1:* UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNKEYWORD $Seen2 \
             UNSEEN $ 7 MODSEQ 720162338 MODSEQ \"/flags/\\\\draft\" all 620162338",
        );
        let want = vec![
            K::All,
            K::Answered,
            K::Bcc("b".into()),
            K::Before(d),
            K::Body("x".into()),
            K::Cc("c".into()),
            K::Deleted,
            K::Draft,
            K::Flagged,
            K::From("f".into()),
            K::Header("Message-ID".into(), "<id@x>".into()),
            K::Keyword("$Junk".into()),
            K::Larger(100),
            K::New,
            K::Not(Box::new(K::Seen)),
            K::Old,
            K::On(d),
            K::Or(Box::new(K::Recent), Box::new(K::Seen)),
            K::Recent,
            K::Seen,
            K::SentBefore(d),
            K::SentOn(d),
            K::SentSince(d),
            K::Since(d),
            K::Smaller(5),
            K::Subject("s".into()),
            K::Text("t".into()),
            K::To("to".into()),
            K::Uid(SequenceSet::Ranges(vec![(SeqNum::Value(1), SeqNum::Star)])),
            K::Unanswered,
            K::Undeleted,
            K::Undraft,
            K::Unflagged,
            K::Unkeyword("$Seen2".into()),
            K::Unseen,
            K::SequenceSet(SequenceSet::Saved),
            K::SequenceSet(SequenceSet::Ranges(vec![(
                SeqNum::Value(7),
                SeqNum::Value(7),
            )])),
            K::ModSeq {
                entry: None,
                mod_seq: 720162338,
            },
            K::ModSeq {
                entry: Some(("/flags/\\draft".into(), "all".into())),
                mod_seq: 620162338,
            },
        ];
        assert_eq!(all, want);
        assert!(s("a UID SEARCH ALL").uid);
    }

    #[test]
    fn esearch_return_options() {
        let cmd = s("A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994");
        let r = cmd.ret.unwrap();
        assert!(r.min && r.count && !r.max && !r.all && !r.save);
        let r = s("a SEARCH RETURN () ALL").ret.unwrap();
        assert!(r.all);
        let r = s("a UID SEARCH RETURN (SAVE MAX ALL) CHARSET us-ascii UNSEEN")
            .ret
            .unwrap();
        assert!(r.save && r.max && r.all);
        // Thunderbird-style header search with a literal.
        let cmd = s("5 UID SEARCH CHARSET UTF-8 HEADER SUBJECT {6}\r\nCaf\u{e9}!");
        assert_eq!(
            cmd.criteria,
            vec![SearchKey::Header("SUBJECT".into(), "Café!".into())]
        );
    }

    #[test]
    fn errors() {
        for bad in [
            "a SEARCH",
            "a SEARCH ",
            "a SEARCH BOGUS",
            "a SEARCH FROM",
            "a SEARCH (SEEN",
            "a SEARCH ()",
            "a SEARCH SEEN)",
            "a SEARCH OR SEEN",
            "a SEARCH SINCE 31-Feb-2020",
            "a SEARCH LARGER x",
            "a SEARCH RETURN (BOGUS) ALL",
            "a SEARCH KEYWORD \\Seen",
            "a SEARCH SEEN  FLAGGED",
            "a SEARCH MODSEQ \"/flags/x\" bogus 5",
        ] {
            let e = parse_command(bad.as_bytes()).unwrap_err();
            assert_eq!(e.tag.as_deref(), Some("a"), "{bad}");
            assert_eq!(e.kind, ErrorKind::Syntax, "{bad}");
        }
        let e = parse_command(b"a SEARCH CHARSET ISO-8859-1 FROM x").unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadCharset);
        assert_eq!(
            e.response(),
            b"a NO [BADCHARSET (UTF-8 US-ASCII)] charset ISO-8859-1 is not supported\r\n"
        );
    }
}
