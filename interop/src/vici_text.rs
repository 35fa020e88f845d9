//! A reader for the text form of VICI messages that `swanctl ... --raw` prints, e.g.
//!
//! ```text
//! list-sa event {gw {uniqueid=1 state=ESTABLISHED remote-vips=[198.18.1.1] child-sas {net-1 {spi-in=56bad477}}}}
//! ```
//!
//! The grammar is a tree of sections (`name {...}`), key/value pairs (`key=value`) and lists
//! (`key=[a b]`). swanctl does not quote values, and a few values contain spaces (`class=pre-shared
//! key`), so a word that is neither a `key=`, a `name {` nor a `}` is taken as the continuation of
//! the previous value. The reader never panics: anything it cannot place is a [`ParseError`].

use std::fmt;

/// One node of a VICI message: a text value, a list of text values, or a nested section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `key=value`.
    Text(String),
    /// `key=[a b c]`.
    List(Vec<String>),
    /// `name {...}`.
    Section(Section),
}

/// An ordered list of named values (a VICI section).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    /// Entries in the order swanctl printed them.
    pub entries: Vec<(String, Value)>,
}

impl Section {
    /// The text value of `key`, if present and a text value.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.entries.iter().find_map(|(k, v)| match v {
            Value::Text(t) if k == key => Some(t.as_str()),
            _ => None,
        })
    }

    /// The list value of `key`; an absent key is an empty list.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.entries
            .iter()
            .find_map(|(k, v)| match v {
                Value::List(items) if k == key => Some(items.clone()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// The nested section `key`, if present.
    pub fn section(&self, key: &str) -> Option<&Section> {
        self.entries.iter().find_map(|(k, v)| match v {
            Value::Section(s) if k == key => Some(s),
            _ => None,
        })
    }

    /// Every nested section, with its name.
    pub fn sections(&self) -> impl Iterator<Item = (&str, &Section)> {
        self.entries.iter().filter_map(|(k, v)| match v {
            Value::Section(s) => Some((k.as_str(), s)),
            _ => None,
        })
    }
}

/// Why a text could not be read as VICI messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

/// Deepest nesting accepted (swanctl's messages are four or five levels deep).
const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    Open,
    Close,
    Word(&'a str),
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    for raw in text.split_whitespace() {
        let mut rest = raw;
        while !rest.is_empty() {
            if let Some(tail) = rest.strip_prefix('{') {
                out.push(Token::Open);
                rest = tail;
                continue;
            }
            let cut = rest.find(['{', '}']).unwrap_or(rest.len());
            let (word, tail) = rest.split_at(cut);
            if !word.is_empty() {
                out.push(Token::Word(word));
            }
            rest = tail;
            while let Some(tail) = rest.strip_prefix('}') {
                out.push(Token::Close);
                rest = tail;
            }
        }
    }
    out
}

/// Reads every top-level message (`list-sa event {...}`, `list-sas reply {}`) with its name.
pub fn parse_messages(text: &str) -> Result<Vec<(String, Section)>, ParseError> {
    let tokens = tokens(text);
    let mut pos = 0;
    let mut messages = Vec::new();
    while pos < tokens.len() {
        let mut name = Vec::new();
        while let Some(Token::Word(w)) = tokens.get(pos) {
            name.push(*w);
            pos += 1;
        }
        match tokens.get(pos) {
            Some(Token::Open) => pos += 1,
            other => {
                return Err(ParseError(format!(
                    "expected `{{` after message name {:?}, found {other:?}",
                    name.join(" ")
                )))
            }
        }
        let section = parse_section(&tokens, &mut pos, 1)?;
        messages.push((name.join(" "), section));
    }
    Ok(messages)
}

fn parse_section(
    tokens: &[Token<'_>],
    pos: &mut usize,
    depth: usize,
) -> Result<Section, ParseError> {
    if depth > MAX_DEPTH {
        return Err(ParseError(format!("nesting deeper than {MAX_DEPTH}")));
    }
    let mut section = Section::default();
    loop {
        let Some(token) = tokens.get(*pos) else {
            return Err(ParseError("unterminated section".into()));
        };
        *pos += 1;
        match token {
            Token::Close => return Ok(section),
            Token::Open => return Err(ParseError("`{` without a section name".into())),
            Token::Word(word) => {
                if tokens.get(*pos) == Some(&Token::Open) {
                    *pos += 1;
                    let inner = parse_section(tokens, pos, depth + 1)?;
                    section
                        .entries
                        .push(((*word).to_owned(), Value::Section(inner)));
                } else if let Some((key, value)) = word.split_once('=') {
                    let value = if let Some(list) = value.strip_prefix('[') {
                        Value::List(read_list(list, tokens, pos)?)
                    } else {
                        Value::Text(value.to_owned())
                    };
                    section.entries.push((key.to_owned(), value));
                } else {
                    match section.entries.last_mut() {
                        Some((_, Value::Text(text))) => {
                            text.push(' ');
                            text.push_str(word);
                        }
                        _ => return Err(ParseError(format!("stray word {word:?}"))),
                    }
                }
            }
        }
    }
}

/// Reads list items from `first` (the text after `[`) and the following words up to `]`.
fn read_list(
    first: &str,
    tokens: &[Token<'_>],
    pos: &mut usize,
) -> Result<Vec<String>, ParseError> {
    let mut items = Vec::new();
    let mut word = first;
    loop {
        if let Some(last) = word.strip_suffix(']') {
            if !last.is_empty() {
                items.push(last.to_owned());
            }
            return Ok(items);
        }
        if !word.is_empty() {
            items.push(word.to_owned());
        }
        match tokens.get(*pos) {
            Some(Token::Word(next)) => {
                word = next;
                *pos += 1;
            }
            other => return Err(ParseError(format!("unterminated list, found {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONNS: &str = "list-conn event {gw {local_addrs=[198.18.46.1] remote_addrs=[%any] \
        version=IKEv1/2 local-1 {id=gw.eseg.test class=pre-shared key groups=[] certs=[]} \
        children {net {mode=TUNNEL local-ts=[198.18.46.128/25] remote-ts=[dynamic]}}}}\n\
        list-conns reply {}\n";

    #[test]
    fn reads_sections_lists_and_values_with_spaces() {
        let messages = parse_messages(CONNS).unwrap();
        assert_eq!(messages.len(), 2);
        let (name, event) = &messages[0];
        assert_eq!(name, "list-conn event");
        let gw = event.section("gw").unwrap();
        assert_eq!(gw.list("local_addrs"), vec!["198.18.46.1"]);
        assert_eq!(gw.text("version"), Some("IKEv1/2"));
        let local = gw.section("local-1").unwrap();
        assert_eq!(local.text("class"), Some("pre-shared key"));
        assert!(local.list("groups").is_empty());
        let net = gw.section("children").unwrap().section("net").unwrap();
        assert_eq!(net.list("remote-ts"), vec!["dynamic"]);
        assert_eq!(messages[1].0, "list-conns reply");
        assert!(messages[1].1.entries.is_empty());
    }

    #[test]
    fn every_truncation_fails_cleanly() {
        for cut in 0..CONNS.len() {
            let prefix = &CONNS[..cut];
            let complete = prefix.trim_end();
            if complete.is_empty() || complete.ends_with("}}}}") || complete.ends_with("reply {}") {
                continue;
            }
            assert!(parse_messages(prefix).is_err(), "accepted {prefix:?}");
        }
    }

    #[test]
    fn rejects_garbage_and_deep_nesting() {
        assert!(parse_messages("a {b}").is_err());
        assert!(parse_messages("}").is_err());
        assert!(parse_messages("a {x=[1 2}").is_err());
        let deep = format!("m {}{}", "s {".repeat(40), "}".repeat(41));
        assert!(parse_messages(&deep).is_err());
    }
}
