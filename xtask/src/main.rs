//! `cargo xtask`: the project's two commands and their helpers.
//!
//! - `cargo xtask run [SERVE FLAGS]` builds the wasm UI, embeds it, and starts the playground.
//! - `cargo xtask test` installs what the tests need (see `setup.rs`), builds the UI the same way
//!   and runs every test: the Rust workspace, the browser tests in headless Chromium, a smoke
//!   run of the benchmark harness, and 15 s of fuzzing per fuzz target.
//! - `cargo xtask setup` only installs what the tests need.
//! - `cargo xtask fuzz [--secs N]` runs every fuzz target for N seconds (see `fuzz.rs`).
//! - `cargo xtask web` only builds the UI (the students' page and the instructor page) and
//!   reports each bundle's size.
//! - `cargo xtask bench [--quick]` runs the benchmarks (see `bench.rs`).

mod bench;
mod bridges;
mod fuzz;
mod goals;
mod plan;
mod procs;
mod report;
mod setup;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const WASM_TARGET: &str = "wasm32-unknown-unknown";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn target_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR").map_or_else(|_| root().join("target"), PathBuf::from)
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    cmd.current_dir(root());
    cmd
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// Installs a pinned tool from crates.io with `cargo install --locked`.
fn cargo_install(krate: &str, version: &str, extra: &[&str]) -> Result<()> {
    eprintln!("xtask: installing {krate} {version} from crates.io (once)");
    run(Command::new("cargo").args(["install", krate, "--version", version, "--locked"]).args(extra))
}

/// Makes sure the wasm32 target is installed, installing it with rustup if needed.
fn ensure_wasm_target() -> Result<()> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    match installed {
        Ok(out) if String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == WASM_TARGET) => Ok(()),
        Ok(_) => {
            eprintln!("xtask: installing the {WASM_TARGET} target with rustup");
            run(Command::new("rustup").args(["target", "add", WASM_TARGET]))
        }
        Err(_) => bail!(
            "rustup is not available to check for the {WASM_TARGET} target; install it with `rustup target add {WASM_TARGET}` or your toolchain's equivalent"
        ),
    }
}

/// The wasm bundles, by crate file name: the students' page and the instructor page.
const BUNDLES: [(&str, &str); 2] = [("socketlab_web", "student page"), ("socketlab_instructor", "instructor page")];

/// Compiles `web/` and `instructor/` to wasm and runs wasm-bindgen's generator on each; returns
/// the dist folder and the students' bundle's size, raw and gzip.
fn build_web() -> Result<(PathBuf, (usize, usize))> {
    ensure_wasm_target()?;
    run(cargo().args([
        "build",
        "--package",
        "socketlab-web",
        "--package",
        "socketlab-instructor",
        "--target",
        WASM_TARGET,
        "--profile",
        "wasm-release",
    ]))?;
    let dist = target_dir().join("web");
    let pkg = dist.join("pkg");
    if pkg.exists() {
        std::fs::remove_dir_all(&pkg).with_context(|| format!("cannot clear {}", pkg.display()))?;
    }
    let mut student = (0, 0);
    for (stem, what) in BUNDLES {
        let input = target_dir().join(WASM_TARGET).join("wasm-release").join(format!("{stem}.wasm"));
        wasm_bindgen_cli_support::Bindgen::new()
            .input_path(&input)
            .web(true)?
            .typescript(false)
            .remove_name_section(true)
            .remove_producers_section(true)
            .generate(&pkg)
            .with_context(|| format!("wasm-bindgen could not process {}", input.display()))?;
        let size = report_size(&pkg, stem, what)?;
        if stem == BUNDLES[0].0 {
            student = size;
        }
    }
    Ok((dist, student))
}

/// Prints and returns the size of one bundle's files in `pkg` (`{stem}.js`, `{stem}_bg.wasm`).
fn report_size(pkg: &Path, stem: &str, what: &str) -> Result<(usize, usize)> {
    let (mut raw, mut gz) = (0usize, 0usize);
    for entry in std::fs::read_dir(pkg)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_owned();
        if name != format!("{stem}.js") && name != format!("{stem}_bg.wasm") {
            continue;
        }
        let bytes = std::fs::read(&path)?;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&bytes)?;
        let zipped = enc.finish()?.len();
        println!("xtask: {name:<28} {:>8} bytes, {zipped:>7} gzip", bytes.len());
        raw += bytes.len();
        gz += zipped;
    }
    println!(
        "xtask: {what} wasm bundle {raw} bytes ({:.1} KB), {gz} bytes gzip ({:.1} KB)",
        raw as f64 / 1024.0,
        gz as f64 / 1024.0
    );
    Ok((raw, gz))
}

fn browser_tests(env: &setup::Env) -> Result<()> {
    let dir = root().join("tests/browser");
    let bin = target_dir().join("debug").join("socketlab");
    let node = env.node_bin.as_ref().map_or_else(|| PathBuf::from("node"), |bin| bin.join("node"));
    run(Command::new(node)
        // One file at a time: each starts its own gateway and browser on a small machine.
        .args(["--test", "--test-reporter=spec", "--test-concurrency=1"])
        .arg(dir.join("playground.test.mjs"))
        .arg(dir.join("class.test.mjs"))
        .env("SOCKETLAB_BIN", &bin)
        .env("PATH", env.path())
        .current_dir(&dir))
}

fn bench(size: plan::Size) -> Result<()> {
    // The UI is built (cached after the first time) so that the binaries the benchmarks build
    // embed it like every other build, and the bundle's size is in the report.
    let (dist, wasm) = build_web()?;
    let table = bench::bench(size, &dist, (size != plan::Size::Smoke).then_some(wasm))?;
    let text = table.markdown();
    println!("\n{text}");
    if size == plan::Size::Full {
        report::write_benchmarks(&root().join("BENCHMARKS.md"), &text)?;
        println!("xtask: wrote BENCHMARKS.md");
    }
    if size == plan::Size::Smoke && table.rows.iter().any(|r| r.median() <= 0.0) {
        bail!("the benchmark harness measured nothing for some scenario");
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("web") => build_web().map(|_| ()),
        Some("setup") => {
            setup::ensure().map(|env| println!("xtask: ready; tests run with {} first on PATH", env.venv_bin.display()))
        }
        Some("run") => {
            let (dist, _) = build_web()?;
            let mut cmd = cargo();
            cmd.args(["run", "--release", "--package", "socketlab", "--bin", "socketlab", "--", "serve"]);
            cmd.args(&args[1..]).env("SOCKETLAB_WEB_DIST", &dist);
            run(&mut cmd)
        }
        Some("test") => {
            let env = setup::ensure()?;
            let (dist, _) = build_web()?;
            run(cargo().args(["test", "--workspace"]).env("SOCKETLAB_WEB_DIST", &dist).env("PATH", env.path()))?;
            bench(plan::Size::Smoke)?;
            browser_tests(&env)?;
            fuzz::fuzz(15)
        }
        Some("fuzz") => match (args.get(1).map(String::as_str), args.get(2)) {
            (None, _) => fuzz::fuzz(60),
            (Some("--secs"), Some(secs)) => fuzz::fuzz(secs.parse().context("--secs takes a number of seconds")?),
            _ => bail!("usage: cargo xtask fuzz [--secs N]"),
        },
        Some("bench") => match args.get(1).map(String::as_str) {
            None => bench(plan::Size::Full),
            Some("--quick") => bench(plan::Size::Quick),
            Some("--smoke") => bench(plan::Size::Smoke),
            Some(other) => bail!("unknown bench flag {other:?}; use --quick or --smoke"),
        },
        _ => {
            eprintln!(
                "usage: cargo xtask run [serve flags] | test | setup | web | fuzz [--secs N] | bench [--quick|--smoke]"
            );
            std::process::exit(2);
        }
    }
}
