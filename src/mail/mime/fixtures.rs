//! Test messages shared by the MIME, section, search and IMAP rendering
//! tests.

/// Converts LF line ends to CRLF.
pub fn crlf(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

/// The message of Dovecot's BODYSTRUCTURE test (lib-imap
/// test-imap-bodystructure.c), whose expected output is known; stored here
/// with CRLF line ends, so its sizes equal Dovecot's CRLF-counted ones.
pub fn dovecot() -> Vec<u8> {
    crlf(concat!(
        "From: user@domain.org\n",
        "Date: Sat, 24 Mar 2007 23:00:00 +0200\n",
        "Mime-Version: 1.0\n",
        "Content-Type: multipart/mixed; boundary=\"foo\n",
        " bar\"\n",
        "\n",
        "Root MIME prologue\n",
        "\n",
        "--foo bar\n",
        "Content-Type: text/x-myown; charset=us-ascii; foo=\"quoted\\\"string\"\n",
        "Content-ID: <foo@example.com>\n",
        "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n",
        "Content-Disposition: inline; foo=bar\n",
        "Content-Description: hellodescription\n",
        "Content-Language: en, fi, se\n",
        "Content-Location: http://example.com/test.txt\n",
        "\n",
        "hello\n",
        "\n",
        "--foo bar\n",
        "Content-Type: message/rfc822\n",
        "\n",
        "From: sub@domain.org\n",
        "To: sub-to1@domain.org, sub-to2@domain.org\n",
        "Date: Sun, 12 Aug 2012 12:34:56 +0300\n",
        "Subject: submsg\n",
        "Content-Type: multipart/alternative; boundary=\"sub1\"\n",
        "\n",
        "Sub MIME prologue\n",
        "--sub1\n",
        "Content-Type: text/html\n",
        "Content-Transfer-Encoding: 8bit\n",
        "\n",
        "<p>Hello world</p>\n",
        "\n",
        "--sub1\n",
        "Content-Type: text/plain\n",
        "Content-Transfer-Encoding: ?invalid\n",
        "\n",
        "Hello another world\n",
        "\n",
        "--sub1--\n",
        "Sub MIME epilogue\n",
        "\n",
        "--foo bar--\n",
        "Root MIME epilogue\n",
    ))
}

/// A multipart/mixed with a text part, a nested multipart/alternative and
/// a base64 attachment.
pub fn nested() -> Vec<u8> {
    crlf(concat!(
        "From: \"Ann\" <ann@example.org>\n",
        "To: bob@example.org\n",
        "Subject: =?utf-8?Q?caf=C3=A9?= menu\n",
        "MIME-Version: 1.0\n",
        "Content-Type: multipart/mixed; boundary=outer\n",
        "\n",
        "preamble\n",
        "--outer\n",
        "Content-Type: multipart/alternative; boundary=inner\n",
        "\n",
        "--inner\n",
        "Content-Type: text/plain; charset=iso-8859-1\n",
        "Content-Transfer-Encoding: quoted-printable\n",
        "\n",
        "Cr=E8me br=FBl=E9e\n",
        "--inner\n",
        "Content-Type: text/html; charset=utf-8\n",
        "\n",
        "<p>Cr\u{e8}me <b>br\u{fb}l\u{e9}e</b></p>\n",
        "--inner--\n",
        "--outer\n",
        "Content-Type: application/pdf; name=\"menu.pdf\"\n",
        "Content-Disposition: attachment; filename*=utf-8''men%C3%BA.pdf\n",
        "Content-Transfer-Encoding: base64\n",
        "\n",
        "JVBERi0xLjQKc2VjcmV0IHdvcmQK\n",
        "--outer--\n",
        "epilogue\n",
    ))
}

/// Messages whose cached header fields must answer as their files do:
/// encoded words, folded fields, repeated fields, missing fields, bare LF
/// line ends and a header without its empty line.
pub fn header_cases() -> Vec<Vec<u8>> {
    [
        concat!(
            "Return-Path: <ann@example.org>\r\n",
            "From: =?utf-8?q?Ann=C3=A9e?= <ann@example.org>\r\n",
            "To: bob@example.org,\r\n",
            "\tcarl@example.org\r\n",
            "Subject: =?iso-8859-1?Q?Caf=E9?=\r\n",
            " =?utf-8?b?w6AgbGFpdA==?= au lait\r\n",
            "X-Tag: alpha\r\n",
            "Cc: dan@example.org\r\n",
            "Cc: eve@example.org\r\n",
            "List-Id: Talk <talk.example.org>\r\n",
            "\r\n",
            "Body with From: not a header\r\n",
        ),
        concat!(
            "Subject: no address fields\n",
            "Date: Mon, 1 Jan 2024 10:00:00 +0000\n",
            "\n",
            "To: body@example.org\n",
        ),
        concat!(
            "From: only@example.org\r\n",
            "Subject:\r\n",
            "Subject: second\r\n"
        ),
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}
