//! Strict query/form parameter parsing shared by every surface: UTF-8 only, each parameter at most once
//! (RFC 6749 §3.1), values of bounded length. Each surface maps `ParamError` to its own error format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParamError(pub String);

#[derive(Debug, PartialEq, Eq)]
pub struct MissingParams(pub Vec<String>);

pub const MAX_VALUE_LEN: usize = 4096;

/// The parameters in the order sent. A list, not a map: a request carries a handful of them, and scanning a few
/// short keys costs less than hashing each one (issue 16: parsing was ~8 % of a login flow's non-RSA instructions).
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

/// Up to this many parameters a repeated one is found by comparing each with those before it; beyond it by
/// sorting the names, so a body of thousands of parameters costs O(n log n), not O(n²).
const LINEAR_DUPLICATE_CHECK: usize = 32;

impl Params {
    pub fn parse(raw: &str) -> Result<Params, ParamError> {
        Self::parse_with_limit(raw, MAX_VALUE_LEN)
    }

    /// As [`Params::parse`] with another bound on each value (a SAMLResponse is tens of kilobytes).
    pub fn parse_with_limit(raw: &str, max_value_len: usize) -> Result<Params, ParamError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = decode(k).ok_or_else(|| ParamError("query parameters must be UTF-8".into()))?;
            let v = decode(v).ok_or_else(|| ParamError(format!("parameter {k} must be UTF-8")))?;
            if v.len() > max_value_len {
                return Err(ParamError(format!("parameter {k} is too long")));
            }
            if pairs.len() < LINEAR_DUPLICATE_CHECK && pairs.iter().any(|(seen, _)| *seen == k) {
                return Err(more_than_once(&k));
            }
            pairs.push((k, v));
        }
        if pairs.len() > LINEAR_DUPLICATE_CHECK {
            let mut names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
            names.sort_unstable();
            if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
                return Err(more_than_once(w[0]));
            }
        }
        Ok(Params(pairs))
    }

    /// Whether the parameter was sent at all (even empty).
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// A non-empty value, or None.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// All required parameters, or `missing_params` naming every absent one.
    pub fn require<const N: usize>(&self, names: [&str; N]) -> Result<[&str; N], MissingParams> {
        let missing: Vec<String> = names.iter().filter(|n| self.get(n).is_none()).map(|n| n.to_string()).collect();
        if !missing.is_empty() {
            return Err(MissingParams(missing));
        }
        Ok(names.map(|n| self.get(n).unwrap_or_default()))
    }
}

fn more_than_once(name: &str) -> ParamError {
    ParamError(format!("parameter {name} is given more than once"))
}

/// `application/x-www-form-urlencoded` decoding (WHATWG URL §5.1): `+` is a space, `%XY` the byte 0xXY, a `%`
/// not followed by two hex digits stays as it is; the result must be UTF-8. Most names and values hold neither
/// `+` nor `%`: they are copied as they are.
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b == b'+' || b == b'%') {
        return Some(s.to_owned());
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (bytes.get(i + 1).and_then(hex_digit), bytes.get(i + 2).and_then(hex_digit)) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex_digit(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let p = Params::parse("a=1&b=x%20y+z&c=").expect("parses");
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), Some("x y z"));
        assert_eq!(p.get("c"), None);
        assert!(matches!(p.require(["a", "c", "d"]), Err(MissingParams(m)) if m == ["c", "d"]));
        assert!(Params::parse("a=%ff").is_err());
        assert!(Params::parse("a=1&a=2").is_err());
        assert!(Params::parse(&format!("a={}", "x".repeat(MAX_VALUE_LEN + 1))).is_err());
    }

    #[test]
    fn decodes_as_a_form() {
        let p = Params::parse("k%2Bey=a%2Bb+c&pct=100%&bad=%zz%4&mixed=%C3%A9t%c3%a9&plain=x.y~z").expect("parses");
        assert_eq!(p.get("k+ey"), Some("a+b c"));
        assert_eq!(p.get("pct"), Some("100%"));
        assert_eq!(p.get("bad"), Some("%zz%4"));
        assert_eq!(p.get("mixed"), Some("été"));
        assert_eq!(p.get("plain"), Some("x.y~z"));
        assert!(Params::parse("a=%C3").is_err(), "a lone UTF-8 lead byte");
        assert!(p.contains("plain") && !p.contains("k%2Bey"));
    }

    #[test]
    fn a_repeated_parameter_is_found_among_many() {
        let many: Vec<String> = (0..1000).map(|i| format!("p{i}={i}")).collect();
        let ok = Params::parse(&many.join("&")).expect("all distinct");
        assert_eq!(ok.get("p999"), Some("999"));
        let repeated = format!("{}&p500=again", many.join("&"));
        assert_eq!(Params::parse(&repeated).unwrap_err().0, "parameter p500 is given more than once");
        let early = "a=1&b=2&a=3";
        assert_eq!(Params::parse(early).unwrap_err().0, "parameter a is given more than once");
    }
}
