//! One thread per matrix product: `MATMUL_NUM_THREADS=1` for the process.
//!
//! matrixmultiply's own threading hands half of each product to one shared worker thread and
//! waits for it in a yield loop; burn-ndarray runs the batches of a batched product on rayon
//! threads, which then all queue for that one worker. With one thread per product the batches
//! run side by side, and `uncertsam-sam` splits its large 2-D products by rows over threads
//! itself (its `host` module, which only does so under this setting). The numbers do not change:
//! each element is computed by the same kernel either way.

/// Sets `MATMUL_NUM_THREADS=1` unless the user set it. Call first thing in `main`, before any
/// thread starts and before the first matrix product (matrixmultiply reads it once).
pub fn one_thread_per_gemm() {
    if std::env::var_os("MATMUL_NUM_THREADS").is_none() {
        // SAFETY: called at the start of `main`, while the process has one thread, so no other
        // thread can read the environment concurrently.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("MATMUL_NUM_THREADS", "1")
        }
    }
}
