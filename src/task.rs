//! Work off the async runtime, and work spread over the cores: the one place for both,
//! so that a panicking worker is always an error that names what it was doing.

use std::sync::Mutex;

/// A worker thread or blocking task that panicked or was cancelled.
#[derive(Debug, thiserror::Error)]
#[error("an internal task failed: {0}")]
pub struct TaskFailed(pub String);

impl TaskFailed {
    fn panicked(what: &str) -> Self {
        TaskFailed(format!("{what} panicked"))
    }
}

/// Runs `f` on tokio's blocking pool (reading layers, hashing, compressing).
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, TaskFailed> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| TaskFailed(e.to_string()))
}

/// `f` of every item on up to `threads` threads (at least one, at most one per item),
/// the results in the order of `items`. Each thread takes the next item not yet taken,
/// so put the slowest items first when their costs differ. Blocking: call it off the
/// async runtime.
///
/// A worker that panics is `TaskFailed` naming `what` ("a layer writer"), after the
/// other workers have finished the items left.
pub fn parallel_map<T, R>(
    what: &str,
    items: Vec<T>,
    threads: usize,
    f: impl Fn(T) -> R + Sync,
) -> Result<Vec<R>, TaskFailed>
where
    T: Send,
    R: Send,
{
    let count = items.len();
    if count == 0 {
        return Ok(Vec::new());
    }
    let queue = Mutex::new(items.into_iter().enumerate());
    // The lock is held only to take an item, never while `f` runs, so a panic in `f`
    // cannot poison it; `into_inner` of a poisoned queue is still the queue.
    let next = || queue.lock().unwrap_or_else(|e| e.into_inner()).next();
    let done: Vec<std::thread::Result<Vec<(usize, R)>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.clamp(1, count))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    while let Some((i, item)) = next() {
                        done.push((i, f(item)));
                    }
                    done
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(count).collect();
    for worker in done {
        for (i, result) in worker.map_err(|_| TaskFailed::panicked(what))? {
            slots[i] = Some(result);
        }
    }
    Ok(slots
        .into_iter()
        .map(|r| r.expect("every item was mapped by a worker that did not panic"))
        .collect())
}

/// `background` on a thread of its own while `foreground` runs on this one: two
/// different tasks side by side. A panic of `background` is `TaskFailed` naming `what`
/// ("the base reader"); one of `foreground` is this thread's, as without the join.
pub fn join<A: Send, B>(
    what: &str,
    background: impl FnOnce() -> A + Send,
    foreground: impl FnOnce() -> B,
) -> (Result<A, TaskFailed>, B) {
    std::thread::scope(|scope| {
        let handle = scope.spawn(background);
        let b = foreground();
        let a = handle.join().map_err(|_| TaskFailed::panicked(what));
        (a, b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn results_keep_the_order_of_the_items() {
        let items: Vec<u64> = (0..200).collect();
        // Uneven work, so that threads finish out of order.
        let out = parallel_map("a squarer", items, 4, |n| {
            std::thread::sleep(std::time::Duration::from_micros((n % 7) * 50));
            n * n
        })
        .unwrap();
        assert_eq!(out, (0..200).map(|n| n * n).collect::<Vec<_>>());
    }

    #[test]
    fn uses_at_most_the_threads_asked_and_one_per_item() {
        let seen = |items: usize, threads: usize| {
            let ids = Mutex::new(HashSet::new());
            let live = AtomicUsize::new(0);
            let peak = AtomicUsize::new(0);
            parallel_map("a counter", vec![(); items], threads, |()| {
                ids.lock().unwrap().insert(std::thread::current().id());
                let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                // Wait a while for a second worker to be busy at the same time (on a
                // loaded machine threads start late); serial work never gets one.
                let start = std::time::Instant::now();
                while threads > 1
                    && items > 1
                    && peak.load(Ordering::SeqCst) < 2
                    && start.elapsed() < std::time::Duration::from_secs(2)
                {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
                live.fetch_sub(1, Ordering::SeqCst);
            })
            .unwrap();
            (ids.into_inner().unwrap().len(), peak.into_inner())
        };
        let (ids, peak) = seen(12, 3);
        assert!(ids <= 3 && peak <= 3, "{ids} threads, {peak} at once");
        assert!(peak >= 2, "the work ran on one thread at a time");
        let (ids, peak) = seen(2, 8);
        assert!(ids <= 2 && peak <= 2, "{ids} threads, {peak} at once");
        // Zero threads still does the work, on one.
        assert_eq!(seen(3, 0), (1, 1));
        assert!(
            parallel_map("nothing", Vec::<u8>::new(), 4, |n| n)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn items_run_not_on_the_calling_thread_and_each_once() {
        let caller = std::thread::current().id();
        let count = AtomicUsize::new(0);
        parallel_map("a counter", vec![(); 50], 3, |()| {
            assert_ne!(std::thread::current().id(), caller);
            count.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        assert_eq!(count.into_inner(), 50);
    }

    #[test]
    fn a_panicking_worker_is_an_error_naming_what_it_did() {
        let finished = AtomicUsize::new(0);
        let e = parallel_map("a layer writer", (0..20).collect(), 2, |n: u32| {
            if n == 3 {
                panic!("boom");
            }
            finished.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "an internal task failed: a layer writer panicked"
        );
        // The other items were still done.
        assert_eq!(finished.into_inner(), 19);
    }

    #[test]
    fn join_runs_both_and_names_a_panic_of_the_background_task() {
        let caller = std::thread::current().id();
        let (a, b) = join(
            "the base reader",
            || std::thread::current().id(),
            || std::thread::current().id(),
        );
        assert_ne!(a.unwrap(), caller);
        assert_eq!(b, caller);
        let (a, b) = join("the base reader", || -> u8 { panic!("boom") }, || 7);
        assert_eq!(
            a.unwrap_err().to_string(),
            "an internal task failed: the base reader panicked"
        );
        assert_eq!(b, 7);
    }
}
