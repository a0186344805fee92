//! Finding the line of a key in the config text, for error messages.
//!
//! Deserialization runs on the table after environment overrides, so the
//! error it gives carries a key path but no position. The position comes
//! from a second read of the original text that keeps spans (`toml_edit`'s
//! parsed document), walked along that path: the line is the one of the key
//! at fault, whatever order the sections were checked in.

use std::ops::Range;

use serde_path_to_error::{Path, Segment};
use toml_edit::{Array, ArrayOfTables, ImDocument, Item, TableLike, Value};

/// The line (1-based) of the deepest key of `path` found in `text`. A path
/// ending at an entry of an array of tables (`runners[1]`, a missing field)
/// gives that entry's first key. `None` when no key of the path is in the
/// text (set from the environment only).
pub(super) fn line_of_path(text: &str, path: &Path) -> Option<usize> {
    let document = ImDocument::parse(text).ok()?;
    let mut node = Node::Table(document.as_table());
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

/// Where a path can lead in a document.
enum Node<'a> {
    Table(&'a dyn TableLike),
    Tables(&'a ArrayOfTables),
    Array(&'a Array),
    Scalar,
}

impl<'a> Node<'a> {
    fn of_item(item: &'a Item) -> Node<'a> {
        match item {
            Item::Table(t) => Node::Table(t),
            Item::ArrayOfTables(a) => Node::Tables(a),
            Item::Value(v) => Node::of_value(v),
            Item::None => Node::Scalar,
        }
    }

    fn of_value(value: &'a Value) -> Node<'a> {
        match value {
            Value::InlineTable(t) => Node::Table(t),
            Value::Array(a) => Node::Array(a),
            _ => Node::Scalar,
        }
    }

    /// The child at `segment` and the span of the key leading to it.
    fn step(&self, segment: &Segment) -> Option<(Node<'a>, Option<Range<usize>>)> {
        let entry = |node: Node<'a>| {
            let span = match &node {
                Node::Table(t) => first_key_span(*t),
                _ => None,
            };
            (node, span)
        };
        match (segment, self) {
            (Segment::Map { key }, Node::Table(table)) => {
                let (name, child) = table.get_key_value(key)?;
                Some((Node::of_item(child), name.span()))
            }
            (Segment::Seq { index }, Node::Tables(tables)) => Some(entry(Node::Table(tables.get(*index)?))),
            (Segment::Seq { index }, Node::Array(items)) => Some(entry(Node::of_value(items.get(*index)?))),
            _ => None,
        }
    }
}

/// Where the first key of a table is (the top of an `[[runners]]` entry).
fn first_key_span(table: &dyn TableLike) -> Option<Range<usize>> {
    table.iter().filter_map(|(name, _)| table.get_key_value(name)?.0.span()).min_by_key(|span| span.start)
}
