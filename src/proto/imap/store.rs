//! STORE arguments (RFC 9051 §6.4.6) with the UNCHANGEDSINCE modifier
//! (RFC 7162 §3.1.3).

use super::command::{StoreAction, StoreCommand, StoreMode};
use super::parse::{bad, Cursor, PResult};
use super::sequence;

/// Parses what follows `STORE` through the end of the command:
/// `SP sequence-set [SP "(" UNCHANGEDSINCE n ")"] SP store-att-flags`.
pub(crate) fn parse(c: &mut Cursor<'_>, uid: bool) -> PResult<StoreCommand> {
    c.sp()?;
    let set = sequence::parse(c, true)?;
    c.sp()?;
    let mut unchanged_since = None;
    if c.peek() == Some(b'(') {
        c.list(|c| {
            if !c.eat_word("UNCHANGEDSINCE") {
                return Err(bad("unknown STORE modifier"));
            }
            c.sp()?;
            // mod-sequence-valzer: zero is allowed (RFC 7162 §3.1.3).
            unchanged_since = Some(c.number64()?);
            Ok(())
        })?;
        c.sp()?;
    }
    // store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP
    //                   (flag-list / (flag *(SP flag)))
    let mode = if c.eat(b'+') {
        StoreMode::Add
    } else if c.eat(b'-') {
        StoreMode::Remove
    } else {
        StoreMode::Replace
    };
    let item = c.atom_upper()?;
    let silent = match item.as_str() {
        "FLAGS" => false,
        "FLAGS.SILENT" => true,
        _ => return Err(bad("expected FLAGS, +FLAGS or -FLAGS")),
    };
    c.sp()?;
    let flags = if c.peek() == Some(b'(') {
        c.flag_list()?
    } else {
        let mut flags = vec![c.flag()?];
        while c.eat(b' ') {
            c.charge(1)?;
            flags.push(c.flag()?);
        }
        flags
    };
    Ok(StoreCommand {
        uid,
        set,
        unchanged_since,
        action: StoreAction {
            mode,
            silent,
            flags,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::command::{CommandBody, Flag};
    use super::super::parse::parse_command;
    use super::*;

    fn st(text: &str) -> StoreCommand {
        match parse_command(text.as_bytes()).map(|c| c.body) {
            Ok(CommandBody::Store(s)) => s,
            other => panic!("{text:?}: {other:?}"),
        }
    }

    #[test]
    fn forms() {
        let s = st("A003 STORE 2:4 +FLAGS (\\Deleted)");
        assert_eq!(s.action.mode, StoreMode::Add);
        assert!(!s.action.silent && !s.uid);
        assert_eq!(s.action.flags, vec![Flag::Deleted]);
        let s = st("a UID STORE 5 -FLAGS.SILENT (\\Seen $Forwarded \\Custom)");
        assert_eq!(s.action.mode, StoreMode::Remove);
        assert!(s.action.silent && s.uid);
        assert_eq!(
            s.action.flags,
            vec![
                Flag::Seen,
                Flag::Keyword("$Forwarded".into()),
                Flag::Extension("Custom".into())
            ]
        );
        let s = st("a STORE 1 FLAGS ()");
        assert_eq!(s.action.mode, StoreMode::Replace);
        assert!(s.action.flags.is_empty());
        let s = st("a STORE 1 flags \\Answered \\Flagged \\Draft");
        assert_eq!(
            s.action.flags,
            vec![Flag::Answered, Flag::Flagged, Flag::Draft]
        );
        // RFC 7162 §3.1.3 example.
        let s = st("d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)");
        assert_eq!(s.unchanged_since, Some(320162338));
        assert!(s.action.silent);
        assert_eq!(st("a STORE $ +FLAGS (x)").set, sequence::SequenceSet::Saved);
    }

    #[test]
    fn errors() {
        for bad in [
            "a STORE 1 +FLAGS (\\Recent)",
            "a STORE 1 +FLAGS",
            "a STORE 1 FLAGZ (x)",
            "a STORE 1 +FLAGS (\\Seen",
            "a STORE 1 (BOGUS 5) FLAGS (x)",
            "a STORE 1 *FLAGS (x)",
            "a STORE 1 +FLAGS (\\*)",
        ] {
            let e = parse_command(bad.as_bytes()).unwrap_err();
            assert_eq!(e.tag.as_deref(), Some("a"), "{bad}");
        }
    }
}
