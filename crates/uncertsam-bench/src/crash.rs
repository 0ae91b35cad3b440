//! A panic in any thread ends the process at once, with exit code 101.
//!
//! Without this, a panic inside a library while it holds a half-moved value (burn-store's
//! `ModuleSnapshot::apply` reads the module out of place) unwinds through a double drop, and the
//! process could spin forever in the allocator's exit path instead of exiting. The hook prints
//! the panic message (and a backtrace under `RUST_BACKTRACE`), then leaves with `_exit`: no unwinding, no destructors, no exit
//! handlers. Result files are written atomically (see `parts::write_atomic`), so nothing on disk
//! is half written, and `--resume` continues the run.

use std::io::Write as _;

/// The exit code of a process ended by a panic (the code Rust's runtime uses).
pub const PANIC_EXIT_CODE: i32 = 101;

/// Installs the hook. Call once at the start of `main`.
pub fn exit_on_panic() {
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let backtrace = std::backtrace::Backtrace::capture();
        let _ = writeln!(
            std::io::stderr(),
            "uncertsam: internal error in thread '{}': {info}\n{backtrace}\nexiting with code \
             {PANIC_EXIT_CODE}; please report it with the command line that caused it \
             (RUST_BACKTRACE=1 adds a backtrace)",
            thread.name().unwrap_or("<unnamed>")
        );
        exit_now(PANIC_EXIT_CODE);
    }));
}

/// Ends the process immediately, without running exit handlers or destructors.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` takes an integer and never returns; it does not touch memory the
    // program owns, so no Rust invariant can be broken by calling it from any thread.
    #[allow(unsafe_code)]
    unsafe {
        libc::_exit(code)
    }
}
