//! FETCH arguments (RFC 9051 §6.4.5, RFC 3501 §6.4.5), with BINARY
//! (RFC 3516 §4.2) and the CONDSTORE/QRESYNC modifiers (RFC 7162 §3.1.4,
//! §3.2.6).

use super::command::{FetchAttr, FetchCommand, Partial, Section, SectionText};
use super::parse::{bad, Cursor, PResult};
use super::sequence;

/// Parses what follows `FETCH` through the end of the command.
pub(crate) fn parse(c: &mut Cursor<'_>, uid: bool) -> PResult<FetchCommand> {
    c.sp()?;
    let set = sequence::parse(c, true)?;
    c.sp()?;
    let attrs = if c.peek() == Some(b'(') {
        let attrs = c.list(attr)?;
        if attrs.is_empty() {
            return Err(bad("empty FETCH item list"));
        }
        attrs
    } else if c.eat_word("ALL") {
        // RFC 9051 §6.4.5: the macros.
        vec![
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
            FetchAttr::Envelope,
        ]
    } else if c.eat_word("FAST") {
        vec![
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
        ]
    } else if c.eat_word("FULL") {
        vec![
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
            FetchAttr::Envelope,
            FetchAttr::Body,
        ]
    } else {
        vec![attr(c)?]
    };
    let mut cmd = FetchCommand {
        uid,
        set,
        attrs,
        changed_since: None,
        vanished: false,
    };
    if c.eat(b' ') {
        c.list(|c| {
            let m = c.atom_upper()?;
            match m.as_str() {
                "CHANGEDSINCE" => {
                    c.sp()?;
                    cmd.changed_since = Some(c.number64()?);
                }
                "VANISHED" => cmd.vanished = true,
                _ => return Err(bad(format!("unknown FETCH modifier {m}"))),
            }
            Ok(())
        })?;
        // RFC 7162 §3.2.6: VANISHED only in UID FETCH, with CHANGEDSINCE.
        if cmd.vanished && (!uid || cmd.changed_since.is_none()) {
            return Err(bad("VANISHED needs UID FETCH and CHANGEDSINCE"));
        }
        if cmd.changed_since.is_some() && !cmd.attrs.contains(&FetchAttr::ModSeq) {
            // RFC 7162 §3.1.4.1: CHANGEDSINCE implies MODSEQ.
            cmd.attrs.push(FetchAttr::ModSeq);
        }
    }
    Ok(cmd)
}

/// One `fetch-att`.
fn attr(c: &mut Cursor<'_>) -> PResult<FetchAttr> {
    let name = name(c)?;
    let a = match name.as_str() {
        "ENVELOPE" => FetchAttr::Envelope,
        "FLAGS" => FetchAttr::Flags,
        "INTERNALDATE" => FetchAttr::InternalDate,
        "RFC822.SIZE" => FetchAttr::Rfc822Size,
        "RFC822" => FetchAttr::Rfc822,
        "RFC822.HEADER" => FetchAttr::Rfc822Header,
        "RFC822.TEXT" => FetchAttr::Rfc822Text,
        "BODYSTRUCTURE" => FetchAttr::BodyStructure,
        "UID" => FetchAttr::Uid,
        "MODSEQ" => FetchAttr::ModSeq,
        "BODY" if c.peek() != Some(b'[') => FetchAttr::Body,
        "BODY" | "BODY.PEEK" => {
            let section = section(c)?;
            FetchAttr::BodySection {
                peek: name == "BODY.PEEK",
                section,
                partial: partial(c)?,
            }
        }
        "BINARY" | "BINARY.PEEK" => {
            let part = binary_part(c)?;
            FetchAttr::Binary {
                peek: name == "BINARY.PEEK",
                part,
                partial: partial(c)?,
            }
        }
        "BINARY.SIZE" => FetchAttr::BinarySize {
            part: binary_part(c)?,
        },
        _ => return Err(bad(format!("unknown FETCH item {name}"))),
    };
    Ok(a)
}

/// The item name: letters, digits and dots, upper-cased.
fn name(c: &mut Cursor<'_>) -> PResult<String> {
    let mut s = String::new();
    while let Some(b) = c.peek().filter(|b| b.is_ascii_alphanumeric() || *b == b'.') {
        if s.len() >= 32 {
            return Err(bad("unknown FETCH item"));
        }
        s.push(char::from(b.to_ascii_uppercase()));
        c.eat(b);
    }
    if s.is_empty() {
        return Err(bad("expected a FETCH item"));
    }
    Ok(s)
}

/// `section = "[" [section-spec] "]"`.
fn section(c: &mut Cursor<'_>) -> PResult<Section> {
    c.expect(b'[')?;
    let mut sec = Section::default();
    if c.eat(b']') {
        return Ok(sec);
    }
    if c.peek().is_some_and(|b| b.is_ascii_digit()) {
        sec.part = part_path(c)?;
        if c.eat(b']') {
            return Ok(sec);
        }
        c.expect(b'.')?;
    }
    let spec = name(c)?;
    sec.text = Some(match spec.as_str() {
        "HEADER" => SectionText::Header,
        "TEXT" => SectionText::Text,
        "MIME" if !sec.part.is_empty() => SectionText::Mime,
        "HEADER.FIELDS" | "HEADER.FIELDS.NOT" => {
            c.sp()?;
            let names = c.list(|c| Ok(c.astring_text()?.to_ascii_uppercase()))?;
            if names.is_empty() {
                return Err(bad("empty header list"));
            }
            if spec == "HEADER.FIELDS" {
                SectionText::HeaderFields(names)
            } else {
                SectionText::HeaderFieldsNot(names)
            }
        }
        _ => return Err(bad("invalid section")),
    });
    c.expect(b']')?;
    Ok(sec)
}

/// `section-part = nz-number *("." nz-number)`; stops before a `.` that
/// is not followed by a digit.
fn part_path(c: &mut Cursor<'_>) -> PResult<Vec<u32>> {
    let mut part = vec![c.nz_number()?];
    loop {
        if c.peek() == Some(b'.') && c.peek_at(1).is_some_and(|b| b.is_ascii_digit()) {
            c.eat(b'.');
            c.charge(1)?;
            part.push(c.nz_number()?);
        } else {
            return Ok(part);
        }
    }
}

/// `section-binary = "[" [section-part] "]"`.
fn binary_part(c: &mut Cursor<'_>) -> PResult<Vec<u32>> {
    c.expect(b'[')?;
    if c.eat(b']') {
        return Ok(Vec::new());
    }
    let p = part_path(c)?;
    c.expect(b']')?;
    Ok(p)
}

/// `partial = "<" number "." nz-number ">"`.
fn partial(c: &mut Cursor<'_>) -> PResult<Option<Partial>> {
    if !c.eat(b'<') {
        return Ok(None);
    }
    let origin = c.number()?;
    c.expect(b'.')?;
    let count = c.nz_number()?;
    c.expect(b'>')?;
    Ok(Some(Partial { origin, count }))
}

#[cfg(test)]
mod tests {
    use super::super::command::CommandBody;
    use super::super::parse::parse_command;
    use super::*;

    fn f(text: &str) -> FetchCommand {
        match parse_command(text.as_bytes()).map(|c| c.body) {
            Ok(CommandBody::Fetch(f)) => f,
            other => panic!("{text:?}: {other:?}"),
        }
    }

    fn sec(part: &[u32], text: Option<SectionText>) -> Section {
        Section {
            part: part.to_vec(),
            text,
        }
    }

    #[test]
    fn macros_and_simple_items() {
        use FetchAttr as A;
        assert_eq!(
            f("a FETCH 1:* ALL").attrs,
            vec![A::Flags, A::InternalDate, A::Rfc822Size, A::Envelope]
        );
        assert_eq!(f("a FETCH 1 fast").attrs.len(), 3);
        assert_eq!(f("a FETCH 1 FULL").attrs.last(), Some(&A::Body));
        assert_eq!(f("a FETCH 2 body").attrs, vec![A::Body]);
        assert_eq!(
            f("a FETCH 2:4 (ENVELOPE FLAGS INTERNALDATE RFC822.SIZE RFC822 RFC822.HEADER RFC822.TEXT BODY BODYSTRUCTURE UID MODSEQ)").attrs,
            vec![
                A::Envelope,
                A::Flags,
                A::InternalDate,
                A::Rfc822Size,
                A::Rfc822,
                A::Rfc822Header,
                A::Rfc822Text,
                A::Body,
                A::BodyStructure,
                A::Uid,
                A::ModSeq
            ]
        );
    }

    #[test]
    fn client_lines() {
        use FetchAttr as A;
        // Thunderbird.
        let t = f("8 UID fetch 1:* (FLAGS) (CHANGEDSINCE 12345)");
        assert!(t.uid);
        assert_eq!(t.changed_since, Some(12345));
        assert_eq!(t.attrs, vec![A::Flags, A::ModSeq]);
        let t = f("9 UID fetch 4 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])");
        let A::BodySection {
            peek,
            section,
            partial,
        } = &t.attrs[3]
        else {
            panic!()
        };
        assert!(*peek && partial.is_none());
        let Some(SectionText::HeaderFields(names)) = &section.text else {
            panic!()
        };
        assert_eq!(names.len(), 14);
        assert_eq!(names[0], "FROM");
        // Apple Mail.
        let t = f("11 UID FETCH 33 (BODY.PEEK[1.2.MIME] BODY.PEEK[1.2]<0.2048> BINARY.PEEK[2]<100.50> BINARY.SIZE[1.1] BINARY[])");
        assert_eq!(
            t.attrs,
            vec![
                A::BodySection {
                    peek: true,
                    section: sec(&[1, 2], Some(SectionText::Mime)),
                    partial: None
                },
                A::BodySection {
                    peek: true,
                    section: sec(&[1, 2], None),
                    partial: Some(Partial {
                        origin: 0,
                        count: 2048
                    })
                },
                A::Binary {
                    peek: true,
                    part: vec![2],
                    partial: Some(Partial {
                        origin: 100,
                        count: 50
                    })
                },
                A::BinarySize { part: vec![1, 1] },
                A::Binary {
                    peek: false,
                    part: vec![],
                    partial: None
                },
            ]
        );
        // mbsync.
        let t = f("5 UID FETCH 1:1000000000 (UID FLAGS BODY.PEEK[HEADER.FIELDS (X-TUID)])");
        assert_eq!(t.attrs.len(), 3);
        // Outlook.
        let t = f("a FETCH 1 (BODY[] BODY[TEXT] BODY[HEADER] BODY[2.HEADER.FIELDS.NOT (Received)] BODY[3.TEXT])");
        assert_eq!(
            t.attrs,
            vec![
                A::BodySection {
                    peek: false,
                    section: sec(&[], None),
                    partial: None
                },
                A::BodySection {
                    peek: false,
                    section: sec(&[], Some(SectionText::Text)),
                    partial: None
                },
                A::BodySection {
                    peek: false,
                    section: sec(&[], Some(SectionText::Header)),
                    partial: None
                },
                A::BodySection {
                    peek: false,
                    section: sec(
                        &[2],
                        Some(SectionText::HeaderFieldsNot(vec!["RECEIVED".into()]))
                    ),
                    partial: None
                },
                A::BodySection {
                    peek: false,
                    section: sec(&[3], Some(SectionText::Text)),
                    partial: None
                },
            ]
        );
        // RFC 7162 §3.2.6 example.
        let t = f("A03 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)");
        assert!(t.vanished);
        assert_eq!(f("a FETCH $ FLAGS").set, sequence::SequenceSet::Saved);
    }

    #[test]
    fn errors() {
        for bad in [
            "a FETCH 1",
            "a FETCH 1 ()",
            "a FETCH 1 BOGUS",
            "a FETCH 1 BODY[MIME]",
            "a FETCH 1 BODY[1.MIME",
            "a FETCH 1 BODY[0]",
            "a FETCH 1 BODY[HEADER.FIELDS ()]",
            "a FETCH 1 BODY[]<0.0>",
            "a FETCH 1 BODY[]<5>",
            "a FETCH 1 BINARY",
            "a FETCH 1 BINARY[TEXT]",
            // RFC 3516 §4.5: section-binary is part numbers only, BINARY.SIZE
            // takes no partial, and a partial's count is non-zero.
            "a FETCH 1 BINARY[1.MIME]",
            "a FETCH 1 BINARY[1.HEADER]",
            "a FETCH 1 BINARY[0]",
            "a FETCH 1 BINARY[1.]",
            "a FETCH 1 BINARY.SIZE[1]<0.5>",
            "a FETCH 1 BINARY.SIZE",
            "a FETCH 1 BINARY.PEEK[1]<0.0>",
            "a FETCH 1 BINARY.PEEK[1]<5>",
            "a FETCH 1 BINARY.PEEK[1",
            "a FETCH 1 BINARY.BOGUS[1]",
            "a FETCH 1 BODY.PEEK",
            "a FETCH 1 (FLAGS) (VANISHED)",
            "a UID FETCH 1 (FLAGS) (VANISHED)",
            "a FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)",
            "a FETCH 1 (FLAGS) (BOGUS)",
            "a FETCH 1 FLAGS UID",
            "a FETCH 0 FLAGS",
        ] {
            let e = parse_command(bad.as_bytes()).unwrap_err();
            assert_eq!(e.tag.as_deref(), Some("a"), "{bad}");
        }
    }
}
