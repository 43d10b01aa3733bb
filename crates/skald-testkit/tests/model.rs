//! The differential model test on every durable backend: random operations with reopens, each
//! answer compared with `MemoryStore`'s.

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
    #[test]
    fn embedded_behaves_like_the_model(ops in skald_testkit::model::ops()) {
        skald_testkit::model::check("embedded", ops);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn postgres_behaves_like_the_model(ops in skald_testkit::model::ops()) {
        skald_testkit::model::check("postgres", ops);
    }
}
