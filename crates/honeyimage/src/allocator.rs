//! Settings of the C allocator that libtorch allocates its tensors with.
//!
//! glibc's malloc hands memory back to the kernel as soon as the top of
//! its heap is free (the trim threshold follows the largest freed block),
//! and training frees and re-allocates its activations every step, so the
//! next step faults the same pages in again, each zeroed by the kernel. On
//! the project machine protect spent 44 s of 102 s in the kernel that way
//! (BENCHMARKS.md, "The allocator"). [`tune`] keeps freed memory for reuse
//! instead: a fixed mmap threshold of 32 MiB (glibc's largest; activations
//! come from the heap, not from fresh mappings) and a trim threshold of
//! 1 GiB. The price is memory held rather than returned: protect's peak
//! resident memory rose from 0.7 GiB to 0.9-1.6 GiB in bf16 (measured).
//!
//! It changes process-wide state, so only programs call it (the CLI at
//! start, the Python package once on import), never the library on its
//! own. A user who sets `GLIBC_TUNABLES` for malloc keeps theirs.

/// The mmap threshold set by [`tune`]: blocks up to this size come from
/// the heap (32 MiB, the largest glibc accepts on 64-bit).
pub const MMAP_THRESHOLD: usize = 32 << 20;
/// The trim threshold set by [`tune`]: free memory at the top of the heap
/// that glibc keeps instead of returning it to the kernel.
pub const TRIM_THRESHOLD: usize = 1 << 30;

/// What [`tune`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tuning {
    /// Both thresholds set.
    Tuned,
    /// `GLIBC_TUNABLES` already sets malloc parameters; left as they are.
    UserSettings,
    /// Not glibc (another libc or OS): nothing to set.
    Unsupported,
    /// glibc refused a value.
    Refused,
}

/// Sets the mmap and trim thresholds of glibc's malloc (see the module
/// doc) unless the environment already sets malloc tunables.
pub fn tune() -> Tuning {
    if std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc.")) {
        return Tuning::UserSettings;
    }
    set_thresholds()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_thresholds() -> Tuning {
    // SAFETY: mallopt only sets allocator parameters; it is safe to call at
    // any time (glibc takes its own lock) and reports failure as 0.
    let ok = unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int) == 1
    };
    if ok {
        Tuning::Tuned
    } else {
        Tuning::Refused
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thresholds() -> Tuning {
    Tuning::Unsupported
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_accepts_both_thresholds() {
        if std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc.")) {
            return;
        }
        let expected = if cfg!(all(target_os = "linux", target_env = "gnu")) { Tuning::Tuned } else { Tuning::Unsupported };
        assert_eq!(tune(), expected);
        // Allocations of every size still work afterwards.
        for size in [1usize, 200 << 10, 8 << 20, 40 << 20] {
            let v = vec![7u8; size];
            assert_eq!(v[size - 1], 7);
        }
    }
}
