//! Runs independent pieces of a forward pass on scoped threads.
//!
//! The ndarray backend runs element-wise operations on one core; independent pieces (chunks of
//! attention in `attention`, row blocks in `host`) run side by side on these threads. Each
//! piece is computed exactly as it would be alone, so results do not depend on the number of
//! threads.

/// Worker threads to use: `RAYON_NUM_THREADS` when set (the bench's `--jobs` workers run with
/// one each), else the machine's available parallelism.
pub(crate) fn threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| {
        std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

thread_local! {
    static IN_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the calling thread is one of [`par_map`]'s workers (which should not split again).
pub(crate) fn in_worker() -> bool {
    IN_WORKER.with(|w| w.get())
}

/// Maps `f` over `items` on up to [`threads`] scoped threads, keeping the order.
pub(crate) fn par_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    par_map_on(threads(), items, f)
}

/// Maps `f` over `items` on up to `threads` scoped threads (plain threads, not rayon tasks),
/// keeping the order; each worker is marked so the CPU kernels do not split again.
pub fn par_map_on<T: Send, R: Send>(
    threads: usize,
    items: Vec<T>,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let t = threads.min(items.len());
    if t <= 1 {
        return items.into_iter().map(f).collect();
    }
    let per = items.len().div_ceil(t);
    let mut groups: Vec<Vec<T>> = Vec::with_capacity(t);
    let mut items = items.into_iter();
    loop {
        let g: Vec<T> = items.by_ref().take(per).collect();
        if g.is_empty() {
            break;
        }
        groups.push(g);
    }
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = groups
            .into_iter()
            .map(|g| {
                s.spawn(move || {
                    IN_WORKER.with(|w| w.set(true));
                    g.into_iter().map(f).collect::<Vec<R>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Below this many elements, thread start-up costs more than it saves.
pub(crate) const PAR_MIN_ELEMENTS: usize = 1 << 20;

/// How many pieces a host pass that reads `elements` values should run in (on scoped threads
/// or with [`par_map_on`]): [`threads`], or 1 below [`PAR_MIN_ELEMENTS`] or on one of
/// `par_map_on`'s workers, where starting threads costs more than it saves.
pub fn threads_for(elements: usize) -> usize {
    if in_worker() || elements < PAR_MIN_ELEMENTS {
        1
    } else {
        threads()
    }
}
