//! `--shard I/N`: one of N processes, on as many machines, each taking the tiles whose id is I
//! modulo N, so that together they take every tile exactly once (`verify`, `sync`).
//!
//! By id modulo N rather than by blocks of ids: every shard gets a like share of every year
//! and region, whatever the store holds, and the split needs nothing but the id.

use std::str::FromStr;

use tessera_engine::grid::{IdRange, TileId};

/// Shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Whether tile `id` is this shard's.
    pub fn holds(self, id: TileId) -> bool {
        id.0 % self.count == self.index
    }

    /// How many ids of `range` are this shard's.
    pub fn count_in(self, range: IdRange) -> u64 {
        self.below(u64::from(range.hi) + 1) - self.below(u64::from(range.lo))
    }

    /// How many of the ids below `end` are this shard's.
    fn below(self, end: u64) -> u64 {
        let (index, count) = (u64::from(self.index), u64::from(self.count));
        if end <= index { 0 } else { (end - 1 - index) / count + 1 }
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `I/N`, counting from 0 as a Kubernetes indexed Job (`JOB_COMPLETION_INDEX`) and a Slurm
    /// array run as `--array=0-{N-1}` (`SLURM_ARRAY_TASK_ID`) do.
    fn from_str(text: &str) -> Result<Shard, String> {
        let parsed = text.split_once('/').and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
        match parsed {
            Some((index, count)) if index < count => Ok(Shard { index, count }),
            Some(_) => Err(format!("`{text}`: the shard index counts from 0 and stays below the number of shards")),
            None => Err(format!("`{text}` is not a shard: expected I/N, as 0/4 .. 3/4")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_from_zero_and_refuse_the_rest() {
        assert_eq!("2/4".parse(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["4/4", "1/0", "-1/4", "1", "a/b", "1/4/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_shards_of_a_range_count_each_id_once() {
        for (lo, hi) in [(0, 0), (0, 9), (3, 3), (5, 17), (7, 1000), (u32::MAX - 5, u32::MAX)] {
            let range = IdRange { lo, hi };
            let mut total = 0;
            for index in 0..4 {
                let shard = Shard { index, count: 4 };
                let by_hand = (lo..=hi).filter(|id| shard.holds(TileId(*id))).count() as u64;
                assert_eq!(shard.count_in(range), by_hand, "{shard:?} of {lo}..={hi}");
                total += by_hand;
            }
            assert_eq!(total, range.len());
        }
    }
}
