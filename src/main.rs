//! `keyway`: parses the command line and hands over to `keyway::cli`.
use clap::Parser;

fn main() -> std::process::ExitCode {
    fix_malloc_mmap_threshold();
    let cli = keyway::cli::Cli::parse();
    let json_errors = keyway::cli::json_logs(cli.config.as_deref());
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(keyway::cli::run(cli));
    // Background tasks (key reload, sweeps) must not hold the exit after a graceful stop.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if json_errors => {
            keyway::cli::log_error_json(&e);
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The password threads (`crypto::password::HashPool`) hold one argon2id block each (19 MiB at the default
/// settings) and free it after 30 s without logins, or after verifying a hash with a larger memory cost. glibc serves
/// such a block with mmap, but after the first free it raises its mmap threshold to the block's size (dynamic
/// threshold, mallopt(3)), so later blocks come from per-thread arenas that keep them after free: peak resident memory
/// reached ~1 GB under a login burst (docs/PERFORMANCE.md). A fixed threshold turns the dynamic adjustment off; large
/// blocks are then always mapped and go back to the kernel when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn fix_malloc_mmap_threshold() {
    // SAFETY: mallopt only changes allocator parameters; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn fix_malloc_mmap_threshold() {}
