//! Configuration errors: what is wrong, under which key, and where in the file (line and column),
//! so that `--check-config` can point at every mistake.

use std::fmt;

/// A 1-based line and column in the configuration text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` in `text`.
    pub(super) fn of(text: &str, offset: usize) -> Self {
        let before = text.get(..offset).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(0, |l| l.chars().count()) + 1;
        Location { line, column }
    }
}

/// One configuration mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key path, e.g. `clients.pool` or `peers[1].psk`.
    pub key: Option<String>,
    /// Where in the file, when known.
    pub location: Option<Location>,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// A syntax or type error from the TOML parser, with the key found at its position.
    pub(super) fn from_toml(text: &str, error: &toml::de::Error) -> Self {
        ConfigError {
            key: error.span().and_then(|s| key_at(text, s.start)),
            location: error.span().map(|s| Location::of(text, s.start)),
            message: error.message().trim_end().to_owned(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = self.location {
            write!(f, "{}:{}: ", loc.line, loc.column)?;
        }
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// The dotted key at `offset` (its value or the key itself), found from the nearest `[table]`
/// header above and the `key =` on the offset's line (the TOML parser reports type errors with a
/// span only).
fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let table = before
        .get(..line_start)?
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    let line_end = text
        .get(line_start..)?
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    let key = text
        .get(line_start..line_end)?
        .split_once('=')
        .map(|(k, _)| k.trim().to_owned())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    match (table, key) {
        (Some(t), Some(k)) => Some(format!("{t}.{k}")),
        (None, Some(k)) => Some(k),
        (Some(t), None) => Some(t),
        (None, None) => None,
    }
}
