//! A bounded parallel map for store walks: items are taken from the walk
//! in batches, processed on `jobs` scoped threads, and handed back in
//! walk order on the caller's thread. Memory is bounded by one batch,
//! whatever the size of the store, and the caller's sink needs no `Sync`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Items per worker in one batch: large enough to keep workers busy
/// across a batch boundary, small enough that a batch of results stays
/// in the kilobytes.
const BATCH_PER_JOB: usize = 64;

/// Map `work` over `items` on `jobs` threads (1 = on this thread, 0 = one
/// per CPU), giving
/// each result to `sink` in input order. Stops early when `sink` returns
/// `false`.
pub(crate) fn map_ordered<I, T, R>(
    items: I,
    jobs: usize,
    work: impl Fn(T) -> R + Sync,
    mut sink: impl FnMut(R) -> bool,
) where
    I: Iterator<Item = T>,
    T: Send,
    R: Send,
{
    let jobs = match jobs {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let mut items = items.peekable();
    if jobs == 1 {
        for item in items {
            if !sink(work(item)) {
                return;
            }
        }
        return;
    }
    while items.peek().is_some() {
        let batch: Vec<T> = items.by_ref().take(jobs * BATCH_PER_JOB).collect();
        let n = batch.len();
        let inputs: Vec<Mutex<Option<T>>> =
            batch.into_iter().map(|t| Mutex::new(Some(t))).collect();
        let outputs: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..jobs.min(n) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let (Some(input), Some(output)) = (inputs.get(i), outputs.get(i)) else {
                            break;
                        };
                        // A poisoned slot means another worker panicked
                        // on it; the scope re-raises that panic.
                        let Some(item) = input.lock().ok().and_then(|mut g| g.take()) else {
                            continue;
                        };
                        let r = work(item);
                        if let Ok(mut g) = output.lock() {
                            *g = Some(r);
                        }
                    }
                });
            }
        });
        for out in outputs {
            #[allow(clippy::expect_used)] // the invariant is named; a gap would be a bug here
            let r = out
                .into_inner()
                .ok()
                .flatten()
                .expect("every batch slot is filled once the scoped workers joined");
            if !sink(r) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_covers_every_item() {
        for jobs in [1, 2, 3, 8] {
            let mut got = Vec::new();
            map_ordered(
                0..1000u32,
                jobs,
                |x| x * 2,
                |r| {
                    got.push(r);
                    true
                },
            );
            assert_eq!(got, (0..1000).map(|x| x * 2).collect::<Vec<_>>());
        }
    }

    #[test]
    fn stops_when_the_sink_says_so() {
        let mut got = 0;
        map_ordered(
            0..10_000u32,
            2,
            |x| x,
            |_| {
                got += 1;
                got < 5
            },
        );
        assert_eq!(got, 5);
    }
}
