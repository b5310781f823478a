//! Embeds the browser UI in the binary.
//!
//! `static/` is always embedded. When `SOCKETLAB_WEB_DIST` names a folder (the xtask sets it to
//! the generated wasm-bindgen output), its files are embedded under `/pkg/`; without it the page
//! says how to build the UI.

use std::fmt::Write;
use std::path::{Path, PathBuf};

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let static_dir = manifest.join("../static");
    println!("cargo:rerun-if-changed={}", static_dir.display());
    println!("cargo:rerun-if-env-changed=SOCKETLAB_WEB_DIST");

    let mut entries: Vec<(String, PathBuf)> = Vec::new();
    for file in files_in(&static_dir) {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let url = if name == "index.html" { "/".to_owned() } else { format!("/{name}") };
        println!("cargo:rerun-if-changed={}", file.display());
        entries.push((url, file));
    }
    let mut ui_built = false;
    if let Ok(dist) = std::env::var("SOCKETLAB_WEB_DIST") {
        let pkg = PathBuf::from(dist).join("pkg");
        println!("cargo:rerun-if-changed={}", pkg.display());
        for file in files_in(&pkg) {
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            println!("cargo:rerun-if-changed={}", file.display());
            ui_built |= name.ends_with(".wasm");
            entries.push((format!("/pkg/{name}"), file));
        }
    }

    let mut code = String::from(
        "/// Each embedded file: URL path, content type, bytes.\npub const FILES: &[(&str, &str, &[u8])] = &[\n",
    );
    for (url, file) in &entries {
        let path = file.canonicalize().unwrap_or_else(|_| file.clone());
        let _ = writeln!(
            code,
            "    ({url:?}, {:?}, include_bytes!({:?})),",
            content_type(file),
            path.display().to_string()
        );
    }
    code.push_str("];\n");
    let _ = writeln!(code, "/// Whether the wasm UI is embedded.\npub const UI_BUILT: bool = {ui_built};");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("assets.rs");
    if let Err(e) = std::fs::write(&out, code) {
        panic!("cannot write {}: {e}", out.display());
    }
}
