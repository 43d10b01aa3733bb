//! Document paths (`a.b[3].c`): their resolved form, how DynamoDB prints them in messages
//! (`[a, b, [3], c]`), how two paths relate (overlap, conflict), and reading and navigating them
//! in an item without recursion.

use std::fmt;

use crate::value::{AttributeValue, Item};

/// One step of a document path.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum PathElement {
    /// A map key (the first element is the top-level attribute name).
    Name(String),
    /// A list index.
    Index(usize),
}

/// A resolved document path: placeholders replaced by the names they stand for. The first
/// element is always a [`PathElement::Name`].
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Path(Vec<PathElement>);

/// How two document paths of one expression relate.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Clash {
    /// One is a prefix of the other (or they are equal).
    Overlap,
    /// They agree up to a step where one indexes a list and the other names a map key.
    Conflict,
}

impl Path {
    /// A top-level attribute.
    pub fn attribute(name: impl Into<String>) -> Path {
        Path(vec![PathElement::Name(name.into())])
    }

    /// A path from its elements; `None` unless the first is a name.
    pub fn new(elements: Vec<PathElement>) -> Option<Path> {
        matches!(elements.first(), Some(PathElement::Name(_))).then_some(Path(elements))
    }

    /// The elements, top-level attribute first.
    pub fn elements(&self) -> &[PathElement] {
        &self.0
    }

    /// The top-level attribute name.
    pub fn top(&self) -> &str {
        match self.0.first() {
            Some(PathElement::Name(name)) => name,
            _ => "",
        }
    }

    /// Whether the path is a single top-level attribute.
    pub fn is_top_level(&self) -> bool {
        self.0.len() == 1
    }

    pub(crate) fn push(&mut self, element: PathElement) {
        self.0.push(element);
    }

    pub(crate) fn set_last(&mut self, element: PathElement) {
        if let Some(last) = self.0.last_mut() {
            *last = element;
        }
    }

    /// The value at this path in `item`, if there is one.
    pub fn get<'a>(&self, item: &'a Item) -> Option<&'a AttributeValue> {
        let (first, rest) = self.0.split_first()?;
        let PathElement::Name(name) = first else { return None };
        rest.iter().try_fold(item.get(name)?, |value, element| step(value, element))
    }

    /// How this path relates to `other`, if they clash.
    pub(crate) fn clash(&self, other: &Path) -> Option<Clash> {
        for (a, b) in self.0.iter().zip(&other.0) {
            match (a, b) {
                (PathElement::Name(x), PathElement::Name(y)) if x == y => {}
                (PathElement::Index(x), PathElement::Index(y)) if x == y => {}
                (PathElement::Name(_), PathElement::Name(_)) | (PathElement::Index(_), PathElement::Index(_)) => {
                    return None
                }
                _ => return Some(Clash::Conflict),
            }
        }
        Some(Clash::Overlap)
    }
}

/// One step into a list or map.
pub(crate) fn step<'a>(value: &'a AttributeValue, element: &PathElement) -> Option<&'a AttributeValue> {
    match (value, element) {
        (AttributeValue::M(map), PathElement::Name(name)) => map.get(name),
        (AttributeValue::L(items), PathElement::Index(i)) => items.get(*i),
        _ => None,
    }
}

/// One mutable step into a list or map.
pub(crate) fn step_mut<'a>(value: &'a mut AttributeValue, element: &PathElement) -> Option<&'a mut AttributeValue> {
    match (value, element) {
        (AttributeValue::M(map), PathElement::Name(name)) => map.get_mut(name),
        (AttributeValue::L(items), PathElement::Index(i)) => items.get_mut(*i),
        _ => None,
    }
}

impl fmt::Display for Path {
    /// DynamoDB's form in messages: `[a, b, [3], c]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, element) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match element {
                PathElement::Name(name) => f.write_str(name)?,
                PathElement::Index(index) => write!(f, "[{index}]")?,
            }
        }
        f.write_str("]")
    }
}
