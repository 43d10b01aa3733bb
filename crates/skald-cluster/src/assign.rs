//! Who should own a lease: rendezvous (highest random weight) hashing over the live nodes; and
//! which shard a key falls in ([`shard_of`]), for work spread over several leases. Every
//! node computes the same answer from the same membership, and when a node joins or leaves only
//! the leases it wins or held move. The hash is ours (FNV-1a, 64 bits) so that nodes built by
//! different compiler versions agree.

/// The node that should own `lease` among `nodes` (ids), or `None` when there are none.
pub fn owner_of<'a>(lease: &str, nodes: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    nodes.into_iter().max_by_key(|node| (weight(lease, node), *node))
}

/// The shard of `key` among `shards` (a stable hash: the same on every node and every build).
pub fn shard_of(key: &str, shards: u32) -> u32 {
    assert!(shards > 0, "at least one shard");
    (stable_hash(key.bytes()) % u64::from(shards)) as u32
}

fn weight(lease: &str, node: &str) -> u64 {
    stable_hash(lease.bytes().chain([0xff]).chain(node.bytes()))
}

/// FNV-1a over `bytes`, then an avalanche: FNV's low bits mix poorly for short keys.
fn stable_hash(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
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
        let mut shards = [0usize; 16];
        for i in 0..1600 {
            shards[shard_of(&format!("travel.trip-{i}"), 16) as usize] += 1;
        }
        assert!(shards.iter().all(|n| (50..=150).contains(n)), "keys spread over shards: {shards:?}");
        assert_eq!(shard_of("travel.trip-1", 16), shard_of("travel.trip-1", 16));
        assert_eq!(owner_of("x", ["a", "b"]), owner_of("x", ["b", "a"]), "order does not matter");
    }
}
