//! Matching allocates nothing: a counting global allocator watches a batch of matches.
//!
//! Counting is per thread, so the test harness's own threads cannot disturb the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use skald_pattern::{Envelope, Pattern};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn matching_does_not_allocate() {
    // Every operator, nesting, arrays, $or at two levels, escapes and ignore-case paths.
    let patterns: Vec<Pattern> = [
        r#"{"type": ["OrderPlaced", "OrderAmended"], "category": [{"prefix": "ord"}]}"#,
        r#"{"data": {"total": [{"numeric": [">", 10, "<=", 1e6]}], "currency": ["EUR", 5, null, true]}}"#,
        r#"{"data": {"customer": {"tier": [{"anything-but": ["trial", 7]}], "name": [{"equals-ignore-case": "ÉLODIE"}]}}}"#,
        r#"{"data": {"lines": {"sku": [{"wildcard": "SKU-*-9"}], "qty": [{"numeric": [">=", 2]}]}}}"#,
        r#"{"data": {"note": [{"suffix": {"equals-ignore-case": "PLEASE\""}}, {"prefix": {"equals-ignore-case": "DELIVER"}}]}}"#,
        r#"{"data": {"note": [{"anything-but": {"wildcard": "*back*"}}, {"suffix": "é"}]}}"#,
        r#"{"data": {"missing": [{"exists": false}], "tags": ["promo"], "$or": [{"x": [1]}, {"total": [{"exists": true}]}]}}"#,
        r#"{"$or": [{"metadata": {"principal": [{"prefix": "svc-"}]}}, {"timestamp": [{"prefix": "2026"}]}]}"#,
        r#"{"data": {"k\u00e9y": ["v\u00e4lue"]}}"#,
    ]
    .iter()
    .map(|p| Pattern::parse(p).expect("compiles"))
    .collect();

    let data: Vec<String> = (0..200)
        .map(|i| {
            format!(
                r#"{{"total": {t}, "currency": "{c}", "customer": {{"tier": "{tier}", "name": "\u00e9lodie"}},
                   "lines": [{{"sku": "SKU-{i}-9", "qty": {q}}}, {{"sku": "SKU-1-1", "qty": 1.5e0}}],
                   "note": "deliver to the back door, \"please\"", "tags": ["web", "promo"],
                   "k\u00e9y": "v\u00e4lue", "nested": [[{{"deep": [1, 2, {{"deeper": null}}]}}]]}}"#,
                t = i * 13,
                c = if i % 3 == 0 { "EUR" } else { "GBP" },
                tier = if i % 4 == 0 { "trial" } else { "gold" },
                q = i % 5,
            )
        })
        .collect();
    let metadata = br#"{"principal": "svc-orders", "correlation_id": "c-1"}"#;
    let events: Vec<Envelope<'_>> = data
        .iter()
        .map(|d| Envelope {
            stream: "order-1",
            category: "order",
            event_type: "OrderPlaced",
            timestamp: "2026-11-30T11:00:00Z",
            data: d.as_bytes(),
            metadata,
        })
        .collect();

    // Warm up anything lazily initialised, then count.
    let _ = patterns[0].matches(&events[0]);
    let before = allocations();
    let mut matched = 0usize;
    for pattern in &patterns {
        for event in &events {
            matched += usize::from(pattern.matches(event));
        }
    }
    let allocated = allocations() - before;
    assert_eq!(allocated, 0, "matching {} events allocated {allocated} times", patterns.len() * events.len());
    // The batch exercised both outcomes of every pattern family.
    assert!(matched > 0 && matched < patterns.len() * events.len(), "matched {matched}");

    // The counter itself works.
    let before = allocations();
    let boxed = std::hint::black_box(Box::new([1u8; 16]));
    assert!(allocations() > before && boxed.len() == 16);
}
