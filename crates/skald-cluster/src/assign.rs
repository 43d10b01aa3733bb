//! Who should own a lease: rendezvous (highest random weight) hashing over the live nodes. Every
//! node computes the same answer from the same membership, and when a node joins or leaves only
//! the leases it wins or held move. The hash is ours (FNV-1a, 64 bits) so that nodes built by
//! different compiler versions agree.

/// The node that should own `lease` among `nodes` (ids), or `None` when there are none.
pub fn owner_of<'a>(lease: &str, nodes: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    nodes.into_iter().max_by_key(|node| (weight(lease, node), *node))
}

fn weight(lease: &str, node: &str) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for byte in lease.bytes().chain([0xff]).chain(node.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // FNV's low bits mix poorly for short keys; a final avalanche spreads them.
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^ (hash >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_spread_and_only_the_leaving_nodes_leases_move() {
        let leases: Vec<String> = (0..64).map(|i| format!("saga-{i}")).collect();
        let three = ["n1", "n2", "n3"];
        let mut counts = [0usize; 3];
        for lease in &leases {
            let owner = owner_of(lease, three).unwrap();
            counts[three.iter().position(|n| *n == owner).unwrap()] += 1;
        }
        assert!(counts.iter().all(|c| (10..=35).contains(c)), "spread over the nodes: {counts:?}");
        for lease in &leases {
            let before = owner_of(lease, three).unwrap();
            let after = owner_of(lease, ["n1", "n3"]).unwrap();
            if before != "n2" {
                assert_eq!(before, after, "{lease} moved although its owner stayed");
            }
        }
        assert_eq!(owner_of("x", std::iter::empty()), None);
        assert_eq!(owner_of("x", ["a", "b"]), owner_of("x", ["b", "a"]), "order does not matter");
    }
}
