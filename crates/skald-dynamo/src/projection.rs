//! ProjectionExpression (and legacy `AttributesToGet`): a list of document paths, and the part
//! of an item they select. Lists keep only the selected elements, in index order (`a[1], a[3]`
//! of `[x, y, z, w]` is `[y, w]`); missing paths are left out.

use std::collections::BTreeMap;

use crate::error::{ExpressionKind, Result};
use crate::lexer::{tokenize, Tok};
use crate::names::{Class, Placeholders, Resolver, Used};
use crate::path::{Path, PathElement};
use crate::value::{AttributeValue, Item};

/// A parsed ProjectionExpression.
#[derive(Clone, PartialEq, Debug)]
pub struct Projection {
    /// The selected paths; no two overlap.
    pub paths: Vec<Path>,
}

const ORDER: &[Class] = &[Class::Reserved, Class::UndefinedName, Class::Overlap, Class::Conflict, Class::Depth];

impl Projection {
    /// Parses a ProjectionExpression, resolving `#names`; returns it with what it used.
    pub fn parse(text: &str, placeholders: &Placeholders) -> Result<(Projection, Used)> {
        let mut tokens = tokenize(text, ExpressionKind::Projection)?;
        let mut resolver = Resolver::new(placeholders, ExpressionKind::Projection, ORDER);
        let mut paths = Vec::new();
        loop {
            let offset = tokens.offset();
            paths.push((resolver.path(&mut tokens)?, offset));
            if tokens.at_end() {
                break;
            }
            tokens.expect(Tok::Comma)?;
        }
        resolver.check_clashes(&paths);
        let used = resolver.finish()?;
        Ok((Projection { paths: paths.into_iter().map(|(p, _)| p).collect() }, used))
    }

    /// The part of `item` the projection selects.
    pub fn apply(&self, item: &Item) -> Item {
        project(item, &self.paths)
    }
}

/// What a projection builds before lists are compacted: list elements keyed by their index.
enum Node {
    Leaf(AttributeValue),
    Map(BTreeMap<String, Node>),
    List(BTreeMap<usize, Node>),
}

/// The values of `item` at `paths`, nested as in the item.
pub(crate) fn project<'a>(item: &Item, paths: impl IntoIterator<Item = &'a Path>) -> Item {
    let mut top: BTreeMap<String, Node> = BTreeMap::new();
    for path in paths {
        let Some(value) = path.get(item) else { continue };
        let Some((PathElement::Name(first), rest)) = path.elements().split_first() else { continue };
        let mut slot = top.entry(first.clone()).or_insert_with(|| container_for(rest.first()));
        for (i, element) in rest.iter().enumerate() {
            let next = container_for(rest.get(i + 1));
            slot = match (slot, element) {
                (Node::Map(map), PathElement::Name(name)) => map.entry(name.clone()).or_insert(next),
                (Node::List(list), PathElement::Index(index)) => list.entry(*index).or_insert(next),
                // Paths of one projection never clash, so a step always fits its container.
                (other, _) => other,
            };
        }
        *slot = Node::Leaf(value.clone());
    }
    top.into_iter().map(|(name, node)| (name, node.into_value())).collect()
}

fn container_for(next: Option<&PathElement>) -> Node {
    match next {
        Some(PathElement::Index(_)) => Node::List(BTreeMap::new()),
        Some(PathElement::Name(_)) => Node::Map(BTreeMap::new()),
        None => Node::Leaf(AttributeValue::Null),
    }
}

impl Node {
    /// The value, lists compacted. Recursion follows one projected path, so it is bounded by
    /// the path depth limit.
    fn into_value(self) -> AttributeValue {
        match self {
            Node::Leaf(value) => value,
            Node::Map(map) => AttributeValue::M(map.into_iter().map(|(k, n)| (k, n.into_value())).collect()),
            Node::List(list) => AttributeValue::L(list.into_values().map(Node::into_value).collect()),
        }
    }
}
