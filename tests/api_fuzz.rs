//! Schemathesis against the gateway's own OpenAPI document: every status a route answers is
//! documented, every body matches its schema, and no request makes the gateway fail. Runs a
//! bounded number of examples per operation (plus its stateful phase) with the settings in
//! `tests/schemathesis/schemathesis.toml`; Python and schemathesis come from PATH
//! (`tests/requirements.txt`).
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use support::gateway::*;

/// Generous for a run of a few hundred requests on a shared machine; the run is bounded by its
/// example count, this only stops a hung one.
const RUN_LIMIT: Duration = Duration::from_secs(600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_errors_and_no_schema_violations() {
    // The support gateway's rate limit is far above what the run sends, so no 429s hide
    // answers; capture is off, so the pcapng route answers 409. The one listed target is a
    // port nobody listens on, so a check answers quickly, with 502.
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let r = start(|c| {
        c.targets.insert("nobody-home".to_owned(), closed);
    })
    .await;
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/schemathesis/schemathesis.toml");
    let work = std::env::temp_dir().join(format!("socketlab-schemathesis-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let run = tokio::process::Command::new("python3")
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(&config)
        .args(["run", &r.url("/api/v1/openapi.json")])
        .args(["--max-examples", "30", "--workers", "1", "--generation-database", "none", "--no-color"])
        .current_dir(&work)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(RUN_LIMIT, run)
        .await
        .expect("schemathesis finishes")
        .expect("python3 runs (pip install -r tests/requirements.txt)");
    std::fs::remove_dir_all(&work).ok();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "schemathesis failed ({}):\n{stdout}\n{stderr}", out.status);
    // A run that tested nothing would also exit 0: every operation of the document is tested,
    // and the document has at least the 27 operations written today.
    let count = |label: &str| -> Option<usize> {
        let rest = stdout.lines().find_map(|l| l.trim().strip_prefix(label))?;
        rest.trim().rsplit('/').next()?.trim().parse().ok()
    };
    let (total, tested) = (count("Selected:"), count("Tested:"));
    assert!(total.is_some_and(|n| n >= 27) && tested == total, "not every operation was tested:\n{stdout}");
    r.stop().await;
}
