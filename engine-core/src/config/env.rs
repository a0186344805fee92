//! Environment overrides: any setting can be set from the environment.
//!
//! `TRADING_ENGINE__EXECUTION__FEES__TAKER_BPS=5` sets `execution.fees.taker_bps`;
//! `TRADING_ENGINE__RUNNERS__0__SOURCE__SEED=7` sets `runners[0].source.seed`
//! (a number indexes an array). Names are lowercased; the value is read as a
//! TOML value (`5`, `true`, `"text"`, `[1, 2]`), and as a plain string if it
//! is not one.

/// Prefix of override variables; path parts are separated by `__`.
pub const ENV_PREFIX: &str = "TRADING_ENGINE__";

/// One environment variable applied to a configuration, kept so that an
/// error about the key it set can name the variable instead of a file line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The variable: `TRADING_ENGINE__ENGINE__MODE`.
    pub variable: String,
    /// The key it set, spelled as in errors: `engine.mode`, `runners[0].source.seed`.
    pub key: String,
}

/// How an override relates to the key an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Relation {
    /// The override set this key or a table holding it: the value at fault
    /// came from the environment.
    SetIt,
    /// The override set a key inside this one: the value is partly from
    /// the file, partly from the environment.
    Inside,
}

impl Override {
    /// How this override relates to `key` (spelled as in errors), if at all.
    pub(super) fn relation_to(&self, key: &str) -> Option<Relation> {
        if is_within(key, &self.key) {
            Some(Relation::SetIt)
        } else if is_within(&self.key, key) {
            Some(Relation::Inside)
        } else {
            None
        }
    }
}

/// Whether `key` is `outer` or a key below it (`runners[0].source` is within
/// `runners` and `runners[0]`, not within `run`).
fn is_within(key: &str, outer: &str) -> bool {
    key.strip_prefix(outer).is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// Applies the overrides found in `vars` to `table`; returns them sorted by
/// variable name (the order they were applied in). An override whose path
/// cannot be followed (an index past an array, a key under a non-table) is an
/// error naming it.
pub fn apply_overrides(
    table: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<Override>, String> {
    let mut found: Vec<(String, String)> =
        vars.into_iter().filter(|(name, _)| name.starts_with(ENV_PREFIX) && name.len() > ENV_PREFIX.len()).collect();
    found.sort();
    let mut applied = Vec::with_capacity(found.len());
    for (name, raw) in found {
        let path: Vec<String> = name[ENV_PREFIX.len()..].split("__").map(str::to_lowercase).collect();
        if path.iter().any(String::is_empty) {
            return Err(format!("environment variable {name}: empty part in the key path"));
        }
        let value = parse_value(&raw);
        let key = set(table, &path, value, "").map_err(|e| format!("environment variable {name}: {e}"))?;
        applied.push(Override { variable: name, key });
    }
    Ok(applied)
}

fn parse_value(raw: &str) -> toml::Value {
    let wrapped = format!("v = {raw}");
    match wrapped.parse::<toml::Table>() {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

/// Sets `path` under `table` (itself at key `at`, empty for the root) and
/// returns the key set, spelled as in errors.
fn set(table: &mut toml::Table, path: &[String], value: toml::Value, at: &str) -> Result<String, String> {
    let (first, rest) = path.split_first().expect("non-empty path");
    let key = if at.is_empty() { first.clone() } else { format!("{at}.{first}") };
    if rest.is_empty() {
        table.insert(first.clone(), value);
        return Ok(key);
    }
    let child = table.entry(first.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
    set_in(child, rest, value, &key)
}

fn set_in(node: &mut toml::Value, path: &[String], value: toml::Value, at: &str) -> Result<String, String> {
    match node {
        toml::Value::Table(t) => set(t, path, value, at),
        toml::Value::Array(items) => {
            let (index, rest) = path.split_first().expect("non-empty path");
            let i: usize = index.parse().map_err(|_| format!("{at} is a list: expected an index, got {index:?}"))?;
            let len = items.len();
            let item = items.get_mut(i).ok_or_else(|| format!("{at} has {len} entries, there is no [{i}]"))?;
            let key = format!("{at}[{i}]");
            if rest.is_empty() {
                *item = value;
                return Ok(key);
            }
            set_in(item, rest, value, &key)
        }
        _ => Err(format!("{at} is a single value, it has no {:?}", path[0])),
    }
}
