//! Percent-encoding of URL components, shared by every surface that builds a URL.
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// RFC 3986 §2.3: everything but unreserved characters is percent-encoded (so spaces become `%20`, not `+`).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

pub fn component(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// `base?k=v&k=v` (or `base&k=v…` when `base` already has a query), values encoded.
pub fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(base.len() + pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum::<usize>());
    out.push_str(base);
    let mut sep = if base.contains('?') { '&' } else { '?' };
    for (k, v) in pairs {
        out.push(sep);
        out.push_str(k);
        out.push('=');
        out.push_str(&component(v));
        sep = '&';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_components_and_queries() {
        assert_eq!(component("a b&c/d~e"), "a%20b%26c%2Fd~e");
        assert_eq!(
            with_query("https://x/cb", &[("state", "s 1"), ("iss", "https://op")]),
            "https://x/cb?state=s%201&iss=https%3A%2F%2Fop"
        );
        assert_eq!(with_query("https://x/cb?a=1", &[("b", "2")]), "https://x/cb?a=1&b=2");
    }
}
