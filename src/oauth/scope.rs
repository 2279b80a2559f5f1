//! Scopes (RFC 6749 §3.3) keyway knows: `openid`, `email`, `profile`, `offline_access`.

pub const SUPPORTED_SCOPES: [&str; 4] = ["openid", "email", "profile", "offline_access"];

/// A space-delimited scope of supported values, deduplicated, in the order first given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope(Vec<&'static str>);

impl Scope {
    pub fn parse(s: &str) -> Result<Scope, String> {
        let mut out: Vec<&'static str> = Vec::new();
        for part in s.split(' ').filter(|p| !p.is_empty()) {
            let known =
                SUPPORTED_SCOPES.iter().find(|k| **k == part).ok_or_else(|| format!("unsupported scope {part}"))?;
            if !out.contains(known) {
                out.push(known);
            }
        }
        Ok(Scope(out))
    }

    pub fn has(&self, s: &str) -> bool {
        self.0.contains(&s)
    }

    pub fn is_subset_of(&self, other: &Scope) -> bool {
        self.0.iter().all(|s| other.has(s))
    }

    pub fn as_string(&self) -> String {
        self.0.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dedups_and_compares() {
        let s = Scope::parse("openid email openid").expect("scope");
        assert_eq!(s.as_string(), "openid email");
        assert!(Scope::parse("openid admin").is_err());
        assert!(Scope::parse("openid").expect("s").is_subset_of(&s));
        assert!(!Scope::parse("offline_access").expect("s").is_subset_of(&s));
        assert_eq!(Scope::parse("").expect("empty").as_string(), "");
    }
}
