//! The process allocator: mimalloc, told to keep freed memory.
//!
//! SAM's global-attention blocks allocate and free matrices of hundreds of MB per step. glibc
//! and mimalloc's defaults hand those pages back to the OS and the kernel zeroes them again on
//! the next allocation; on the ViT-B encoder that page clearing was a third of the wall time.
//! With purging off, freed memory is reused directly (peak memory is unchanged).
//!
//! The Python extension links this crate, so mimalloc is also its allocator there (without
//! [`keep_freed_memory`]); it is built with `local_dynamic_tls`, as a dlopen'ed module must
//! not take the static TLS that modules loaded after it need.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's v3 `mi_option_e` enum (`-1` = never purge).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Stops mimalloc from returning freed memory to the OS. Call once at the start of `main`.
pub fn keep_freed_memory() {
    // SAFETY: `mi_option_set` only stores an integer option; it has no memory-safety
    // preconditions and may be called at any time.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1)
    }
}
