//! Strict query/form parameter parsing for the License API: UTF-8 only, each parameter at most once, values of
//! bounded length. Anything else is a 400 `invalid_params` naming the parameter (never a 500).
use std::collections::HashMap;

use super::error::LicenseApiError;

pub const MAX_VALUE_LEN: usize = 4096;

pub struct Params(HashMap<String, String>);

impl Params {
    pub fn parse(raw: &str) -> Result<Params, LicenseApiError> {
        let mut map = HashMap::new();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = decode(k).ok_or_else(|| LicenseApiError::InvalidParams("query parameters must be UTF-8".into()))?;
            let v = decode(v).ok_or_else(|| LicenseApiError::InvalidParams(format!("parameter {k} must be UTF-8")))?;
            if v.len() > MAX_VALUE_LEN {
                return Err(LicenseApiError::InvalidParams(format!("parameter {k} is too long")));
            }
            if map.insert(k.clone(), v).is_some() {
                return Err(LicenseApiError::InvalidParams(format!("parameter {k} is given more than once")));
            }
        }
        Ok(Params(map))
    }

    /// A non-empty value, or None.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.as_str()).filter(|v| !v.is_empty())
    }

    /// All required parameters, or `missing_params` naming every absent one.
    pub fn require<const N: usize>(&self, names: [&str; N]) -> Result<[&str; N], LicenseApiError> {
        let missing: Vec<String> = names.iter().filter(|n| self.get(n).is_none()).map(|n| n.to_string()).collect();
        if !missing.is_empty() {
            return Err(LicenseApiError::MissingParams(missing));
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
        assert!(matches!(p.require(["a", "c", "d"]), Err(LicenseApiError::MissingParams(m)) if m == ["c", "d"]));
        assert!(Params::parse("a=%ff").is_err());
        assert!(Params::parse("a=1&a=2").is_err());
        assert!(Params::parse(&format!("a={}", "x".repeat(MAX_VALUE_LEN + 1))).is_err());
    }
}
