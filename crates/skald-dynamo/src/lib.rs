//! DynamoDB's data model and expression languages, pure.

pub mod condition;
pub mod error;
pub mod key;
mod lexer;
pub mod limits;
pub mod names;
pub mod number;
pub mod path;
pub mod reserved;
pub mod value;
pub mod wire;
