//! `@server(cors: ...)`: which pages on other origins a browser lets call
//! the gateway. The origin rules are parsed here once, at load, and matched
//! on every request that carries an `Origin`.

use std::time::Duration;

use http::HeaderName;

/// `cors: { origins, allowCredentials, allowHeaders, exposeHeaders, maxAge }`.
/// Without it no CORS header is sent and browsers on other origins cannot
/// read any answer.
#[derive(Debug, Clone)]
pub struct CorsSettings {
    /// Which pages may call.
    pub origins: Origins,
    /// `Access-Control-Allow-Credentials: true`: the browser sends cookies
    /// and HTTP auth and lets the page read the answer. Never with
    /// [`Origins::Any`] (the loader refuses it; browsers would too).
    pub allow_credentials: bool,
    /// Request headers a page may send; `None`: the headers the gateway
    /// reads (content type, trace context, forwarded headers).
    pub allow_headers: Option<HeaderList>,
    /// Response headers a page may read beyond the safelisted ones.
    pub expose_headers: HeaderList,
    /// How long a browser may reuse a preflight's answer.
    pub max_age: Duration,
}

/// Preflight answers are cached this long unless `maxAge` says otherwise.
pub const DEFAULT_CORS_MAX_AGE: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq)]
pub enum Origins {
    /// `origins: ["*"]`: every page, without credentials.
    Any,
    /// Exact origins and patterns; one match lets the page in.
    Listed(Vec<OriginRule>),
}

impl Origins {
    /// Whether the `Origin` header value `origin` is let in.
    pub fn allows(&self, origin: &[u8]) -> bool {
        match self {
            Origins::Any => true,
            Origins::Listed(rules) => {
                let Some(origin) = RequestOrigin::parse(origin) else {
                    return false;
                };
                rules.iter().any(|rule| rule.matches(&origin))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum HeaderList {
    /// `["*"]`: any header (never with credentials: browsers read `*`
    /// literally then).
    Any,
    Listed(Vec<HeaderName>),
}

/// One entry of `origins`: `https://app.example.com`,
/// `https://*.example.com` (any subdomain, at any depth, not the domain
/// itself) or `http://localhost:*` (any port).
#[derive(Debug, Clone, PartialEq)]
pub struct OriginRule {
    /// `http` or `https`, lower case.
    scheme: String,
    host: HostRule,
    port: PortRule,
}

#[derive(Debug, Clone, PartialEq)]
enum HostRule {
    /// Lower case, IDNs in their ASCII form (as browsers send them).
    Exact(String),
    /// `*.example.com`: the suffix with its leading dot, `.example.com`.
    Subdomains(String),
}

#[derive(Debug, Clone, PartialEq)]
enum PortRule {
    /// No port written, or the scheme's own (browsers leave that out).
    Default,
    Exact(u16),
    /// `:*`, any port or none.
    Any,
}

impl OriginRule {
    /// Reads one entry of `origins`; the error says how to write it.
    pub fn parse(text: &str) -> Result<OriginRule, String> {
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(format!(
                "`{text}` is not an origin; write the scheme and host, e.g. \"https://app.example.com\""
            ));
        };
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => {
                return Err(format!(
                    "`{text}`: an origin's scheme is http or https, not `{scheme}`"
                ));
            }
        };
        if let Some(at) = rest.find(['/', '?', '#']) {
            return Err(format!(
                "`{text}`: an origin is a scheme, a host and a port, with no path; write \"{scheme}://{}\"",
                &rest[..at]
            ));
        }
        if rest.contains('@') {
            return Err(format!("`{text}`: an origin carries no user name"));
        }
        let (host, port) = split_port(rest);
        let port = match port {
            None => PortRule::Default,
            Some("*") => PortRule::Any,
            Some(digits) => match digits.parse::<u16>() {
                Ok(p) if p == default_port => PortRule::Default,
                Ok(p) if p > 0 => PortRule::Exact(p),
                _ => return Err(format!("`{text}`: `{digits}` is not a port (1-65535 or *)")),
            },
        };
        let host = if let Some(suffix) = host.strip_prefix("*.") {
            if suffix.contains('*') {
                return Err(wildcard_error(text));
            }
            match url::Host::parse(suffix) {
                Ok(url::Host::Domain(domain)) if domain.contains('.') || domain == "localhost" => {
                    HostRule::Subdomains(format!(".{domain}"))
                }
                Ok(url::Host::Domain(_)) => {
                    return Err(format!(
                        "`{text}`: `*.` must stand before a domain of two labels or more (`*.example.com`), not a top-level domain"
                    ));
                }
                Ok(_) => {
                    return Err(format!(
                        "`{text}`: an IP address has no subdomains; list it exactly"
                    ));
                }
                Err(e) => return Err(format!("`{text}`: `{suffix}` is not a host name ({e})")),
            }
        } else {
            if host.contains('*') {
                return Err(wildcard_error(text));
            }
            match url::Host::parse(host) {
                Ok(parsed) => HostRule::Exact(parsed.to_string()),
                Err(e) => return Err(format!("`{text}`: `{host}` is not a host ({e})")),
            }
        };
        Ok(OriginRule { scheme, host, port })
    }

    fn matches(&self, origin: &RequestOrigin<'_>) -> bool {
        let scheme_ok = origin.scheme.eq_ignore_ascii_case(&self.scheme);
        let host_ok = match &self.host {
            HostRule::Exact(host) => origin.host.eq_ignore_ascii_case(host),
            HostRule::Subdomains(suffix) => {
                origin.host.len() > suffix.len()
                    && origin
                        .host
                        .get(origin.host.len() - suffix.len()..)
                        .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
                    && origin
                        .host
                        .get(..origin.host.len() - suffix.len())
                        .is_some_and(|labels| {
                            !labels.starts_with('.')
                                && !labels.ends_with('.')
                                && labels
                                    .bytes()
                                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                        })
            }
        };
        let port_ok = match (&self.port, origin.port) {
            (PortRule::Any, _) => true,
            (PortRule::Default, None) => true,
            (PortRule::Exact(want), Some(got)) => *want == got,
            _ => false,
        };
        scheme_ok && host_ok && port_ok
    }
}

fn wildcard_error(text: &str) -> String {
    format!(
        "`{text}`: `*` may stand only for the leftmost labels (\"https://*.example.com\") or the port (\"http://localhost:*\")"
    )
}

/// `host[:port]`, with `[v6]` hosts kept whole.
fn split_port(rest: &str) -> (&str, Option<&str>) {
    if rest.starts_with('[') {
        return match rest.find(']') {
            Some(end) => {
                let (host, after) = rest.split_at(end + 1);
                (host, after.strip_prefix(':'))
            }
            None => (rest, None),
        };
    }
    match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    }
}

/// An `Origin` request header, split. Browsers send it serialized
/// (`scheme://host[:port]`, lower case, no default port).
struct RequestOrigin<'a> {
    scheme: &'a str,
    host: &'a str,
    port: Option<u16>,
}

impl<'a> RequestOrigin<'a> {
    fn parse(value: &'a [u8]) -> Option<RequestOrigin<'a>> {
        let text = std::str::from_utf8(value).ok()?;
        let (scheme, rest) = text.split_once("://")?;
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return None;
        }
        let (host, port) = split_port(rest);
        let port = match port {
            None => None,
            Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                Some(digits.parse().ok()?)
            }
            Some(_) => return None,
        };
        Some(RequestOrigin { scheme, host, port })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(rules: &[&str], origin: &str) -> bool {
        let rules = rules
            .iter()
            .map(|r| OriginRule::parse(r).expect("the rule parses"))
            .collect();
        Origins::Listed(rules).allows(origin.as_bytes())
    }

    #[test]
    fn exact_origins_match_as_browsers_send_them() {
        let rule = ["https://App.Example.com:443"];
        assert!(allows(&rule, "https://app.example.com"));
        assert!(!allows(&rule, "http://app.example.com"));
        assert!(!allows(&rule, "https://app.example.com:8443"));
        assert!(!allows(&rule, "https://app.example.com.evil.net"));
        assert!(!allows(&rule, "https://evilapp.example.com"));
        assert!(!allows(&rule, "null"));
        assert!(allows(&["http://127.0.0.1:5173"], "http://127.0.0.1:5173"));
        assert!(!allows(&["http://127.0.0.1:5173"], "http://127.0.0.1:5174"));
        assert!(allows(&["http://[::1]:8080"], "http://[::1]:8080"));
    }

    #[test]
    fn a_subdomain_pattern_matches_subdomains_only() {
        let rule = ["https://*.example.com"];
        assert!(allows(&rule, "https://a.example.com"));
        assert!(allows(&rule, "https://a.b.example.com"));
        assert!(!allows(&rule, "https://example.com"));
        assert!(!allows(&rule, "https://.example.com"));
        assert!(!allows(&rule, "https://badexample.com"));
        assert!(!allows(&rule, "https://a.example.com.evil.net"));
        assert!(!allows(&rule, "http://a.example.com"));
        assert!(!allows(&rule, "https://a.example.com:8443"));
        assert!(!allows(&rule, "https://a.example.com/"));
        assert!(!allows(&rule, "https://a_b.example.com"));
    }

    #[test]
    fn a_port_pattern_matches_any_port_of_that_host() {
        let rule = ["http://localhost:*"];
        assert!(allows(&rule, "http://localhost:3000"));
        assert!(allows(&rule, "http://localhost"));
        assert!(!allows(&rule, "https://localhost:3000"));
        assert!(!allows(&rule, "http://localhost.evil.net:3000"));
        assert!(!allows(&rule, "http://localhost:3x00"));
    }

    #[test]
    fn malformed_rules_are_refused_with_the_way_to_write_them() {
        for (rule, says) in [
            ("app.example.com", "write the scheme and host"),
            ("ftp://app.example.com", "http or https"),
            ("https://app.example.com/", "no path"),
            ("https://app.example.com/app", "no path"),
            ("https://a.*.example.com", "leftmost labels"),
            ("https://*example.com", "leftmost labels"),
            ("https://*.com", "top-level domain"),
            ("https://*.10.0.0.1", "IP address"),
            ("https://app.example.com:99999", "not a port"),
            ("https://user@app.example.com", "user name"),
        ] {
            let error = OriginRule::parse(rule).expect_err(rule);
            assert!(error.contains(says), "{rule}: {error}");
        }
    }
}
