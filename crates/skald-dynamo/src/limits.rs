//! Named limits, each the DynamoDB limit it mirrors (DynamoDB's "Constraints" page) or, where
//! DynamoDB names none, Skald's own bound on work. Sizes are in bytes with 1 KB = 1024 bytes,
//! as DynamoDB counts them.

/// Largest item: attribute names plus values, by the rules of [`crate::item_size`] (400 KB).
pub const ITEM_SIZE_BYTES_MAX: usize = 400 * 1024;
/// Longest partition key value (2048 bytes; strings count UTF-8 bytes, binaries raw bytes).
pub const PARTITION_KEY_BYTES_MAX: usize = 2048;
/// Longest sort key value (1024 bytes).
pub const SORT_KEY_BYTES_MAX: usize = 1024;
/// Longest expression string of any kind (4 KB).
pub const EXPRESSION_BYTES_MAX: usize = 4 * 1024;
/// Most operands on the right of `IN` (100).
pub const IN_OPERANDS_MAX: usize = 100;
/// Deepest nesting of lists and maps in an attribute value, and most levels of a document path
/// (32).
pub const DOCUMENT_DEPTH_MAX: usize = 32;
/// Longest expression attribute name or value placeholder, `#`/`:` included (255 bytes).
pub const PLACEHOLDER_BYTES_MAX: usize = 255;
/// Largest total of all substitution variables of one request: the placeholder names, the names
/// they stand for and the sizes of the values (2 MB).
pub const SUBSTITUTIONS_BYTES_MAX: usize = 2 * 1024 * 1024;
/// Most operators and functions in one UpdateExpression (300).
pub const UPDATE_OPERATORS_MAX: usize = 300;
/// Deepest nesting of parentheses, `NOT` and function calls the parsers follow. DynamoDB names no
/// such limit (its 4 KB bounds the depth); this one keeps the recursive descent's stack small.
pub const EXPRESSION_NESTING_MAX: usize = 128;
/// Largest significant-digit count of a number (38).
pub const NUMBER_DIGITS_MAX: usize = 38;
/// Largest decimal exponent of a number in scientific form (`9.99…E+125`).
pub const NUMBER_EXPONENT_MAX: i64 = 125;
/// Smallest decimal exponent of a non-zero number in scientific form (`1E-130`).
pub const NUMBER_EXPONENT_MIN: i64 = -130;
