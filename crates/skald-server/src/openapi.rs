//! The OpenAPI 3.1 document, written by hand in `openapi.json` beside this file and served as is.
//!
//! A test checks that every route of [`crate::route_table`] appears in it with its method.

/// The OpenAPI 3.1 document of every route (JSON text).
pub const DOCUMENT: &str = include_str!("openapi.json");

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_documented() {
        let document: serde_json::Value = serde_json::from_str(super::DOCUMENT).expect("openapi.json is JSON");
        assert_eq!(document["openapi"], "3.1.0");
        for (method, path) in crate::route_table() {
            let operation = &document["paths"][path][method.to_ascii_lowercase()];
            assert!(operation.is_object(), "{method} {path} is missing from openapi.json");
            assert!(operation["operationId"].is_string(), "{method} {path} has no operationId");
        }
        const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];
        let documented: usize = document["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| item.as_object().unwrap().keys().filter(|k| METHODS.contains(&k.as_str())).count())
            .sum();
        assert_eq!(documented, crate::route_table().len(), "openapi.json documents routes the router does not serve");
    }
}
