//! `KEYWAY_*` environment variables as a figment provider. figment's own `Env` guesses each value's type from its
//! text, so `KEYWAY_ADMIN_SECRET=123456789012` became a number and a string key refused it. Here a value is parsed
//! as a number or boolean only when the key's default is one; every other key takes the text as written.
use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};

use super::Config;

/// Variables that are not configuration keys: the config file's name, the log filter and the tests' database.
const NOT_KEYS: &[&str] = &["CONFIG", "LOG", "TEST_PG"];
pub(super) const PREFIX: &str = "KEYWAY_";
pub(super) const NAME: &str = "the environment";

pub(super) struct KeywayEnv {
    vars: Vec<(String, String)>,
}

impl KeywayEnv {
    pub(super) fn new() -> KeywayEnv {
        Self::from_vars(std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))))
    }

    pub(super) fn from_vars(vars: impl Iterator<Item = (String, String)>) -> KeywayEnv {
        let vars = vars
            .filter_map(|(k, v)| {
                let key = k.strip_prefix(PREFIX)?;
                (!key.is_empty() && !NOT_KEYS.contains(&key)).then(|| (key.to_ascii_lowercase(), v))
            })
            .collect();
        KeywayEnv { vars }
    }
}

impl Provider for KeywayEnv {
    fn metadata(&self) -> Metadata {
        Metadata::named(NAME).interpolater(|_, keys| format!("{PREFIX}{}", keys.join("_").to_ascii_uppercase()))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let defaults = serde_json::to_value(Config::default()).map_err(|e| Error::from(e.to_string()))?;
        let mut dict = Dict::new();
        for (key, raw) in &self.vars {
            let typed = matches!(defaults.get(key), Some(serde_json::Value::Number(_) | serde_json::Value::Bool(_)));
            let value = if typed {
                raw.parse::<Value>().unwrap_or_else(|_| Value::from(raw.clone()))
            } else {
                Value::from(raw.clone())
            };
            dict.insert(key.clone(), value);
        }
        Ok(Profile::Default.collect(dict))
    }
}
