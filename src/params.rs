//! Strict query/form parameter parsing shared by every surface: UTF-8 only, each parameter at most once
//! (RFC 6749 §3.1), values of bounded length. Each surface maps `ParamError` to its own error format.
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParamError(pub String);

#[derive(Debug, PartialEq, Eq)]
pub struct MissingParams(pub Vec<String>);

pub const MAX_VALUE_LEN: usize = 4096;

#[derive(Debug, Clone, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn parse(raw: &str) -> Result<Params, ParamError> {
        Self::parse_with_limit(raw, MAX_VALUE_LEN)
    }

    /// As [`Params::parse`] with another bound on each value (a SAMLResponse is tens of kilobytes).
    pub fn parse_with_limit(raw: &str, max_value_len: usize) -> Result<Params, ParamError> {
        let mut map = HashMap::new();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = decode(k).ok_or_else(|| ParamError("query parameters must be UTF-8".into()))?;
            let v = decode(v).ok_or_else(|| ParamError(format!("parameter {k} must be UTF-8")))?;
            if v.len() > max_value_len {
                return Err(ParamError(format!("parameter {k} is too long")));
            }
            if map.insert(k.clone(), v).is_some() {
                return Err(ParamError(format!("parameter {k} is given more than once")));
            }
        }
        Ok(Params(map))
    }

    /// Whether the parameter was sent at all (even empty).
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// A non-empty value, or None.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.as_str()).filter(|v| !v.is_empty())
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

fn decode(s: &str) -> Option<String> {
    let plus = s.replace('+', " ");
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(&plus).collect();
    String::from_utf8(bytes).ok()
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
}
