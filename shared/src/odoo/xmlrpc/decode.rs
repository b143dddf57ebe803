//! Streaming XML-RPC decoder: XML tokens straight into [`Value`]s, without a DOM.
//!
//! One grammar ([`Parser`]) runs over either of two lexers:
//! - [`QuickLexer`], quick-xml's event reader over the byte slice: the reference, accepting all
//!   well-formed XML-RPC (comments, CDATA, declarations with an encoding, CRLF line ends…) and
//!   producing every error the caller sees;
//! - [`FastLexer`], a tokenizer for the canonical subset that Odoo and Python's `xmlrpc.client`
//!   actually write (bare tags without attributes, the predefined entities and character
//!   references, no comments, CDATA or CR). It is tried first because quick-xml's per-event
//!   cost alone is over a third of the time budget the issue sets (20× Python); on anything
//!   outside its subset, and on every error, the document is decoded again by quick-xml, so
//!   behaviour and error messages are quick-xml's. Where the fast path succeeds it must give
//!   the same value as quick-xml: the unit tests, the property tests and the fuzz target (which
//!   compiles with `cfg(fuzzing)`, making every decode run both and compare) check that.
//!
//! There is no recursion: arrays and structs being built live on explicit stacks, so hostile
//! nesting costs heap bounded by [`Limits::max_depth`] instead of overflowing the thread's
//! stack, and an over-deep document is refused before its inner values are read. Elements of
//! open containers are gathered on two scratch stacks and moved into an exactly-sized `Vec`
//! when the container closes, so the only allocations are the result's own. Text is borrowed
//! from the input unless entities have to be replaced. DOCTYPE declarations and entities other
//! than the five predefined ones and numeric character references are refused, which rules out
//! entity-expansion attacks by construction.

use std::borrow::Cow;
use std::marker::PhantomData;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use quick_xml::events::{BytesRef, Event};
use quick_xml::Reader;

use super::{Fault, Limits, MethodCall, MethodResponse, Value};

/// Why a document was refused. Positions are byte offsets into the input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed XML at byte {position}: {message}")]
    Malformed { position: u64, message: String },
    #[error("invalid UTF-8 at byte {position}")]
    InvalidUtf8 { position: u64 },
    #[error("unsupported document encoding {0:?} (only UTF-8 is accepted)")]
    UnsupportedEncoding(String),
    #[error("unexpected {found} at byte {position}, expected {expected}")]
    Unexpected {
        position: u64,
        found: String,
        expected: &'static str,
    },
    #[error("missing {element} at byte {position}")]
    Missing {
        position: u64,
        element: &'static str,
    },
    #[error("unexpected end of document at byte {position}, expected {expected}")]
    UnexpectedEof {
        position: u64,
        expected: &'static str,
    },
    #[error("bad <int> value {text:?} at byte {position}")]
    BadInt { position: u64, text: String },
    #[error("bad <double> value {text:?} at byte {position}")]
    BadDouble { position: u64, text: String },
    #[error("bad <boolean> value {text:?} at byte {position} (expected 0 or 1)")]
    BadBoolean { position: u64, text: String },
    #[error("bad <base64> content at byte {position}: {message}")]
    BadBase64 { position: u64, message: String },
    #[error("entity &{entity}; at byte {position} refused (only &amp; &lt; &gt; &quot; &apos; and character references are allowed)")]
    BadEntity { position: u64, entity: String },
    #[error("DOCTYPE/DTD declaration at byte {position} refused")]
    Doctype { position: u64 },
    #[error("nesting deeper than {max_depth} arrays/structs at byte {position}")]
    TooDeep { position: u64, max_depth: usize },
    #[error("document of {size} bytes is larger than the limit of {max_bytes} bytes")]
    TooLarge { size: usize, max_bytes: usize },
    #[error("bad fault: {0}")]
    BadFault(&'static str),
}

/// Decodes a `<methodResponse>`: exactly one `<param>` or a `<fault>`.
pub fn decode_response(bytes: &[u8], limits: &Limits) -> Result<MethodResponse, DecodeError> {
    check_size(bytes, limits)?;
    let fast = Parser::new(FastLexer::new(bytes), limits).response();
    if let Ok(response) = fast {
        #[allow(unexpected_cfgs)]
        if cfg!(fuzzing) {
            let reference = Parser::new(QuickLexer::new(bytes), limits).response();
            assert_eq!(reference.as_ref(), Ok(&response), "fast path diverges");
        }
        return Ok(response);
    }
    Parser::new(QuickLexer::new(bytes), limits).response()
}

/// Decodes a `<methodCall>`: a `<methodName>` and any number of `<param>`s (`<params>` itself
/// may be left out, as the specification allows).
pub fn decode_call(bytes: &[u8], limits: &Limits) -> Result<MethodCall, DecodeError> {
    check_size(bytes, limits)?;
    let fast = Parser::new(FastLexer::new(bytes), limits).call();
    if let Ok(call) = fast {
        #[allow(unexpected_cfgs)]
        if cfg!(fuzzing) {
            let reference = Parser::new(QuickLexer::new(bytes), limits).call();
            assert_eq!(reference.as_ref(), Ok(&call), "fast path diverges");
        }
        return Ok(call);
    }
    Parser::new(QuickLexer::new(bytes), limits).call()
}

fn check_size(bytes: &[u8], limits: &Limits) -> Result<(), DecodeError> {
    if bytes.len() > limits.max_bytes {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            max_bytes: limits.max_bytes,
        });
    }
    Ok(())
}

/// Turns the decoded `<fault>` value into a [`Fault`]; Odoo always sends both members.
fn fault_from(value: Value) -> Result<Fault, DecodeError> {
    let Value::Struct(members) = value else {
        return Err(DecodeError::BadFault("<fault> value is not a struct"));
    };
    let mut code = None;
    let mut message = None;
    for (name, value) in members {
        match (name.as_str(), value) {
            ("faultCode", Value::Int(c)) => code = Some(c),
            ("faultCode", _) => return Err(DecodeError::BadFault("faultCode is not an int")),
            ("faultString", Value::String(s)) => message = Some(s),
            ("faultString", _) => return Err(DecodeError::BadFault("faultString is not a string")),
            // Unknown members are tolerated, as Python's client does.
            _ => {}
        }
    }
    match (code, message) {
        (Some(code), Some(message)) => Ok(Fault { code, message }),
        (None, _) => Err(DecodeError::BadFault("faultCode missing")),
        (_, None) => Err(DecodeError::BadFault("faultString missing")),
    }
}

/// The element names XML-RPC uses, classified once per tag so the grammar matches on a small
/// enum; any other name is kept (for the error message) in [`Decoder::other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum El {
    MethodResponse,
    MethodCall,
    MethodName,
    Params,
    Param,
    Fault,
    Value,
    Array,
    Data,
    Struct,
    Member,
    Name,
    String,
    Int,
    I4,
    I8,
    ExI8,
    Boolean,
    Double,
    DateTime,
    Base64,
    Nil,
    ExNil,
    Other,
}

impl El {
    fn classify(name: &[u8]) -> El {
        match name {
            b"value" => El::Value,
            b"member" => El::Member,
            b"name" => El::Name,
            b"string" => El::String,
            b"int" => El::Int,
            b"boolean" => El::Boolean,
            b"struct" => El::Struct,
            b"array" => El::Array,
            b"data" => El::Data,
            b"double" => El::Double,
            b"i4" => El::I4,
            b"i8" => El::I8,
            b"nil" => El::Nil,
            b"dateTime.iso8601" => El::DateTime,
            b"base64" => El::Base64,
            b"param" => El::Param,
            b"params" => El::Params,
            b"fault" => El::Fault,
            b"methodResponse" => El::MethodResponse,
            b"methodCall" => El::MethodCall,
            b"methodName" => El::MethodName,
            b"ex:i8" => El::ExI8,
            b"ex:nil" => El::ExNil,
            _ => El::Other,
        }
    }

    /// The known name `bytes` starts with, and its length. Where one name is a prefix of
    /// another the longer is tried first; the caller checks that the tag ends right after.
    fn prefix_of(b: &[u8]) -> Option<(El, usize)> {
        // Constant-length comparisons compile to a load or two, where a table of slices would
        // call memcmp for every tag.
        fn is<const N: usize>(b: &[u8], name: &[u8; N]) -> bool {
            b.get(..N) == Some(&name[..])
        }
        Some(match b.first()? {
            b'v' if is(b, b"value") => (El::Value, 5),
            b'm' if is(b, b"member") => (El::Member, 6),
            b'n' if is(b, b"name") => (El::Name, 4),
            b's' if is(b, b"string") => (El::String, 6),
            b's' if is(b, b"struct") => (El::Struct, 6),
            b'i' if is(b, b"int") => (El::Int, 3),
            b'b' if is(b, b"boolean") => (El::Boolean, 7),
            b'a' if is(b, b"array") => (El::Array, 5),
            b'd' if is(b, b"data") => (El::Data, 4),
            b'd' if is(b, b"double") => (El::Double, 6),
            b'd' if is(b, b"dateTime.iso8601") => (El::DateTime, 16),
            b'n' if is(b, b"nil") => (El::Nil, 3),
            b'i' if is(b, b"i4") => (El::I4, 2),
            b'i' if is(b, b"i8") => (El::I8, 2),
            b'b' if is(b, b"base64") => (El::Base64, 6),
            b'p' if is(b, b"params") => (El::Params, 6),
            b'p' if is(b, b"param") => (El::Param, 5),
            b'f' if is(b, b"fault") => (El::Fault, 5),
            b'm' if is(b, b"methodResponse") => (El::MethodResponse, 14),
            b'm' if is(b, b"methodCall") => (El::MethodCall, 10),
            b'm' if is(b, b"methodName") => (El::MethodName, 10),
            b'e' if is(b, b"ex:i8") => (El::ExI8, 5),
            b'e' if is(b, b"ex:nil") => (El::ExNil, 6),
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            El::MethodResponse => "methodResponse",
            El::MethodCall => "methodCall",
            El::MethodName => "methodName",
            El::Params => "params",
            El::Param => "param",
            El::Fault => "fault",
            El::Value => "value",
            El::Array => "array",
            El::Data => "data",
            El::Struct => "struct",
            El::Member => "member",
            El::Name => "name",
            El::String => "string",
            El::Int => "int",
            El::I4 => "i4",
            El::I8 => "i8",
            El::ExI8 => "ex:i8",
            El::Boolean => "boolean",
            El::Double => "double",
            El::DateTime => "dateTime.iso8601",
            El::Base64 => "base64",
            El::Nil => "nil",
            El::ExNil => "ex:nil",
            El::Other => "?",
        }
    }
}

/// A structural token.
#[derive(Debug, Clone, Copy)]
enum Tag {
    Start(El),
    End(El),
    Empty(El),
    Eof,
}

/// Text gathered up to the next tag: borrowed while it is one untouched slice of the input,
/// owned once an entity has been replaced.
enum Text<'a> {
    Empty,
    Borrowed(&'a str),
    Owned(String),
}

impl<'a> Text<'a> {
    fn push_borrowed(&mut self, piece: &'a str) {
        match self {
            Text::Empty => *self = Text::Borrowed(piece),
            _ => self.push_str(piece),
        }
    }

    fn push_str(&mut self, piece: &str) {
        match self {
            Text::Empty => *self = Text::Owned(piece.to_owned()),
            Text::Borrowed(first) => {
                let mut s = String::with_capacity(first.len() + piece.len() + 8);
                s.push_str(first);
                s.push_str(piece);
                *self = Text::Owned(s);
            }
            Text::Owned(s) => s.push_str(piece),
        }
    }

    fn push_cow(&mut self, piece: Cow<'a, str>) {
        match piece {
            Cow::Borrowed(b) => self.push_borrowed(b),
            Cow::Owned(o) => self.push_str(&o),
        }
    }

    fn push_char(&mut self, c: char) {
        self.push_str(c.encode_utf8(&mut [0u8; 4]));
    }

    fn as_str(&self) -> &str {
        match self {
            Text::Empty => "",
            Text::Borrowed(s) => s,
            Text::Owned(s) => s,
        }
    }

    fn into_cow(self) -> Cow<'a, str> {
        match self {
            Text::Empty => Cow::Borrowed(""),
            Text::Borrowed(s) => Cow::Borrowed(s),
            Text::Owned(s) => Cow::Owned(s),
        }
    }

    fn into_string(self) -> String {
        match self {
            Text::Empty => String::new(),
            Text::Borrowed(s) => s.to_owned(),
            Text::Owned(s) => s,
        }
    }
}

/// Replaces an entity reference (`name` is what stands between `&` and `;`). Character
/// references are resolved by quick-xml in both lexers, so they agree on what is valid.
fn resolve_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ if name.starts_with('#') => BytesRef::new(name).resolve_char_ref().ok().flatten(),
        _ => None,
    }
}

/// Base64 as Python writes and reads it: standard alphabet, padding optional.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// How much of a bad token an error message quotes: input is attacker-controlled.
const QUOTE_MAX: usize = 40;

fn quote(s: &str) -> String {
    match s.char_indices().nth(QUOTE_MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn quote_bytes(b: &[u8]) -> String {
    quote(&String::from_utf8_lossy(&b[..b.len().min(QUOTE_MAX * 4)]))
}

fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// What the grammar needs from a tokenizer.
trait Lexer<'a> {
    /// Byte offset of the token last read, for error messages.
    fn pos(&self) -> u64;
    /// The name of the last element that was not an XML-RPC one, for error messages.
    fn other_name(&self) -> &str;
    /// Skips the prolog (declaration, comments, whitespace) and consumes the root start tag.
    fn root(&mut self, root: El, expected: &'static str) -> Result<(), DecodeError>;
    /// The next tag (or EOF), skipping whitespace (and, in quick-xml, comments and PIs);
    /// other text is an error.
    fn next_tag(&mut self, expected: &'static str) -> Result<Tag, DecodeError>;
    /// The text up to the next tag, with entities replaced, and that tag.
    fn text_until_tag(&mut self) -> Result<(Text<'a>, Tag), DecodeError>;
}

/// The reference tokenizer: quick-xml's event reader over the byte slice.
struct QuickLexer<'a> {
    reader: Reader<&'a [u8]>,
    /// Offset where the event being handled starts.
    pos: u64,
    other: String,
}

impl<'a> QuickLexer<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        let mut reader = Reader::from_reader(bytes);
        let config = reader.config_mut();
        // The grammar checks every end tag's name itself, so quick-xml's own check (which copies
        // each open tag's name into a buffer) would be redundant work.
        config.check_end_names = false;
        config.trim_text(false);
        QuickLexer {
            reader,
            pos: 0,
            other: String::new(),
        }
    }

    /// The next event, with quick-xml errors mapped and DOCTYPEs refused.
    fn event(&mut self) -> Result<Event<'a>, DecodeError> {
        self.pos = self.reader.buffer_position();
        match self.reader.read_event() {
            Ok(Event::DocType(_)) => Err(DecodeError::Doctype { position: self.pos }),
            Ok(ev) => Ok(ev),
            Err(e) => Err(DecodeError::Malformed {
                position: self.reader.error_position(),
                message: quote_long(&e.to_string()),
            }),
        }
    }

    fn classify(&mut self, name: &[u8]) -> El {
        let el = El::classify(name);
        if el == El::Other {
            self.other = quote_bytes(name);
        }
        el
    }

    fn unexpected_event(&self, found: &str, expected: &'static str) -> DecodeError {
        DecodeError::Unexpected {
            position: self.pos,
            found: found.to_owned(),
            expected,
        }
    }
}

impl<'a> Lexer<'a> for QuickLexer<'a> {
    fn pos(&self) -> u64 {
        self.pos
    }

    fn other_name(&self) -> &str {
        &self.other
    }

    fn root(&mut self, root: El, expected: &'static str) -> Result<(), DecodeError> {
        loop {
            match self.event()? {
                Event::Decl(d) => {
                    if let Some(enc) = d.encoding() {
                        let enc = enc.map_err(|e| DecodeError::Malformed {
                            position: self.pos,
                            message: quote_long(&e.to_string()),
                        })?;
                        let utf8 = [&b"utf-8"[..], b"utf8", b"us-ascii", b"ascii"]
                            .iter()
                            .any(|name| enc.eq_ignore_ascii_case(name));
                        if !utf8 {
                            return Err(DecodeError::UnsupportedEncoding(quote_bytes(&enc)));
                        }
                    }
                }
                Event::Comment(_) | Event::PI(_) => {}
                Event::Text(t) if t.iter().all(|&b| is_xml_space(b)) => {}
                Event::Start(e) if El::classify(e.name().into_inner()) == root => return Ok(()),
                Event::Start(e) | Event::Empty(e) => {
                    let found = format!("<{}>", quote_bytes(e.name().into_inner()));
                    return Err(self.unexpected_event(&found, expected));
                }
                Event::Eof => {
                    return Err(DecodeError::UnexpectedEof {
                        position: self.pos,
                        expected,
                    })
                }
                _ => return Err(self.unexpected_event("content before the root element", expected)),
            }
        }
    }

    fn next_tag(&mut self, expected: &'static str) -> Result<Tag, DecodeError> {
        loop {
            match self.event()? {
                Event::Start(e) => return Ok(Tag::Start(self.classify(e.name().into_inner()))),
                Event::End(e) => return Ok(Tag::End(self.classify(e.name().into_inner()))),
                Event::Empty(e) => return Ok(Tag::Empty(self.classify(e.name().into_inner()))),
                Event::Eof => return Ok(Tag::Eof),
                Event::Text(t) => {
                    if let Some(&b) = t.iter().find(|&&b| !is_xml_space(b)) {
                        let found = format!("text starting with {:?}", quote_bytes(&[b]));
                        return Err(self.unexpected_event(&found, expected));
                    }
                }
                Event::Comment(_) | Event::PI(_) => {}
                Event::Decl(_) => return Err(self.unexpected_event("XML declaration", expected)),
                Event::CData(_) => return Err(self.unexpected_event("CDATA section", expected)),
                Event::GeneralRef(r) => {
                    let found = format!("&{};", quote_bytes(&r));
                    return Err(self.unexpected_event(&found, expected));
                }
                Event::DocType(_) => return Err(DecodeError::Doctype { position: self.pos }),
            }
        }
    }

    fn text_until_tag(&mut self) -> Result<(Text<'a>, Tag), DecodeError> {
        let mut text = Text::Empty;
        loop {
            let utf8_error = |pos| DecodeError::InvalidUtf8 { position: pos };
            match self.event()? {
                Event::Text(t) => {
                    text.push_cow(t.xml10_content().map_err(|_| utf8_error(self.pos))?)
                }
                Event::CData(c) => {
                    text.push_cow(c.xml10_content().map_err(|_| utf8_error(self.pos))?)
                }
                Event::GeneralRef(r) => {
                    let name = r.decode().map_err(|_| utf8_error(self.pos))?;
                    match resolve_entity(&name) {
                        Some(c) => text.push_char(c),
                        None => {
                            return Err(DecodeError::BadEntity {
                                position: self.pos,
                                entity: quote(&name),
                            })
                        }
                    }
                }
                Event::Comment(_) | Event::PI(_) => {}
                Event::Start(e) => {
                    return Ok((text, Tag::Start(self.classify(e.name().into_inner()))))
                }
                Event::End(e) => return Ok((text, Tag::End(self.classify(e.name().into_inner())))),
                Event::Empty(e) => {
                    return Ok((text, Tag::Empty(self.classify(e.name().into_inner()))))
                }
                Event::Eof => return Ok((text, Tag::Eof)),
                Event::Decl(_) => return Err(self.unexpected_event("XML declaration", "text")),
                Event::DocType(_) => return Err(DecodeError::Doctype { position: self.pos }),
            }
        }
    }
}

/// The tokenizer for the canonical subset (see the module documentation). Its errors never
/// reach the caller, who decodes again with [`QuickLexer`]; they only need to be errors.
struct FastLexer<'a> {
    /// The whole input, checked to be UTF-8 once up front: every slice the lexer takes starts
    /// and ends next to ASCII markup bytes, so it is valid UTF-8 too without checking again.
    input: &'a str,
    at: usize,
}

impl<'a> FastLexer<'a> {
    /// Input that is not UTF-8 is left to quick-xml (as an empty input, which the grammar
    /// refuses at once).
    fn new(input: &'a [u8]) -> Self {
        FastLexer {
            input: std::str::from_utf8(input).unwrap_or(""),
            at: 0,
        }
    }

    fn outside_subset(&self) -> DecodeError {
        DecodeError::Malformed {
            position: self.at as u64,
            message: "outside the fast path's subset".into(),
        }
    }

    /// Reads the tag starting at `self.input[i] == b'<'`: `<name>`, `</name>` or `<name/>`
    /// with a known XML-RPC name and nothing else inside the brackets.
    fn tag_at(&mut self, i: usize) -> Result<Tag, DecodeError> {
        let b = self.input.as_bytes();
        let mut j = i + 1;
        let end = b.get(j) == Some(&b'/');
        if end {
            j += 1;
        }
        let (el, len) = El::prefix_of(&b[j.min(b.len())..]).ok_or_else(|| self.outside_subset())?;
        j += len;
        match (b.get(j), end) {
            (Some(b'>'), false) => {
                self.at = j + 1;
                Ok(Tag::Start(el))
            }
            (Some(b'>'), true) => {
                self.at = j + 1;
                Ok(Tag::End(el))
            }
            (Some(b'/'), false) if b.get(j + 1) == Some(&b'>') => {
                self.at = j + 2;
                Ok(Tag::Empty(el))
            }
            _ => Err(self.outside_subset()),
        }
    }
}

impl<'a> Lexer<'a> for FastLexer<'a> {
    fn pos(&self) -> u64 {
        self.at as u64
    }

    fn other_name(&self) -> &str {
        "?"
    }

    fn root(&mut self, root: El, expected: &'static str) -> Result<(), DecodeError> {
        // Odoo's and Python's declarations; anything else (an encoding, a BOM, comments) is
        // quick-xml's job.
        for decl in [&b"<?xml version=\"1.0\"?>"[..], b"<?xml version='1.0'?>"] {
            if self.input.as_bytes().starts_with(decl) {
                self.at = decl.len();
                break;
            }
        }
        match self.next_tag(expected)? {
            Tag::Start(el) if el == root => Ok(()),
            _ => Err(self.outside_subset()),
        }
    }

    fn next_tag(&mut self, _expected: &'static str) -> Result<Tag, DecodeError> {
        let b = self.input.as_bytes();
        let mut i = self.at;
        while i < b.len() && is_xml_space(b[i]) {
            i += 1;
        }
        self.at = i;
        match b.get(i) {
            None => Ok(Tag::Eof),
            Some(b'<') => self.tag_at(i),
            Some(_) => Err(self.outside_subset()),
        }
    }

    fn text_until_tag(&mut self) -> Result<(Text<'a>, Tag), DecodeError> {
        let input = self.input;
        let b = input.as_bytes();
        let mut text = Text::Empty;
        let mut i = self.at;
        loop {
            let run = i;
            while i < b.len() && !matches!(b[i], b'<' | b'&' | b'\r') {
                i += 1;
            }
            if i > run {
                // `run` and `i` sit at ASCII bytes (or the ends), so these are char boundaries.
                let piece = input.get(run..i).ok_or_else(|| self.outside_subset())?;
                text.push_borrowed(piece);
            }
            match b.get(i) {
                None => {
                    self.at = i;
                    return Ok((text, Tag::Eof));
                }
                Some(b'<') => {
                    let tag = self.tag_at(i)?;
                    return Ok((text, tag));
                }
                Some(b'&') => {
                    // Like quick-xml: the reference runs to the next `;`, and `<` or `&` first
                    // is an error.
                    let name_start = i + 1;
                    let mut k = name_start;
                    while k < b.len() && !matches!(b[k], b';' | b'<' | b'&') {
                        k += 1;
                    }
                    if b.get(k) != Some(&b';') {
                        return Err(self.outside_subset());
                    }
                    let c = input
                        .get(name_start..k)
                        .and_then(resolve_entity)
                        .ok_or_else(|| self.outside_subset())?;
                    text.push_char(c);
                    i = k + 1;
                }
                // `\r` needs XML's line-end normalisation.
                Some(_) => return Err(self.outside_subset()),
            }
        }
    }
}

/// What follows in an open array or struct.
enum Next {
    /// A `<value>` start was consumed: decode its content.
    Value,
    /// A `<value/>`: an empty string.
    EmptyValue,
    /// The container's closing tags through its `</value>` were consumed.
    Closed,
}

/// What a `<value>` turned out to hold.
enum Opened {
    /// A complete value; its `</value>` was consumed.
    Done(Value),
    /// `<array><data>` was consumed.
    Array,
    /// `<struct>` was consumed.
    Struct,
}

/// An array or struct under construction: where its elements start on the scratch stack and,
/// for a struct, the name of the member whose value is being decoded.
enum Frame {
    Array(usize),
    Struct(usize, String),
}

/// A step of the value loop.
enum Step {
    /// A value is complete and goes into its parent (or is the result).
    Attach(Value),
    /// The parent says what comes next.
    Then(Next),
}

/// The XML-RPC grammar over a [`Lexer`].
struct Parser<'a, L> {
    lex: L,
    max_depth: usize,
    /// Elements of the open arrays, innermost last.
    items: Vec<Value>,
    /// Members of the open structs, innermost last.
    members: Vec<(String, Value)>,
    _input: PhantomData<&'a [u8]>,
}

impl<'a, L: Lexer<'a>> Parser<'a, L> {
    fn new(lex: L, limits: &Limits) -> Self {
        Parser {
            lex,
            max_depth: limits.max_depth,
            items: Vec::new(),
            members: Vec::new(),
            _input: PhantomData,
        }
    }

    fn response(mut self) -> Result<MethodResponse, DecodeError> {
        self.lex.root(El::MethodResponse, "<methodResponse>")?;
        let response = match self.lex.next_tag("<params> or <fault>")? {
            Tag::Start(El::Params) => {
                match self.lex.next_tag("<param>")? {
                    Tag::Start(El::Param) => {}
                    Tag::End(El::Params) => return Err(self.missing("<param> in <params>")),
                    other => return Err(self.unexpected(other, "<param>")),
                }
                let value = self.param_value()?;
                self.expect_end(El::Params, "</params> (a response has exactly one <param>)")?;
                MethodResponse::Success(value)
            }
            Tag::Empty(El::Params) => return Err(self.missing("<param> in <params>")),
            Tag::Start(El::Fault) => {
                let value = if self.expect_value_start("<value> in <fault>")? {
                    self.value()?
                } else {
                    Value::String(String::new())
                };
                self.expect_end(El::Fault, "</fault>")?;
                MethodResponse::Fault(fault_from(value)?)
            }
            other => return Err(self.unexpected(other, "<params> or <fault>")),
        };
        self.expect_end(El::MethodResponse, "</methodResponse>")?;
        self.expect_eof()?;
        Ok(response)
    }

    fn call(mut self) -> Result<MethodCall, DecodeError> {
        self.lex.root(El::MethodCall, "<methodCall>")?;
        let method = match self.lex.next_tag("<methodName>")? {
            Tag::Start(El::MethodName) => self.text(El::MethodName)?.into_owned(),
            Tag::Empty(El::MethodName) => String::new(),
            other => return Err(self.unexpected(other, "<methodName>")),
        };
        let mut params = Vec::new();
        match self.lex.next_tag("<params> or </methodCall>")? {
            Tag::Start(El::Params) => {
                loop {
                    match self.lex.next_tag("<param> or </params>")? {
                        Tag::Start(El::Param) => params.push(self.param_value()?),
                        Tag::End(El::Params) => break,
                        other => return Err(self.unexpected(other, "<param> or </params>")),
                    }
                }
                self.expect_end(El::MethodCall, "</methodCall>")?;
            }
            Tag::Empty(El::Params) => self.expect_end(El::MethodCall, "</methodCall>")?,
            Tag::End(El::MethodCall) => {}
            other => return Err(self.unexpected(other, "<params> or </methodCall>")),
        }
        self.expect_eof()?;
        Ok(MethodCall { method, params })
    }

    /// After the root element only whitespace (and, for quick-xml, comments and PIs) may
    /// follow.
    fn expect_eof(&mut self) -> Result<(), DecodeError> {
        match self.lex.next_tag("end of document")? {
            Tag::Eof => Ok(()),
            other => Err(self.unexpected(other, "end of document")),
        }
    }

    fn expect_end(&mut self, name: El, expected: &'static str) -> Result<(), DecodeError> {
        match self.lex.next_tag(expected)? {
            Tag::End(n) if n == name => Ok(()),
            other => Err(self.unexpected(other, expected)),
        }
    }

    /// Consumes `<value>` (or `<value/>`, returning `false` for it).
    fn expect_value_start(&mut self, expected: &'static str) -> Result<bool, DecodeError> {
        match self.lex.next_tag(expected)? {
            Tag::Start(El::Value) => Ok(true),
            Tag::Empty(El::Value) => Ok(false),
            other => Err(self.unexpected(other, expected)),
        }
    }

    /// Decodes `<value>…</value></param>` after `<param>`.
    fn param_value(&mut self) -> Result<Value, DecodeError> {
        let value = if self.expect_value_start("<value> in <param>")? {
            self.value()?
        } else {
            Value::String(String::new())
        };
        self.expect_end(El::Param, "</param>")?;
        Ok(value)
    }

    fn name_of(&self, el: El) -> &str {
        if el == El::Other {
            self.lex.other_name()
        } else {
            el.as_str()
        }
    }

    fn unexpected(&self, tag: Tag, expected: &'static str) -> DecodeError {
        let found = match tag {
            Tag::Start(n) => format!("<{}>", self.name_of(n)),
            Tag::End(n) => format!("</{}>", self.name_of(n)),
            Tag::Empty(n) => format!("<{}/>", self.name_of(n)),
            Tag::Eof => {
                return DecodeError::UnexpectedEof {
                    position: self.lex.pos(),
                    expected,
                }
            }
        };
        DecodeError::Unexpected {
            position: self.lex.pos(),
            found,
            expected,
        }
    }

    fn missing(&self, element: &'static str) -> DecodeError {
        DecodeError::Missing {
            position: self.lex.pos(),
            element,
        }
    }

    /// The text content of a leaf element whose start tag was consumed, through its end tag.
    fn text(&mut self, name: El) -> Result<Cow<'a, str>, DecodeError> {
        let (text, tag) = self.lex.text_until_tag()?;
        match tag {
            Tag::End(n) if n == name => Ok(text.into_cow()),
            other => Err(self.unexpected(other, "text and the element's end tag")),
        }
    }

    /// Decodes one `<value>` whose start tag was consumed, through its `</value>`.
    fn value(&mut self) -> Result<Value, DecodeError> {
        let mut stack: Vec<Frame> = Vec::new();
        'open: loop {
            let mut step = match self.open_value()? {
                Opened::Done(v) => Step::Attach(v),
                Opened::Array => {
                    self.check_depth(stack.len())?;
                    stack.push(Frame::Array(self.items.len()));
                    Step::Then(self.array_next()?)
                }
                Opened::Struct => {
                    self.check_depth(stack.len())?;
                    let (next, name) = self.struct_next()?;
                    stack.push(Frame::Struct(self.members.len(), name));
                    Step::Then(next)
                }
            };
            loop {
                step = match step {
                    Step::Attach(v) => Step::Then(match stack.last_mut() {
                        None => return Ok(v),
                        Some(Frame::Array(_)) => {
                            self.items.push(v);
                            self.array_next()?
                        }
                        Some(Frame::Struct(_, name)) => {
                            self.members.push((std::mem::take(name), v));
                            self.expect_end(El::Member, "</member>")?;
                            let (next, next_name) = self.struct_next()?;
                            *name = next_name;
                            next
                        }
                    }),
                    Step::Then(Next::Value) => continue 'open,
                    Step::Then(Next::EmptyValue) => Step::Attach(Value::String(String::new())),
                    // `Closed` only comes from a container on the stack, so `pop` finds it.
                    Step::Then(Next::Closed) => Step::Attach(match stack.pop() {
                        Some(Frame::Array(start)) => {
                            Value::Array(self.items.drain(start..).collect())
                        }
                        Some(Frame::Struct(start, _)) => {
                            Value::Struct(self.members.drain(start..).collect())
                        }
                        None => return Err(self.missing("an open array or struct")),
                    }),
                };
            }
        }
    }

    fn check_depth(&self, open: usize) -> Result<(), DecodeError> {
        if open >= self.max_depth {
            return Err(DecodeError::TooDeep {
                position: self.lex.pos(),
                max_depth: self.max_depth,
            });
        }
        Ok(())
    }

    /// Inside `<data>`: the next `<value>`, or `</data></array></value>`.
    fn array_next(&mut self) -> Result<Next, DecodeError> {
        match self.lex.next_tag("<value> or </data>")? {
            Tag::Start(El::Value) => Ok(Next::Value),
            Tag::Empty(El::Value) => Ok(Next::EmptyValue),
            Tag::End(El::Data) => {
                self.expect_end(El::Array, "</array>")?;
                self.expect_end(El::Value, "</value>")?;
                Ok(Next::Closed)
            }
            other => Err(self.unexpected(other, "<value> or </data>")),
        }
    }

    /// Inside `<struct>`: the next member's `<member><name>…</name><value>`, or
    /// `</struct></value>`.
    fn struct_next(&mut self) -> Result<(Next, String), DecodeError> {
        match self.lex.next_tag("<member> or </struct>")? {
            Tag::Start(El::Member) => {
                let name = match self.lex.next_tag("<name>")? {
                    Tag::Start(El::Name) => self.text(El::Name)?.into_owned(),
                    Tag::Empty(El::Name) => String::new(),
                    other => return Err(self.unexpected(other, "<name>")),
                };
                let next = if self.expect_value_start("<value> after <name>")? {
                    Next::Value
                } else {
                    Next::EmptyValue
                };
                Ok((next, name))
            }
            Tag::End(El::Struct) => {
                self.expect_end(El::Value, "</value>")?;
                Ok((Next::Closed, String::new()))
            }
            other => Err(self.unexpected(other, "<member> or </struct>")),
        }
    }

    /// Reads what follows a `<value>` start tag: a scalar (through `</value>`), or the opening
    /// of an array or struct.
    fn open_value(&mut self) -> Result<Opened, DecodeError> {
        let (text, tag) = self.lex.text_until_tag()?;
        let el = match tag {
            // Bare text (or nothing) inside <value> is a string.
            Tag::End(El::Value) => return Ok(Opened::Done(Value::String(text.into_string()))),
            Tag::Start(el) | Tag::Empty(el) => el,
            other => return Err(self.unexpected(other, "a type element or </value>")),
        };
        if let Some(b) = text.as_str().bytes().find(|&b| !is_xml_space(b)) {
            return Err(DecodeError::Unexpected {
                position: self.lex.pos(),
                found: format!(
                    "text starting with {:?} before <{}>",
                    quote_bytes(&[b]),
                    self.name_of(el)
                ),
                expected: "a type element alone",
            });
        }
        let value = match tag {
            Tag::Start(El::Array) => {
                match self.lex.next_tag("<data>")? {
                    Tag::Start(El::Data) => return Ok(Opened::Array),
                    Tag::Empty(El::Data) => self.expect_end(El::Array, "</array>")?,
                    other => return Err(self.unexpected(other, "<data>")),
                }
                Value::Array(Vec::new())
            }
            Tag::Start(El::Struct) => return Ok(Opened::Struct),
            Tag::Start(el) => {
                let pos = self.lex.pos();
                let kind = self.kind(tag, el)?;
                let text = self.text(el)?;
                parse_scalar(kind, text, pos)?
            }
            Tag::Empty(El::Array) => Value::Array(Vec::new()),
            Tag::Empty(El::Struct) => Value::Struct(Vec::new()),
            _ => parse_scalar(self.kind(tag, el)?, Cow::Borrowed(""), self.lex.pos())?,
        };
        self.expect_end(El::Value, "</value>")?;
        Ok(Opened::Done(value))
    }

    fn kind(&self, tag: Tag, el: El) -> Result<Kind, DecodeError> {
        Ok(match el {
            El::String => Kind::String,
            El::Int | El::I4 | El::I8 | El::ExI8 => Kind::Int,
            El::Boolean => Kind::Bool,
            El::Double => Kind::Double,
            El::DateTime => Kind::DateTime,
            El::Base64 => Kind::Base64,
            El::Nil | El::ExNil => Kind::Nil,
            _ => return Err(self.unexpected(tag, "an XML-RPC type element")),
        })
    }
}

#[derive(Clone, Copy)]
enum Kind {
    String,
    Int,
    Bool,
    Double,
    DateTime,
    Base64,
    Nil,
}

fn parse_scalar(kind: Kind, text: Cow<'_, str>, position: u64) -> Result<Value, DecodeError> {
    Ok(match kind {
        Kind::String => Value::String(text.into_owned()),
        Kind::DateTime => Value::DateTime(text.into_owned()),
        Kind::Int => match text
            .trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
            .parse()
        {
            Ok(i) => Value::Int(i),
            Err(_) => {
                return Err(DecodeError::BadInt {
                    position,
                    text: quote(&text),
                })
            }
        },
        Kind::Bool => match text.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r')) {
            "0" => Value::Bool(false),
            "1" => Value::Bool(true),
            _ => {
                return Err(DecodeError::BadBoolean {
                    position,
                    text: quote(&text),
                })
            }
        },
        Kind::Double => match text
            .trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
            .parse()
        {
            Ok(f) => Value::Double(f),
            Err(_) => {
                return Err(DecodeError::BadDouble {
                    position,
                    text: quote(&text),
                })
            }
        },
        Kind::Base64 => Value::Base64(decode_base64(&text, position)?),
        Kind::Nil => {
            if text.bytes().any(|b| !is_xml_space(b)) {
                return Err(DecodeError::Unexpected {
                    position,
                    found: format!("text {:?} in <nil>", quote(&text)),
                    expected: "empty <nil/>",
                });
            }
            Value::Nil
        }
    })
}

/// Python's encoder breaks base64 into 76-character lines, so whitespace is removed first.
fn decode_base64(text: &str, position: u64) -> Result<Vec<u8>, DecodeError> {
    let bad = |e: base64::DecodeError| DecodeError::BadBase64 {
        position,
        message: e.to_string(),
    };
    if text.bytes().any(is_xml_space) {
        let compact: Vec<u8> = text.bytes().filter(|&b| !is_xml_space(b)).collect();
        BASE64.decode(compact).map_err(bad)
    } else {
        BASE64.decode(text).map_err(bad)
    }
}

fn quote_long(s: &str) -> String {
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Differential tests: the fast path must agree with the quick-xml path wherever it succeeds.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::odoo::xmlrpc::{encode_call, encode_response};
    use proptest::prelude::*;

    fn both_responses(
        bytes: &[u8],
    ) -> (
        Result<MethodResponse, DecodeError>,
        Result<MethodResponse, DecodeError>,
    ) {
        let limits = Limits::default();
        (
            Parser::new(FastLexer::new(bytes), &limits).response(),
            Parser::new(QuickLexer::new(bytes), &limits).response(),
        )
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(Value::Int),
            any::<bool>().prop_map(Value::Bool),
            ".{0,12}".prop_map(Value::String),
            "[<>&;#x0-9a-z\r\n ]{0,12}".prop_map(Value::String),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::Double),
            proptest::collection::vec(any::<u8>(), 0..100).prop_map(Value::Base64),
            Just(Value::Nil),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec((".{0,6}", inner), 0..6).prop_map(Value::Struct),
            ]
        })
    }

    /// Insertions (optionally replacing a byte) of markup fragments the fast path must handle
    /// or refuse, at arbitrary places.
    fn edits() -> impl Strategy<Value = Vec<(prop::sample::Index, &'static [u8], bool)>> {
        let piece = prop_oneof![
            Just(&b"<"[..]),
            Just(&b"&"[..]),
            Just(&b"&amp;"[..]),
            Just(&b"&#65;"[..]),
            Just(&b"\r"[..]),
            Just(&b"/"[..]),
            Just(&b">"[..]),
            Just(&b"<!--c-->"[..]),
            Just(&b"<value>"[..]),
            Just(&b"</value>"[..]),
            Just(&b"<nil/>"[..]),
            Just(&b" "[..]),
            Just(&b"\xc3"[..]),
            Just(&b"x"[..]),
        ];
        proptest::collection::vec((any::<prop::sample::Index>(), piece, any::<bool>()), 1..4)
    }

    proptest! {
        #[test]
        fn fast_path_takes_canonical_documents_and_agrees(v in value()) {
            let bytes = encode_response(&v);
            let (fast, quick) = both_responses(&bytes);
            prop_assert!(fast.is_ok(), "fast path refused a canonical document: {:?}", fast);
            prop_assert_eq!(fast, quick);
        }

        #[test]
        fn fast_path_agrees_on_mutated_documents(
            v in value(),
            edits in edits(),
        ) {
            let mut bytes = encode_response(&v);
            for (at, piece, replace) in edits {
                let i = at.index(bytes.len());
                if replace {
                    bytes.remove(i);
                }
                bytes.splice(i..i, piece.iter().copied());
            }
            let (fast, quick) = both_responses(&bytes);
            if fast.is_ok() {
                prop_assert_eq!(fast, quick);
            }
        }

        #[test]
        fn fast_path_agrees_on_calls(method in ".{0,8}", params in proptest::collection::vec(value(), 0..3)) {
            let bytes = encode_call(&method, &params);
            let limits = Limits::default();
            let fast = Parser::new(FastLexer::new(&bytes), &limits).call();
            let quick = Parser::new(QuickLexer::new(&bytes), &limits).call();
            prop_assert!(fast.is_ok());
            prop_assert_eq!(fast, quick);
        }
    }

    #[test]
    fn fast_path_leaves_unusual_documents_to_quick_xml() {
        let limits = Limits::default();
        for doc in [
            &b"<methodResponse><!-- c --><params><param><value>1</value></param></params></methodResponse>"[..],
            b"<?xml version=\"1.0\" encoding=\"utf-8\"?><methodResponse><params><param><value>1</value></param></params></methodResponse>",
            b"<methodResponse><params><param><value>a\r\nb</value></param></params></methodResponse>",
            b"<methodResponse><params><param><value><![CDATA[x]]></value></param></params></methodResponse>",
            b"<methodResponse ><params><param><value>1</value></param></params></methodResponse>",
        ] {
            assert!(Parser::new(FastLexer::new(doc), &limits).response().is_err());
            assert!(decode_response(doc, &limits).is_ok(), "{}", String::from_utf8_lossy(doc));
        }
    }
}
