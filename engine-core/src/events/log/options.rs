//! How a [`super::LogWriter`] compresses and how hard it pushes records to
//! disk; serde-friendly so a session config can carry it (TOML shape on
//! [`WriterOptions`]).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    #[default]
    None,
    /// lz4 block compression per record, kept only when it makes the
    /// payload smaller (small postcard events often do not shrink).
    Lz4,
}

/// When appended records reach the OS and the disk. Whatever the mode,
/// `finish` flushes and fsyncs; a crash loses at most the records not yet
/// synced, and leaves at worst a torn tail that [`super::recover`] cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Durability {
    /// Written to the OS only when the 64 KiB buffer fills (and at
    /// `flush`/`sync`/`finish`); fsync at `finish`. Fastest: for backtests.
    Buffered,
    /// Every record is written to the OS as it is appended (survives a
    /// crash of the process, not of the machine); fsync at `finish`.
    FlushEach,
    /// Flush and `sync_data` once `records` records were appended since the
    /// last sync, or when an append finds `millis` milliseconds have passed
    /// since it, whichever comes first. 0 disables that trigger. Time is
    /// looked at only on append: an idle writer does not sync on its own,
    /// so a caller that may go quiet should call `sync` on a timer.
    FsyncEvery { records: u32, millis: u64 },
    /// Flush and `sync_data` after every record: slowest, nothing acknowledged
    /// is ever lost.
    FsyncEach,
}

impl Default for Durability {
    fn default() -> Self {
        Durability::FsyncEvery { records: 1000, millis: 200 }
    }
}

/// Writer settings. In a TOML config:
///
/// ```toml
/// [event_log]
/// compression = "lz4"          # or "none" (the default)
/// index_every = 256            # one index entry per 256 records (default)
///
/// [event_log.durability]
/// mode = "fsync_every"         # "buffered" | "flush_each" | "fsync_every" | "fsync_each"
/// records = 1000               # fsync_every only: sync after this many records...
/// millis = 200                 # ...or once this much wall time passed, whichever first
/// ```
///
/// or inline: `durability = { mode = "fsync_each" }`. Every field has a
/// default, so an empty table is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WriterOptions {
    pub compression: Compression,
    pub durability: Durability,
    /// One sparse index entry per this many records (must be ≥ 1). A seek
    /// scans at most this many record headers after its binary search.
    pub index_every: u32,
}

pub const DEFAULT_INDEX_EVERY: u32 = 256;

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            compression: Compression::None,
            durability: Durability::default(),
            index_every: DEFAULT_INDEX_EVERY,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_shape_is_the_documented_one() {
        #[derive(Deserialize, Serialize, PartialEq, Debug)]
        struct Config {
            event_log: WriterOptions,
        }
        let text = r#"
            [event_log]
            compression = "lz4"
            index_every = 64
            [event_log.durability]
            mode = "fsync_every"
            records = 10
            millis = 5
        "#;
        let cfg: Config = toml::from_str(text).unwrap();
        let expected = WriterOptions {
            compression: Compression::Lz4,
            durability: Durability::FsyncEvery { records: 10, millis: 5 },
            index_every: 64,
        };
        assert_eq!(cfg.event_log, expected);
        assert_eq!(toml::from_str::<Config>(&toml::to_string(&cfg).unwrap()).unwrap(), cfg);

        let inline: Config = toml::from_str("event_log = { durability = { mode = \"flush_each\" } }").unwrap();
        assert_eq!(inline.event_log, WriterOptions { durability: Durability::FlushEach, ..WriterOptions::default() });
        let empty: Config = toml::from_str("[event_log]").unwrap();
        assert_eq!(empty.event_log, WriterOptions::default());
        assert!(toml::from_str::<Config>("event_log = { durability = { mode = \"sometimes\" } }").is_err());
        assert!(toml::from_str::<Config>("event_log = { compresion = \"lz4\" }").is_err());
    }
}
