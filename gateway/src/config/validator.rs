//! The value checks every section uses: parse a string (or a list of them) into a typed value,
//! check a number against its range, check that a list is not empty. Each check records a
//! [`ConfigError`] with the key and the value's location instead of stopping, so one run reports
//! every mistake; the caller gets a usable default in the meantime.

use std::fmt;
use std::ops::{Range, RangeInclusive};
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use toml::Spanned;

use super::error::{ConfigError, Location};

/// A list of strings in the file, with the list's own location.
pub(super) type SpannedList = Spanned<Vec<Spanned<String>>>;

/// Collects errors while turning the file's values into typed ones.
pub(super) struct Validator<'a> {
    text: &'a str,
    pub(super) errors: Vec<ConfigError>,
}

impl<'a> Validator<'a> {
    /// A validator for the file `text`.
    pub(super) fn new(text: &'a str) -> Self {
        Self {
            text,
            errors: Vec::new(),
        }
    }

    /// Records an error under `key`, located at `span` when known.
    pub(super) fn error(
        &mut self,
        key: impl Into<String>,
        span: Option<Range<usize>>,
        message: String,
    ) {
        let location = span.map(|s| Location::of(self.text, s.start));
        self.errors.push(ConfigError {
            key: Some(key.into()),
            location,
            message,
        });
    }

    /// Parses a spanned string with `FromStr`, recording an error (and returning `None`) on failure.
    pub(super) fn parse<T: std::str::FromStr>(
        &mut self,
        key: &str,
        value: &Spanned<String>,
    ) -> Option<T>
    where
        T::Err: fmt::Display,
    {
        self.parse_by(key, value, str::parse)
    }

    /// Parses a spanned string with `parse`, recording an error (and returning `None`) on failure.
    pub(super) fn parse_by<T, E: fmt::Display>(
        &mut self,
        key: &str,
        value: &Spanned<String>,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Option<T> {
        match parse(value.get_ref()) {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(
                    key,
                    Some(value.span()),
                    format!("`{}`: {e}", value.get_ref()),
                );
                None
            }
        }
    }

    /// Parses an optional string with `parse`; an absent or invalid one takes `default`.
    pub(super) fn parse_or<T, E: fmt::Display>(
        &mut self,
        key: &str,
        value: Option<&Spanned<String>>,
        default: &str,
        parse: impl Fn(&str) -> Result<T, E> + Copy,
    ) -> Option<T> {
        value
            .and_then(|v| self.parse_by(key, v, parse))
            .or_else(|| parse(default).ok())
    }

    /// Parses each string of a list with `parse` (errors name the element, `key[i]`); an absent
    /// list takes the defaults. An empty list is allowed.
    pub(super) fn list<T, E: fmt::Display>(
        &mut self,
        key: &str,
        values: Option<Vec<Spanned<String>>>,
        defaults: &[&str],
        parse: impl Fn(&str) -> Result<T, E> + Copy,
    ) -> Vec<T> {
        match values {
            Some(values) => values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| self.parse_by(&format!("{key}[{i}]"), v, parse))
                .collect(),
            None => defaults.iter().filter_map(|d| parse(d).ok()).collect(),
        }
    }

    /// Like [`Validator::list`], but a list given empty is an error (and takes the defaults).
    pub(super) fn nonempty_list<T, E: fmt::Display>(
        &mut self,
        key: &str,
        values: Option<SpannedList>,
        defaults: &[&str],
        parse: impl Fn(&str) -> Result<T, E> + Copy,
    ) -> Vec<T> {
        let values = values.and_then(|list| {
            if list.get_ref().is_empty() {
                self.error(key, Some(list.span()), "must not be empty".into());
                None
            } else {
                Some(list.into_inner())
            }
        });
        self.list(key, values, defaults, parse)
    }

    /// A number that must lie in `range`; an absent or out-of-range one takes `default`.
    pub(super) fn ranged<T: Copy + PartialOrd + fmt::Display>(
        &mut self,
        key: &str,
        value: Option<Spanned<T>>,
        range: RangeInclusive<T>,
        default: T,
    ) -> T {
        match value {
            Some(v) if range.contains(v.get_ref()) => *v.get_ref(),
            Some(v) => {
                self.error(
                    key,
                    Some(v.span()),
                    format!(
                        "{} is out of range {}..={}",
                        v.get_ref(),
                        range.start(),
                        range.end()
                    ),
                );
                default
            }
            None => default,
        }
    }

    /// A duration in whole seconds (a `*_secs` key) that must lie in `range`.
    pub(super) fn seconds(
        &mut self,
        key: &str,
        value: Option<Spanned<u64>>,
        range: RangeInclusive<u64>,
        default: u64,
    ) -> Duration {
        Duration::from_secs(self.ranged(key, value, range, default))
    }

    /// A port number (1..=65535).
    pub(super) fn port(&mut self, key: &str, value: Option<Spanned<u16>>, default: u16) -> u16 {
        self.ranged(key, value, 1..=u16::MAX, default)
    }
}

/// An IPv4 prefix without host bits (`198.18.1.0/24`, not `198.18.1.7/24`).
pub(super) fn prefix(text: &str) -> Result<Ipv4Net, String> {
    let net: Ipv4Net = text.parse().map_err(|e| format!("{e}"))?;
    if net.trunc() != net {
        return Err(format!("host bits are set; did you mean {}?", net.trunc()));
    }
    Ok(net)
}

/// An IPv6 prefix without host bits (`2001:db8:0:3::/64`).
pub(super) fn prefix6(text: &str) -> Result<Ipv6Net, String> {
    let net: Ipv6Net = text.parse().map_err(|e| format!("{e}"))?;
    if net.trunc() != net {
        return Err(format!("host bits are set; did you mean {}?", net.trunc()));
    }
    Ok(net)
}

/// An IPv4 or IPv6 prefix without host bits.
pub(super) fn prefix_any(text: &str) -> Result<IpNet, String> {
    if text.contains(':') {
        prefix6(text).map(IpNet::V6)
    } else {
        prefix(text).map(IpNet::V4)
    }
}

/// A network interface name: 1 to IFNAMSIZ-1 characters of a-z, A-Z, 0-9, `-`, `_`, `.`.
pub(super) fn interface_name(name: &str) -> Result<String, String> {
    let valid = !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if valid {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "not a valid interface name (1-{} characters of a-z, 0-9, -, _, .)",
            libc::IFNAMSIZ - 1
        ))
    }
}
