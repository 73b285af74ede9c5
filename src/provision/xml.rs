//! A small, bounded XML reader and the escaping used by the documents this
//! module writes.
//!
//! The only XML facteur reads from a peer is an Outlook autodiscover
//! request: a few elements and no more. This reader covers what such
//! documents use (XML 1.0 elements, attributes, character data, the five
//! predefined entities and character references, comments, CDATA and a
//! declaration) and refuses the rest. A document type with an internal
//! subset is refused, so no entity can be declared or expanded (the
//! "billion laughs" attack cannot happen). Input size, depth and element
//! count are capped.

use std::fmt;

/// Largest document accepted, in bytes. A real autodiscover request is
/// about 400 bytes.
pub const MAX_DOCUMENT: usize = 64 * 1024;
/// Deepest element nesting accepted.
pub const MAX_DEPTH: usize = 32;
/// Most elements in one document.
pub const MAX_ELEMENTS: usize = 4096;

/// One element: its local name (any `prefix:` removed), attributes and
/// children, and the character data directly inside it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// The local name.
    pub name: String,
    /// Attributes in document order, names as written (with any prefix).
    pub attrs: Vec<(String, String)>,
    /// Child elements in document order.
    pub children: Vec<Element>,
    /// Character data directly inside, concatenated, entities decoded.
    pub text: String,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The element at the end of a path of child names.
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |e, n| e.child(n))
    }

    /// The trimmed text of the element at a path of child names.
    pub fn text_at(&self, names: &[&str]) -> Option<&str> {
        self.path(names).map(|e| e.text.trim())
    }
}

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError(pub String);

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad XML: {}", self.0)
    }
}

impl std::error::Error for XmlError {}

fn err<T>(why: impl Into<String>) -> Result<T, XmlError> {
    Err(XmlError(why.into()))
}

/// Escapes text for element content and attribute values (XML 1.0 §2.4,
/// §3.3.3). Characters XML 1.0 does not allow (§2.2, e.g. most control
/// characters) are dropped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Parses a whole document and returns its root element.
pub fn parse(input: &[u8]) -> Result<Element, XmlError> {
    if input.len() > MAX_DOCUMENT {
        return err(format!("document over {MAX_DOCUMENT} bytes"));
    }
    let text = std::str::from_utf8(input).map_err(|_| XmlError("not UTF-8".into()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut p = Parser {
        rest: text,
        elements: 0,
    };
    p.misc()?;
    if !p.rest.starts_with('<') {
        return err("no root element");
    }
    let root = p.element(0)?;
    p.misc()?;
    if !p.rest.is_empty() {
        return err("content after the root element");
    }
    Ok(root)
}

struct Parser<'a> {
    rest: &'a str,
    elements: usize,
}

impl<'a> Parser<'a> {
    /// Skips white space, comments, processing instructions and a
    /// document type declaration without internal subset.
    fn misc(&mut self) -> Result<(), XmlError> {
        loop {
            self.rest = self.rest.trim_start();
            if self.rest.starts_with("<?") {
                self.skip_past("?>")?;
            } else if self.rest.starts_with("<!--") {
                self.skip_past("-->")?;
            } else if self.rest.starts_with("<!DOCTYPE") {
                let end = self
                    .rest
                    .find('>')
                    .ok_or(XmlError("unclosed DOCTYPE".into()))?;
                if self.rest.get(..end).is_some_and(|d| d.contains('[')) {
                    return err("document type with an internal subset");
                }
                self.rest = self.rest.get(end + 1..).unwrap_or_default();
            } else {
                return Ok(());
            }
        }
    }

    fn skip_past(&mut self, end: &str) -> Result<&'a str, XmlError> {
        let at = self
            .rest
            .find(end)
            .ok_or_else(|| XmlError(format!("no closing {end}")))?;
        let skipped = self.rest.get(..at).unwrap_or_default();
        self.rest = self.rest.get(at + end.len()..).unwrap_or_default();
        Ok(skipped)
    }

    fn name(&mut self) -> Result<&'a str, XmlError> {
        let end = self
            .rest
            .find(|c: char| c.is_whitespace() || matches!(c, '>' | '/' | '=' | '<'))
            .unwrap_or(self.rest.len());
        let name = self.rest.get(..end).unwrap_or_default();
        if name.is_empty() {
            return err("missing name");
        }
        self.rest = self.rest.get(end..).unwrap_or_default();
        Ok(name)
    }

    /// An element starting at `<`.
    fn element(&mut self, depth: usize) -> Result<Element, XmlError> {
        if depth >= MAX_DEPTH {
            return err(format!("elements nested over {MAX_DEPTH} deep"));
        }
        self.elements += 1;
        if self.elements > MAX_ELEMENTS {
            return err(format!("over {MAX_ELEMENTS} elements"));
        }
        self.rest = self.rest.get(1..).unwrap_or_default();
        let qname = self.name()?;
        let mut el = Element {
            name: local(qname).to_string(),
            ..Element::default()
        };
        loop {
            self.rest = self.rest.trim_start();
            if let Some(r) = self.rest.strip_prefix("/>") {
                self.rest = r;
                return Ok(el);
            }
            if let Some(r) = self.rest.strip_prefix('>') {
                self.rest = r;
                break;
            }
            let attr = self.name()?.to_string();
            self.rest = self.rest.trim_start();
            self.rest = self
                .rest
                .strip_prefix('=')
                .ok_or_else(|| XmlError(format!("attribute {attr} without a value")))?
                .trim_start();
            let quote = match self.rest.chars().next() {
                Some(q @ ('"' | '\'')) => q,
                _ => return err(format!("attribute {attr} not quoted")),
            };
            self.rest = self.rest.get(1..).unwrap_or_default();
            let end = self
                .rest
                .find(quote)
                .ok_or_else(|| XmlError(format!("attribute {attr} not closed")))?;
            let raw = self.rest.get(..end).unwrap_or_default();
            if raw.contains('<') {
                return err(format!("'<' in attribute {attr}"));
            }
            el.attrs.push((attr, decode(raw)?));
            self.rest = self.rest.get(end + 1..).unwrap_or_default();
        }
        loop {
            let next = self
                .rest
                .find('<')
                .ok_or(XmlError(format!("element {} not closed", el.name)))?;
            el.text
                .push_str(&decode(self.rest.get(..next).unwrap_or_default())?);
            self.rest = self.rest.get(next..).unwrap_or_default();
            if let Some(r) = self.rest.strip_prefix("</") {
                self.rest = r;
                let end = self.name()?;
                if end != qname {
                    return err(format!("<{qname}> closed by </{end}>"));
                }
                self.rest = self.rest.trim_start();
                self.rest = self
                    .rest
                    .strip_prefix('>')
                    .ok_or_else(|| XmlError(format!("bad </{end}>")))?;
                return Ok(el);
            } else if self.rest.starts_with("<!--") {
                self.skip_past("-->")?;
            } else if let Some(r) = self.rest.strip_prefix("<![CDATA[") {
                self.rest = r;
                let data = self.skip_past("]]>")?;
                el.text.push_str(data);
            } else if self.rest.starts_with("<?") {
                self.skip_past("?>")?;
            } else if self.rest.starts_with("<!") {
                return err("declaration inside an element");
            } else {
                let child = self.element(depth + 1)?;
                el.children.push(child);
            }
        }
    }
}

/// The local part of a qualified name (XML Namespaces §4).
fn local(qname: &str) -> &str {
    qname.rsplit(':').next().unwrap_or(qname)
}

/// Decodes character data: the predefined entities and character
/// references (XML 1.0 §4.1, §4.6). Any other entity is an error, since no
/// document type may declare one.
fn decode(raw: &str) -> Result<String, XmlError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(rest.get(..at).unwrap_or_default());
        rest = rest.get(at + 1..).unwrap_or_default();
        let end = rest.find(';').ok_or(XmlError("'&' without ';'".into()))?;
        let name = rest.get(..end).unwrap_or_default();
        rest = rest.get(end + 1..).unwrap_or_default();
        let c = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = name.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = name.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| XmlError(format!("unknown entity &{name};")))?
            }
        };
        out.push(c);
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_document() {
        let doc = br#"<?xml version="1.0" encoding="utf-8"?>
<!-- a comment -->
<a:Root xmlns:a="urn:x" id='1'>
  <Item k="&lt;&amp;&quot;">one &amp; &#65;&#x42;</Item>
  <Item/>
  <!-- inside -->
  <Text><![CDATA[<raw>]]></Text>
</a:Root>"#;
        let root = parse(doc).expect("parses");
        assert_eq!(root.name, "Root");
        assert_eq!(root.attr("id"), Some("1"));
        let items: Vec<&Element> = root.children_named("Item").collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].attr("k"), Some("<&\""));
        assert_eq!(items[0].text, "one & AB");
        assert_eq!(root.text_at(&["Text"]), Some("<raw>"));
    }

    #[test]
    fn refuses_what_it_does_not_read() {
        for bad in [
            &b""[..],
            b"text",
            b"<a>",
            b"<a></b>",
            b"<a x=1/>",
            b"<a>&unknown;</a>",
            b"<a>&amp</a>",
            b"<a/><b/>",
            b"<!DOCTYPE a [<!ENTITY x \"xx\">]><a>&x;</a>",
            b"<a><!DOCTYPE b></a>",
            b"\xff<a/>",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = format!(
            "{}{}",
            "<a>".repeat(MAX_DEPTH + 1),
            "</a>".repeat(MAX_DEPTH + 1)
        );
        assert!(parse(deep.as_bytes()).is_err());
        let many = format!("<r>{}</r>", "<a/>".repeat(MAX_ELEMENTS));
        assert!(parse(many.as_bytes()).is_err());
        assert!(parse(&vec![b' '; MAX_DOCUMENT + 1]).is_err());
    }

    #[test]
    fn every_prefix_of_a_document_is_refused_or_whole() {
        let doc = b"<a x=\"1\"><b>t&amp;</b><c/></a>";
        for cut in 0..doc.len() {
            assert!(parse(&doc[..cut]).is_err(), "cut at {cut}");
        }
        assert!(parse(doc).is_ok());
    }

    #[test]
    fn escaping_round_trips() {
        let nasty = "a<b>&\"c'\u{1}d";
        let doc = format!("<r v=\"{0}\">{0}</r>", escape(nasty));
        let r = parse(doc.as_bytes()).expect("parses");
        assert_eq!(r.text, "a<b>&\"c'd");
        assert_eq!(r.attr("v"), Some("a<b>&\"c'd"));
    }
}
