//! `cargo xtask fuzz [--secs N]`: a bounded libFuzzer run of every target in `fuzz/`.
//!
//! Installs `cargo-fuzz` from crates.io when missing. Each target starts from the committed
//! corpus (`fuzz/corpus/<target>`, read only) and writes what it finds under
//! `target/fuzz-corpus/<target>`, so a run never dirties the checkout. A crash fails the
//! command and leaves the input in `fuzz/artifacts/<target>/`; adding it to the committed
//! corpus makes it a regression test for `tests/fuzz_corpus.rs`.
//!
//! The only toolchain is stable, and libFuzzer's instrumentation flags are nightly-only, so the
//! run sets `RUSTC_BOOTSTRAP=1` for the fuzz build alone.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{root, target_dir};

/// The targets, each a property in `server/src/fuzzing.rs`.
pub const TARGETS: &[&str] = &["ws_session", "packet", "uppercase"];

fn ensure_cargo_fuzz() -> Result<()> {
    if Command::new("cargo").args(["fuzz", "--version"]).output().is_ok_and(|o| o.status.success()) {
        return Ok(());
    }
    crate::cargo_install("cargo-fuzz", "0.13.2", &[])
}

/// Runs every target for `secs` seconds.
pub fn fuzz(secs: u64) -> Result<()> {
    ensure_cargo_fuzz()?;
    let fuzz_dir = root().join("fuzz");
    for target in TARGETS {
        let scratch = target_dir().join("fuzz-corpus").join(target);
        std::fs::create_dir_all(&scratch).with_context(|| format!("cannot create {}", scratch.display()))?;
        eprintln!("xtask: fuzzing {target} for {secs} s");
        let status = Command::new("cargo")
            .args(["fuzz", "run", "--sanitizer", "none", target])
            .arg(&scratch)
            .arg(fuzz_dir.join("corpus").join(target))
            .arg("--")
            .arg(format!("-max_total_time={secs}"))
            .args(["-max_len=4096", "-rss_limit_mb=2048"])
            .env("RUSTC_BOOTSTRAP", "1")
            .env("CARGO_TARGET_DIR", target_dir().join("fuzz"))
            .current_dir(root())
            .status()
            .context("cannot start cargo fuzz")?;
        if !status.success() {
            bail!("fuzz target {target} failed ({status}); the crashing input is under fuzz/artifacts/{target}/");
        }
    }
    Ok(())
}
