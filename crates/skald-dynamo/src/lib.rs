//! DynamoDB's data model and expression languages, pure: no I/O, no clock, no randomness.
//!
//! Service-owned tables will speak DynamoDB's API (`X-Amz-Target: DynamoDB_20120810.*`, JSON
//! 1.0); the engine that stores their items in the log is written against this crate. It owns:
//!
//! - **values** ([`value`], [`number`], [`wire`]): the ten attribute types, DynamoDB's JSON wire
//!   form with its checks, exact 38-digit decimal numbers, item sizes (400 KB);
//! - **keys** ([`key`]): key schemas, key checks (types, empty values, 2048/1024-byte limits) and
//!   the order of key values in a Query;
//! - **the expression languages**, each parsed once into a typed AST: [`condition`] (also
//!   FilterExpression) evaluated by [`eval`], [`key_condition`], [`update`] applied by [`apply`],
//!   [`projection`]; placeholders and DynamoDB's reserved words ([`names`], [`reserved`]);
//! - **the legacy parameters** ([`legacy`]) mapped onto the same ASTs, and the rules that tie a
//!   request's parameters together ([`request`]);
//! - **errors** ([`error`]) carrying the message text DynamoDB answers with, and **limits**
//!   ([`limits`]), each the DynamoDB limit it mirrors;
//! - a **fuzzing entry point** ([`fuzz::fuzz`]).
//!
//! ```
//! use skald_dynamo::apply::ReturnValues;
//! use skald_dynamo::key::{KeySchema, KeyType};
//! use skald_dynamo::request::{Operation, Request};
//! use skald_dynamo::wire::{item_from_json, item_to_json};
//!
//! let schema = KeySchema::partition("pk", KeyType::S);
//! let body = serde_json::json!({
//!     "UpdateExpression": "SET #c = if_not_exists(#c, :zero) + :one ADD tags :t",
//!     "ConditionExpression": "attribute_not_exists(pk) OR #c < :max",
//!     "ExpressionAttributeNames": {"#c": "count"},
//!     "ExpressionAttributeValues": {
//!         ":zero": {"N": "0"}, ":one": {"N": "1"}, ":max": {"N": "10"}, ":t": {"SS": ["new"]}
//!     }
//! });
//! let compiled = Request::from_json(&body)?.compile(Operation::UpdateItem, Some(&schema))?;
//!
//! let stored = item_from_json(&serde_json::json!({"pk": {"S": "a"}, "count": {"N": "4.0"}}))?;
//! assert!(compiled.condition.as_ref().unwrap().evaluate(Some(&stored)));
//! let outcome = compiled.update.as_ref().unwrap().apply(Some(&stored), &schema.key_of(&stored))?;
//! let changed = outcome.returned(ReturnValues::UpdatedNew).unwrap();
//! assert_eq!(item_to_json(&changed), serde_json::json!({"count": {"N": "5"}, "tags": {"SS": ["new"]}}));
//!
//! // Errors are DynamoDB's, word for word.
//! let bad = serde_json::json!({"ConditionExpression": "size = :v", "ExpressionAttributeValues": {":v": {"N": "1"}}});
//! let error = Request::from_json(&bad)?.compile(Operation::PutItem, Some(&schema)).unwrap_err();
//! assert_eq!(error.to_string(), "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: size");
//! # Ok::<(), skald_dynamo::error::Error>(())
//! ```
//!
//! # Exact
//!
//! Numbers (38 significant digits, exponents −130..+125, exact `+`/`-`, `1.0 == 1`, output in
//! plain notation as DynamoDB returns it); the grammar and precedence of every expression
//! language (`OR` < `AND` < `NOT` < comparisons); the semantics of missing attributes and type
//! mismatches (every test false except `<>` and `attribute_not_exists`); `size` counting UTF-16
//! code units; update semantics (right-hand sides read the item before the update, appends past
//! a list's end, list indexes of `REMOVE` meaning the original positions, `ADD`/`DELETE` on sets,
//! empty sets removed); the parse-time checks and the order in which DynamoDB reports them; the
//! 573 reserved words; the legacy operators and their validation.
//!
//! # Deliberately different
//!
//! - Item size counts a number as one byte per two significant digits plus one — DynamoDB's
//!   documented approximation; its exact encoding is not public.
//! - Serialization errors (`{"N": 5}`) say what was expected instead of naming Java classes.
//! - When an expression has several problems of the *same* class, the first in the text is
//!   reported; DynamoDB's choice there is not documented.
//! - `UPDATED_OLD`/`UPDATED_NEW` return the updated document paths (nested), not whole top-level
//!   attributes.
//! - Parsers stop at [`limits::EXPRESSION_NESTING_MAX`] levels of parentheses, `NOT` and calls
//!   (DynamoDB's only bound is the 4 KB length) so no input can exhaust the stack.
//!
//! # Messages
//!
//! Confirmed against DynamoDB's documentation or its recorded answers: the syntax error form
//! (`token`/`near`), reserved keyword, undefined and unused placeholders, invalid function,
//! operand count and type, document path required, misused function, distinct operands,
//! BETWEEN bounds, redundant parentheses, section used twice, overlapping and conflicting paths,
//! the empty expression, mixing of legacy and expression parameters, the placeholder-map checks,
//! the number errors, the set errors, the update runtime errors, the item-size messages, the key
//! messages (`The provided key element does not match the schema`, the 1024-byte sort key),
//! KeyConditionExpression's restrictions and the legacy parameter checks. Every message not
//! confirmed is marked `unconfirmed` in a comment where it is built: expression too long,
//! `IN` over 100 operands, path deeper than 32 levels, more than 300 update operators,
//! placeholder over 255 bytes, substitutions over 2 MB, a non-indexable `KeyConditions`
//! operator, a repeated `AttributesToGet` name, an empty binary key, a key attribute in a Query
//! filter, and the 2048-byte partition
//! key (known from users' reports only).

pub mod apply;
pub mod condition;
pub mod error;
pub mod eval;
pub mod fuzz;
pub mod key;
pub mod key_condition;
pub mod legacy;
mod lexer;
pub mod limits;
pub mod names;
pub mod number;
pub mod path;
pub mod projection;
pub mod request;
pub mod reserved;
pub mod update;
pub mod value;
pub mod wire;

pub use error::{Error, ErrorKind};
pub use number::Number;
pub use value::{AttributeValue, Item};
