//! Applying an update to an item, with DynamoDB's semantics:
//!
//! - every value on the right of `SET` is computed from the item as it was before the update;
//! - `SET a.b = …` needs `a` to exist and be a map, `SET a[i] = …` a list; an index past the end
//!   appends; otherwise "The document path provided in the update expression is invalid for
//!   update";
//! - `REMOVE` of a missing attribute, map key or list index is nothing; list indexes refer to the
//!   list before the update (`REMOVE a[1], a[2]` removes both original elements);
//! - `ADD` to a missing attribute sets it; a number adds, a set unions; `DELETE` takes members
//!   from a set and removes the attribute when none are left; other types are "An operand in the
//!   update expression has an incorrect data type";
//! - `+`/`-` are exact ([`Number::checked_add`]); a path operand that is missing is "The provided
//!   expression refers to an attribute that does not exist in the item";
//! - the result may nest at most [`crate::limits::DOCUMENT_DEPTH_MAX`] levels and weigh at most 400 KB.
//!
//! Nothing here recurses: paths are walked in loops.

use crate::error::{Error, ErrorKind, Result};
use crate::key::check_item_size;
use crate::number::Number;
use crate::path::{step_mut, Path, PathElement};
use crate::projection::project;
use crate::update::{Action, SetValue, Update, UpdateOperand};
use crate::value::{AttributeValue, Item};

/// What an UpdateItem's `ReturnValues` asks for.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum ReturnValues {
    /// Nothing.
    #[default]
    None,
    /// The whole item before the update.
    AllOld,
    /// The updated attributes (paths) before the update.
    UpdatedOld,
    /// The whole item after the update.
    AllNew,
    /// The updated attributes (paths) after the update.
    UpdatedNew,
}

impl ReturnValues {
    /// Parses the wire name (`ALL_NEW`, …).
    pub fn parse(name: &str) -> Option<ReturnValues> {
        Some(match name {
            "NONE" => ReturnValues::None,
            "ALL_OLD" => ReturnValues::AllOld,
            "UPDATED_OLD" => ReturnValues::UpdatedOld,
            "ALL_NEW" => ReturnValues::AllNew,
            "UPDATED_NEW" => ReturnValues::UpdatedNew,
            _ => return None,
        })
    }
}

/// The result of applying an update.
#[derive(Clone, PartialEq, Debug)]
pub struct UpdateOutcome {
    /// The item before the update (`None`: it did not exist).
    pub old: Option<Item>,
    /// The item after the update.
    pub new: Item,
    /// The paths the update changed, as they are in the new item (appends at their final index).
    pub changed: Vec<Path>,
    /// The paths the update removed.
    pub removed: Vec<Path>,
}

impl UpdateOutcome {
    /// The `Attributes` DynamoDB returns for `return_values`; `None` when it returns none (also
    /// when the selection is empty).
    pub fn returned(&self, return_values: ReturnValues) -> Option<Item> {
        let empty = Item::new();
        let old = self.old.as_ref().unwrap_or(&empty);
        let item = match return_values {
            ReturnValues::None => return None,
            ReturnValues::AllOld => return self.old.clone(),
            ReturnValues::AllNew => self.new.clone(),
            ReturnValues::UpdatedOld => project(old, self.changed.iter().chain(&self.removed)),
            ReturnValues::UpdatedNew => project(&self.new, &self.changed),
        };
        (!item.is_empty()).then_some(item)
    }
}

impl Update {
    /// Applies the update to `old` (the stored item, `None` if there is none), starting a new item
    /// from `key` when there is none.
    pub fn apply(&self, old: Option<&Item>, key: &Item) -> Result<UpdateOutcome> {
        let base = old.unwrap_or(key);
        let values = self.set_values(base)?;
        let mut item = base.clone();
        let mut changed = Vec::new();
        let mut sets = values.into_iter();
        for action in &self.actions {
            match action {
                Action::Set(path, _) => {
                    let value = sets.next().unwrap_or(AttributeValue::Null);
                    changed.push(set_at(&mut item, path, value)?);
                }
                Action::Add(path, value) => {
                    add(&mut item, path, value)?;
                    changed.push(path.clone());
                }
                Action::Delete(path, value) => {
                    delete(&mut item, path, value)?;
                    changed.push(path.clone());
                }
                Action::Remove(_) => {}
            }
        }
        let removed = self.remove_all(&mut item)?;
        if item.values().any(AttributeValue::too_deep) {
            return Err(Error::request(ErrorKind::DocumentTooDeep, "Nesting Levels have exceeded supported limits"));
        }
        check_item_size(&item, "Item size to update has exceeded the maximum allowed size")?;
        Ok(UpdateOutcome { old: old.cloned(), new: item, changed, removed })
    }

    /// The right-hand side of every `SET`, from the item before the update.
    fn set_values(&self, base: &Item) -> Result<Vec<AttributeValue>> {
        self.actions
            .iter()
            .filter_map(|action| match action {
                Action::Set(_, value) => Some(set_value(value, base)),
                _ => None,
            })
            .collect()
    }

    /// Applies the `REMOVE`s, deepest and highest index first, so each index still means what it
    /// meant before the update.
    fn remove_all(&self, item: &mut Item) -> Result<Vec<Path>> {
        let mut removes: Vec<&Path> = self
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Remove(path) => Some(path),
                _ => None,
            })
            .collect();
        removes.sort_by(|a, b| b.cmp(a));
        for path in &removes {
            remove_at(item, path)?;
        }
        Ok(removes.into_iter().cloned().collect())
    }
}

fn set_value(value: &SetValue, base: &Item) -> Result<AttributeValue> {
    let (a, b, negate) = match value {
        SetValue::Operand(operand) => return operand_value(operand, base),
        SetValue::Plus(a, b) => (a, b, false),
        SetValue::Minus(a, b) => (a, b, true),
    };
    let (a, b) = (number(operand_value(a, base)?)?, number(operand_value(b, base)?)?);
    let sum = if negate { a.checked_sub(&b) } else { a.checked_add(&b) };
    Ok(AttributeValue::N(sum?))
}

fn number(value: AttributeValue) -> Result<Number> {
    match value {
        AttributeValue::N(n) => Ok(n),
        _ => Err(incorrect_type()),
    }
}

/// An operand's value. `if_not_exists` and `list_append` nest, but only as deep as the parser
/// allows ([`crate::limits::EXPRESSION_NESTING_MAX`]).
fn operand_value(operand: &UpdateOperand, base: &Item) -> Result<AttributeValue> {
    match operand {
        UpdateOperand::Path(path) => path.get(base).cloned().ok_or_else(missing_attribute),
        UpdateOperand::Value(value) => Ok(value.clone()),
        UpdateOperand::IfNotExists(path, fallback) => match path.get(base) {
            Some(value) => Ok(value.clone()),
            None => operand_value(fallback, base),
        },
        UpdateOperand::ListAppend(a, b) => match (operand_value(a, base)?, operand_value(b, base)?) {
            (AttributeValue::L(mut a), AttributeValue::L(b)) => {
                a.extend(b);
                Ok(AttributeValue::L(a))
            }
            _ => Err(incorrect_type()),
        },
    }
}

/// The container that holds the last element of `path`, which must exist.
fn parent<'a>(item: &'a mut Item, path: &Path) -> Result<&'a mut AttributeValue> {
    let elements = path.elements();
    let Some(PathElement::Name(first)) = elements.first() else { return Err(invalid_path()) };
    let mut value = item.get_mut(first).ok_or_else(invalid_path)?;
    for element in &elements[1..elements.len() - 1] {
        value = step_mut(value, element).ok_or_else(invalid_path)?;
    }
    Ok(value)
}

/// Sets `path` to `value`; returns where the value landed (an append's final index).
fn set_at(item: &mut Item, path: &Path, value: AttributeValue) -> Result<Path> {
    let mut landed = path.clone();
    match path.elements() {
        [PathElement::Name(name)] => {
            item.insert(name.clone(), value);
        }
        [.., last] => match (parent(item, path)?, last) {
            (AttributeValue::M(map), PathElement::Name(name)) => {
                map.insert(name.clone(), value);
            }
            (AttributeValue::L(list), PathElement::Index(index)) => match list.get_mut(*index) {
                Some(slot) => *slot = value,
                None => {
                    landed.set_last(PathElement::Index(list.len()));
                    list.push(value);
                }
            },
            _ => return Err(invalid_path()),
        },
        [] => return Err(invalid_path()),
    }
    Ok(landed)
}

fn remove_at(item: &mut Item, path: &Path) -> Result<()> {
    match path.elements() {
        [PathElement::Name(name)] => {
            item.remove(name);
        }
        [.., last] => match (parent(item, path)?, last) {
            (AttributeValue::M(map), PathElement::Name(name)) => {
                map.remove(name);
            }
            (AttributeValue::L(list), PathElement::Index(index)) => {
                if *index < list.len() {
                    list.remove(*index);
                }
            }
            _ => return Err(invalid_path()),
        },
        [] => return Err(invalid_path()),
    }
    Ok(())
}

fn add(item: &mut Item, path: &Path, value: &AttributeValue) -> Result<()> {
    let current = path.get(item).cloned();
    let sum = match (current, value) {
        (None, v) => v.clone(),
        (Some(AttributeValue::N(a)), AttributeValue::N(b)) => AttributeValue::N(a.checked_add(b)?),
        (Some(AttributeValue::Ss(mut a)), AttributeValue::Ss(b)) => {
            a.extend(b.iter().cloned());
            AttributeValue::Ss(a)
        }
        (Some(AttributeValue::Ns(mut a)), AttributeValue::Ns(b)) => {
            a.extend(b.iter().copied());
            AttributeValue::Ns(a)
        }
        (Some(AttributeValue::Bs(mut a)), AttributeValue::Bs(b)) => {
            a.extend(b.iter().cloned());
            AttributeValue::Bs(a)
        }
        _ => return Err(incorrect_type()),
    };
    set_at(item, path, sum).map(drop)
}

fn delete(item: &mut Item, path: &Path, value: &AttributeValue) -> Result<()> {
    let Some(current) = path.get(item).cloned() else {
        // Deleting from nothing is nothing, but the path to it must still be valid.
        return if path.is_top_level() { Ok(()) } else { parent(item, path).map(drop) };
    };
    let rest = match (current, value) {
        (AttributeValue::Ss(mut a), AttributeValue::Ss(b)) => {
            a.retain(|m| !b.contains(m));
            (!a.is_empty()).then_some(AttributeValue::Ss(a))
        }
        (AttributeValue::Ns(mut a), AttributeValue::Ns(b)) => {
            a.retain(|m| !b.contains(m));
            (!a.is_empty()).then_some(AttributeValue::Ns(a))
        }
        (AttributeValue::Bs(mut a), AttributeValue::Bs(b)) => {
            a.retain(|m| !b.contains(m));
            (!a.is_empty()).then_some(AttributeValue::Bs(a))
        }
        _ => return Err(incorrect_type()),
    };
    match rest {
        Some(set) => set_at(item, path, set).map(drop),
        None => remove_at(item, path),
    }
}

fn invalid_path() -> Error {
    Error::request(
        ErrorKind::InvalidDocumentPath,
        "The document path provided in the update expression is invalid for update",
    )
}

fn missing_attribute() -> Error {
    Error::request(
        ErrorKind::MissingAttribute,
        "The provided expression refers to an attribute that does not exist in the item",
    )
}

fn incorrect_type() -> Error {
    Error::request(ErrorKind::IncorrectDataType, "An operand in the update expression has an incorrect data type")
}
