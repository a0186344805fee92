//! Environment overrides: any setting can be set from the environment.
//!
//! `TRADING_ENGINE__EXECUTION__FEES__TAKER_BPS=5` sets `execution.fees.taker_bps`;
//! `TRADING_ENGINE__RUNNERS__0__SOURCE__SEED=7` sets `runners[0].source.seed`
//! (a number indexes an array). Names are lowercased; the value is read as a
//! TOML value (`5`, `true`, `"text"`, `[1, 2]`), and as a plain string if it
//! is not one.

/// Prefix of override variables; path parts are separated by `__`.
pub const ENV_PREFIX: &str = "TRADING_ENGINE__";

/// Applies the overrides found in `vars` to `table`; returns the variables
/// used, sorted (for messages). An override whose path cannot be followed
/// (an index past an array, a key under a non-table) is an error naming it.
pub fn apply_overrides(
    table: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<String>, String> {
    let mut applied: Vec<(String, String)> =
        vars.into_iter().filter(|(name, _)| name.starts_with(ENV_PREFIX) && name.len() > ENV_PREFIX.len()).collect();
    applied.sort();
    for (name, raw) in &applied {
        let path: Vec<String> = name[ENV_PREFIX.len()..].split("__").map(str::to_lowercase).collect();
        if path.iter().any(String::is_empty) {
            return Err(format!("environment variable {name}: empty part in the key path"));
        }
        let value = parse_value(raw);
        set(table, &path, value).map_err(|e| format!("environment variable {name}: {e}"))?;
    }
    Ok(applied.into_iter().map(|(name, _)| name).collect())
}

fn parse_value(raw: &str) -> toml::Value {
    let wrapped = format!("v = {raw}");
    match wrapped.parse::<toml::Table>() {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn set(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (first, rest) = path.split_first().expect("non-empty path");
    if rest.is_empty() {
        table.insert(first.clone(), value);
        return Ok(());
    }
    let child = table.entry(first.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
    set_in(child, rest, value, first)
}

fn set_in(node: &mut toml::Value, path: &[String], value: toml::Value, at: &str) -> Result<(), String> {
    match node {
        toml::Value::Table(t) => set(t, path, value),
        toml::Value::Array(items) => {
            let (index, rest) = path.split_first().expect("non-empty path");
            let i: usize = index.parse().map_err(|_| format!("{at} is a list: expected an index, got {index:?}"))?;
            let len = items.len();
            let item = items.get_mut(i).ok_or_else(|| format!("{at} has {len} entries, there is no [{i}]"))?;
            if rest.is_empty() {
                *item = value;
                return Ok(());
            }
            set_in(item, rest, value, &format!("{at}[{i}]"))
        }
        _ => Err(format!("{at} is a single value, it has no {:?}", path[0])),
    }
}
