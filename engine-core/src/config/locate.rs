//! Finding the line of a key in the config text, for error messages.
//!
//! Deserialization runs on the table after environment overrides, so the
//! error it gives carries a key path but no position. The position comes
//! from a second, span-keeping read of the original text, walked along
//! that path: the line is the one of the key at fault, whatever order the
//! sections were checked in.

use std::fmt;
use std::ops::Range;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_path_to_error::{Path, Segment};
use toml::Spanned;

/// The line (1-based) of the deepest key of `path` found in `text`. A path
/// ending at an entry of an array of tables (`runners[1]`, a missing field)
/// gives that entry's first key. `None` when no key of the path is in the
/// text (set from the environment only) or the text keeps no positions
/// (a key inside a TOML date-time value).
pub(super) fn line_of_path(text: &str, path: &Path) -> Option<usize> {
    let root: Node = toml::from_str(text).ok()?;
    let mut node = &root;
    let mut span = None;
    for segment in path.iter() {
        let Some((child, key_span)) = node.step(segment) else { break };
        node = child;
        span = key_span.or(span);
    }
    Some(line_of(text, span?.start))
}

/// The 1-based line holding byte `offset` of `text`.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

/// A TOML value reduced to where its keys are.
enum Node {
    Table(Vec<(Spanned<String>, Node)>),
    Array(Vec<Node>),
    Scalar,
}

impl Node {
    /// The child at `segment` and the span of the key leading to it.
    fn step(&self, segment: &Segment) -> Option<(&Node, Option<Range<usize>>)> {
        match (segment, self) {
            (Segment::Map { key }, Node::Table(entries)) => {
                let (name, child) = entries.iter().find(|(name, _)| name.get_ref() == key)?;
                Some((child, Some(name.span())))
            }
            (Segment::Seq { index }, Node::Array(items)) => {
                let item = items.get(*index)?;
                Some((item, item.first_key_span()))
            }
            _ => None,
        }
    }

    /// Where the first key of a table is (the top of an `[[runners]]` entry).
    fn first_key_span(&self) -> Option<Range<usize>> {
        match self {
            Node::Table(entries) => entries.iter().map(|(name, _)| name.span()).min_by_key(|span| span.start),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<Spanned<String>, Node>()? {
            entries.push(entry);
        }
        Ok(Node::Table(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_str<E>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
}
