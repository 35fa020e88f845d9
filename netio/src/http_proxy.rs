//! An HTTP proxy client for the last rung of the client's transport ladder: where a firewall lets
//! nothing out but an HTTP proxy (TR 33.830 NIMSFW type 8), the client asks the proxy for a
//! tunnel with `CONNECT host:port` (<https://www.rfc-editor.org/rfc/rfc9110#section-9.3.6>) and
//! then speaks TPKT' inside it.
//!
//! The proxy comes from configuration or from the usual environment variables (`https_proxy`,
//! `HTTPS_PROXY`, `http_proxy`, `HTTP_PROXY`, first set wins), as `http://[user:pass@]host:port`.
//! Credentials are sent with Basic authentication
//! (<https://www.rfc-editor.org/rfc/rfc7617#section-2>), kept zeroized on drop and never shown
//! by `Debug`.
//!
//! The proxy's answer is read one octet at a time up to the end of its header, so not one octet
//! of the tunnelled stream is consumed; the header may be at most [`MAX_RESPONSE_HEAD`] octets.

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::tcp::{connect as tcp_connect, StreamOptions};

/// Longest proxy response header accepted.
pub const MAX_RESPONSE_HEAD: usize = 8 * 1024;

/// The environment variables consulted, in order.
pub const PROXY_ENV_VARS: [&str; 4] = ["https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"];

/// Why the proxy could not give us a tunnel.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy URL cannot be understood.
    #[error("bad proxy URL: {0}")]
    BadUrl(String),
    /// Connecting to or talking with the proxy failed.
    #[error("proxy I/O: {0}")]
    Io(#[from] io::Error),
    /// The proxy answered with something other than HTTP.
    #[error("malformed proxy response")]
    Malformed,
    /// The proxy's response header is longer than [`MAX_RESPONSE_HEAD`].
    #[error("proxy response header too long")]
    HeadTooLong,
    /// The proxy refused (e.g. 403, 407 Proxy Authentication Required, 502).
    #[error("proxy refused CONNECT: {0}")]
    Refused(String),
}

/// Basic credentials for the proxy.
#[derive(Clone)]
pub struct ProxyCredentials {
    user: String,
    password: Zeroizing<String>,
}

impl ProxyCredentials {
    /// Credentials from a user name and password.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            password: Zeroizing::new(password.into()),
        }
    }

    /// The `Proxy-Authorization` header value (RFC 7617 §2: base64 of `user:password`).
    fn header_value(&self) -> Zeroizing<String> {
        let mut joined = Zeroizing::new(String::with_capacity(
            self.user.len() + 1 + self.password.len(),
        ));
        joined.push_str(&self.user);
        joined.push(':');
        joined.push_str(&self.password);
        Zeroizing::new(format!("Basic {}", base64(joined.as_bytes()).as_str()))
    }
}

impl std::fmt::Debug for ProxyCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyCredentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Where the proxy is and how to log in.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The proxy's host (name or address literal).
    pub host: String,
    /// The proxy's port.
    pub port: u16,
    /// Credentials, if the proxy wants them.
    pub credentials: Option<ProxyCredentials>,
}

impl ProxyConfig {
    /// Parses `http://[user:pass@]host[:port][/]` (the scheme may be left out; the port
    /// defaults to 8080; percent-escapes are not decoded).
    pub fn from_url(url: &str) -> Result<Self, ProxyError> {
        let bad = || ProxyError::BadUrl(redact_url(url));
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some(_) => return Err(bad()),
            None => url,
        };
        let authority = rest.split('/').next().unwrap_or_default();
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                (Some(ProxyCredentials::new(user, password)), host_port)
            }
            None => (None, authority),
        };
        let (host, port) = split_host_port(host_port).ok_or_else(bad)?;
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            credentials,
        })
    }

    /// The proxy named by the first non-empty variable of [`PROXY_ENV_VARS`] in `lookup`
    /// (pass `|k| std::env::var(k).ok()`).
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Option<Result<Self, ProxyError>> {
        PROXY_ENV_VARS
            .iter()
            .filter_map(|k| lookup(k))
            .find(|v| !v.trim().is_empty())
            .map(|v| Self::from_url(v.trim()))
    }

    /// Connects to the proxy and asks it for a tunnel to `target`; returns the stream, ready for
    /// the tunnelled protocol. Each step is bounded by `timeout`.
    pub fn connect(
        &self,
        target: SocketAddr,
        timeout: Duration,
        options: &StreamOptions,
    ) -> Result<TcpStream, ProxyError> {
        let proxy = (self.host.as_str(), self.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| ProxyError::BadUrl(format!("{} does not resolve", self.host)))?;
        let mut stream = tcp_connect(proxy, timeout, options)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let mut request =
            Zeroizing::new(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"));
        if let Some(credentials) = &self.credentials {
            request.push_str("Proxy-Authorization: ");
            request.push_str(&credentials.header_value());
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes())?;
        let head = read_head(&mut stream)?;
        check_status(&head)?;
        stream.set_read_timeout(None)?;
        stream.set_write_timeout(None)?;
        Ok(stream)
    }
}

/// Reads the response header, one octet at a time, through the blank line.
fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, ProxyError> {
    let mut head = Vec::with_capacity(256);
    let mut octet = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_RESPONSE_HEAD {
            return Err(ProxyError::HeadTooLong);
        }
        match stream.read(&mut octet)? {
            0 => return Err(ProxyError::Malformed),
            _ => head.extend_from_slice(&octet),
        }
    }
    Ok(head)
}

/// Accepts any 2xx status line (RFC 9110 §9.3.6: a 2xx answer to CONNECT means the tunnel is up).
fn check_status(head: &[u8]) -> Result<(), ProxyError> {
    let line_end = head
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or(ProxyError::Malformed)?;
    let line = std::str::from_utf8(head.get(..line_end).unwrap_or_default())
        .map_err(|_| ProxyError::Malformed)?;
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return Err(ProxyError::Malformed);
    }
    if code.starts_with('2') {
        Ok(())
    } else {
        Err(ProxyError::Refused(line.to_owned()))
    }
}

/// `host:port`, `[v6]:port`, or a bare host (port 8080).
fn split_host_port(s: &str) -> Option<(&str, u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(port) => Some((host, port.parse().ok()?)),
            None if after.is_empty() => Some((host, 8080)),
            None => None,
        };
    }
    match s.rsplit_once(':') {
        Some((host, port)) => Some((host, port.parse().ok()?)),
        None => Some((s, 8080)),
    }
}

/// The URL without its password, for error messages.
fn redact_url(url: &str) -> String {
    match url.rsplit_once('@') {
        Some((_, host)) => format!("<credentials>@{host}"),
        None => url.to_owned(),
    }
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(input: &[u8]) -> Zeroizing<String> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sextet = |v: u32, shift: u32| char::from(ALPHABET[((v >> shift) & 0x3f) as usize]);
    let mut out = Zeroizing::new(String::with_capacity(input.len().div_ceil(3) * 4));
    for chunk in input.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let v = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(sextet(v, 18));
        out.push(sextet(v, 12));
        out.push(if chunk.len() > 1 { sextet(v, 6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(v, 0) } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead as _;
    use std::net::TcpListener;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()).as_str(), expected);
        }
        // RFC 7617 §2's example.
        let c = ProxyCredentials::new("Aladdin", "open sesame");
        assert_eq!(
            c.header_value().as_str(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn urls_and_environment() {
        let p = ProxyConfig::from_url("http://u:secret@proxy.lan:3128/").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("proxy.lan", 3128));
        let debug = format!("{p:?}");
        assert!(!debug.contains("secret"), "{debug}");
        let p = ProxyConfig::from_url("198.18.0.9").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("198.18.0.9", 8080));
        assert!(p.credentials.is_none());
        let p = ProxyConfig::from_url("http://[2001:db8::1]:8888").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("2001:db8::1", 8888));
        let err = ProxyConfig::from_url("socks5://u:pw@h:1").unwrap_err();
        assert!(!err.to_string().contains("pw"), "{err}");
        assert!(ProxyConfig::from_url("http://h:notaport").is_err());
        let env = |k: &str| (k == "HTTP_PROXY").then(|| "http://10.0.0.1:8888".to_owned());
        let p = ProxyConfig::from_env(env).unwrap().unwrap();
        assert_eq!(p.port, 8888);
        assert!(ProxyConfig::from_env(|_| Some("  ".into())).is_none());
    }

    #[test]
    fn status_lines() {
        assert!(check_status(b"HTTP/1.1 200 Connection established\r\n\r\n").is_ok());
        assert!(check_status(b"HTTP/1.0 200 OK\r\n\r\n").is_ok());
        assert!(matches!(
            check_status(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"),
            Err(ProxyError::Refused(_))
        ));
        assert!(matches!(
            check_status(b"SSH-2.0-x\r\n\r\n"),
            Err(ProxyError::Malformed)
        ));
    }

    /// A one-shot proxy on loopback: checks the request, answers `answer`, then echoes.
    fn fake_proxy(answer: &'static [u8], want_auth: Option<&'static str>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut lines = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" {
                    break;
                }
                lines.push(line);
            }
            assert_eq!(lines[0], "CONNECT 192.0.2.7:80 HTTP/1.1\r\n");
            if let Some(auth) = want_auth {
                assert!(lines.contains(&format!("Proxy-Authorization: {auth}\r\n")));
            }
            let mut stream = stream;
            // The answer and the first tunnelled octets in one segment.
            let mut reply = answer.to_vec();
            reply.extend_from_slice(&[1, 0, 0, 5, 0xff]);
            stream.write_all(&reply).unwrap();
        });
        addr
    }

    #[test]
    fn connect_through_a_proxy_keeps_the_tunnelled_octets() {
        let addr = fake_proxy(
            b"HTTP/1.1 200 Connection established\r\n\r\n",
            Some("Basic dTpw"),
        );
        let config = ProxyConfig::from_url(&format!("http://u:p@{addr}")).unwrap();
        let target: SocketAddr = "192.0.2.7:80".parse().unwrap();
        let mut stream = config
            .connect(target, Duration::from_secs(2), &StreamOptions::default())
            .unwrap();
        let mut first = [0u8; 5];
        stream.read_exact(&mut first).unwrap();
        assert_eq!(first, [1, 0, 0, 5, 0xff]);
    }

    #[test]
    fn refusal_is_reported() {
        let addr = fake_proxy(b"HTTP/1.1 403 Forbidden\r\n\r\n", None);
        let config = ProxyConfig::from_url(&addr.to_string()).unwrap();
        let result = config.connect(
            "192.0.2.7:80".parse().unwrap(),
            Duration::from_secs(2),
            &StreamOptions::default(),
        );
        assert!(matches!(result, Err(ProxyError::Refused(line)) if line.contains("403")));
    }
}
