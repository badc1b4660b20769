//! Exact list sizes without scanning lists: per scope (format, or format and set), the number of
//! records in time buckets of 64³ s (about three days), 64⁴ s and 64⁵ s.
//!
//! A count over `[from, until]` adds whole buckets from the top level down and partial edges
//! from the levels below, and counts the index entries of the edges shorter than a bucket
//! directly: a few hundred counters plus the records of at most six days, whatever the list's
//! length, so the first page of a 10M-record list costs about what any other page costs.
//! Finer buckets would make every write touch more counters (they cost import speed) to save
//! scanning a few days of index keys once per list.

use std::collections::BTreeMap;

use super::keys::ordered_i64;

/// Levels 0 to 2 (1 s, 64 s and 4096 s buckets) are not kept: their edges are scanned instead.
const MIN_LEVEL: u32 = 3;
const LEVELS: u32 = 6;
const FANOUT: i128 = 64;

fn bucket_key(scope: &[u8], level: u32, bucket: i64) -> Vec<u8> {
    let mut k = Vec::with_capacity(scope.len() + 9);
    k.extend_from_slice(scope);
    k.push(u8::try_from(level).expect("few levels"));
    k.extend_from_slice(&ordered_i64(bucket));
    k
}

fn size(level: u32) -> i128 {
    FANOUT.pow(level)
}

fn to_i64(v: i128) -> i64 {
    i64::try_from(v.clamp(i128::from(i64::MIN), i128::from(i64::MAX))).expect("clamped")
}

/// Adds `delta` to every bucket containing `datestamp` in `scope`.
pub fn add(deltas: &mut BTreeMap<Vec<u8>, i64>, scope: &[u8], datestamp: i64, delta: i64) {
    for level in MIN_LEVEL..LEVELS {
        let bucket = to_i64(i128::from(datestamp).div_euclid(size(level)));
        *deltas.entry(bucket_key(scope, level, bucket)).or_insert(0) += delta;
    }
}

/// Counts the records of `scope` with datestamps in `[from, until]`.
///
/// `sum(lo, hi)` must return the sum of the counters with keys in `[lo, hi)`; `scan(a, b)` the
/// number of index entries with datestamps in `[a, b)`.
pub fn count<E>(
    scope: &[u8],
    from: i64,
    until: i64,
    mut sum: impl FnMut(&[u8], &[u8]) -> Result<u64, E>,
    mut scan: impl FnMut(i64, i64) -> Result<u64, E>,
) -> Result<u64, E> {
    let mut lo = i128::from(from);
    let mut hi = i128::from(until) + 1;
    let mut total = 0;
    let unit = size(MIN_LEVEL);
    let lo_aligned = ((lo.div_euclid(unit) + i128::from(lo.rem_euclid(unit) != 0)) * unit).min(hi);
    if lo < lo_aligned {
        total += scan(to_i64(lo), to_i64(lo_aligned))?;
    }
    lo = lo_aligned;
    let hi_aligned = (hi.div_euclid(unit) * unit).max(lo);
    if hi_aligned < hi {
        total += scan(to_i64(hi_aligned), to_i64(hi))?;
    }
    hi = hi_aligned;
    let mut range = |level: u32, a: i128, b: i128, total: &mut u64| -> Result<(), E> {
        if a < b {
            let s = size(level);
            *total += sum(
                &bucket_key(scope, level, to_i64(a / s)),
                &bucket_key(scope, level, to_i64(b / s)),
            )?;
        }
        Ok(())
    };
    for level in MIN_LEVEL..LEVELS - 1 {
        let next = size(level + 1);
        let lo_aligned = (lo.div_euclid(next) + i128::from(lo.rem_euclid(next) != 0)) * next;
        let lo_aligned = lo_aligned.min(hi);
        range(level, lo, lo_aligned, &mut total)?;
        lo = lo_aligned;
        let hi_aligned = (hi.div_euclid(next) * next).max(lo);
        range(level, hi_aligned, hi, &mut total)?;
        hi = hi_aligned;
    }
    range(LEVELS - 1, lo, hi, &mut total)?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn counted(stamps: &[i64], from: i64, until: i64) -> u64 {
        let mut deltas = BTreeMap::new();
        for s in stamps {
            add(&mut deltas, b"x\0", *s, 1);
        }
        count::<()>(
            b"x\0",
            from,
            until,
            |lo, hi| {
                Ok(deltas
                    .range(lo.to_vec()..hi.to_vec())
                    .map(|(_, v)| u64::try_from(*v).unwrap())
                    .sum())
            },
            |a, b| Ok(stamps.iter().filter(|s| a <= **s && **s < b).count() as u64),
        )
        .unwrap()
    }

    proptest! {
        #[test]
        fn bucket_counts_equal_a_plain_count(
            stamps in proptest::collection::vec(-5_000_000i64..5_000_000_000, 0..60),
            a in -6_000_000i64..6_000_000_000,
            len in 0i64..3_000_000_000,
        ) {
            let b = a.saturating_add(len);
            let expected = stamps.iter().filter(|s| a <= **s && **s <= b).count() as u64;
            prop_assert_eq!(counted(&stamps, a, b), expected);
        }
    }

    #[test]
    fn whole_range_counts_everything() {
        let stamps = [i64::MIN / 4, -1, 0, 1, 63, 64, 1_700_000_000, i64::MAX / 4];
        assert_eq!(counted(&stamps, i64::MIN / 2, i64::MAX / 2), 8);
        assert_eq!(counted(&stamps, 0, 64), 4);
    }
}
