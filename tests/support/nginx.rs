//! The repository's `deploy/socketlab.conf` in a real nginx on loopback, in front of two
//! `socketlab serve` instances sharing one PostgreSQL, for the deploy and scale tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Proc, WAIT};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// nginx running the deploy file; stops, then removes its directory, when dropped.
pub struct Nginx {
    proc: Option<Proc>,
    /// `127.0.0.1:port`, where browsers reach it.
    pub addr: String,
    dir: PathBuf,
}

impl Nginx {
    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What nginx's access log holds so far.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }

    /// nginx with the deploy file, its two instances and its listen address swapped for the
    /// test's; `name` keeps two in one test process apart.
    pub fn start(name: &str, a: &str, b: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("socketlab-nginx-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/socketlab.conf");
        let text = std::fs::read_to_string(&deploy).unwrap();
        let port = free_port();
        for needle in ["127.0.0.1:8081 ", "127.0.0.1:8082 ", "listen 80;"] {
            assert!(text.contains(needle), "deploy/socketlab.conf no longer has {needle:?}");
        }
        let site = text
            .replace("127.0.0.1:8081 ", &format!("{a} "))
            .replace("127.0.0.1:8082 ", &format!("{b} "))
            .replace("listen 80;", &format!("listen 127.0.0.1:{port};"));
        std::fs::write(dir.join("socketlab.conf"), site).unwrap();
        let d = dir.display();
        let main = format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{ worker_connections 1024; }}\nhttp {{\n  \
             access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
             fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
             include {d}/socketlab.conf;\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), main).unwrap();
        // Workers run as nobody when nginx starts as root; they write their temporary files here.
        let _ = Command::new("chmod").arg("777").arg(&dir).status();
        let mut cmd = Command::new("nginx");
        cmd.arg("-p").arg(&dir).arg("-c").arg(dir.join("nginx.conf"));
        let mut p = Proc::start(cmd);
        // Ready when this nginx, still running, answers `/healthz` from a socketlab instance:
        // another process may have taken the port since `free_port` let it go.
        let deadline = Instant::now() + WAIT;
        loop {
            let log = || std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
            if let Some(status) = p.child.try_wait().unwrap() {
                panic!("nginx exited ({status}): {}", log());
            }
            if healthz(port).is_some_and(|r| r.contains("Server: nginx") && r.contains("\"status\":")) {
                break;
            }
            assert!(Instant::now() < deadline, "nginx did not answer /healthz on {port}: {}", log());
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { proc: Some(p), addr: format!("127.0.0.1:{port}"), dir }
    }
}

/// `GET /healthz` on `127.0.0.1:port`: the whole response, or `None` when there is none yet.
fn healthz(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.take(64 * 1024).read_to_string(&mut out).ok()?;
    Some(out)
}

impl Drop for Nginx {
    fn drop(&mut self) {
        drop(self.proc.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The instance that answered, told apart by its hosted UDP port.
pub async fn udp_port(c: &reqwest::Client, url: &str, cookie: &str) -> u64 {
    let r = c.get(format!("{url}/api/v1/servers")).header("cookie", cookie).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}: {}", r.text().await.unwrap());
    let v: Value = r.json().await.unwrap();
    v["servers"].as_array().unwrap().iter().find(|s| s["protocol"] == "udp").unwrap()["port"].as_u64().unwrap()
}

/// A first visit: the page, and the cookies that come with it (nginx's affinity cookie and
/// socketlab's session), as one `Cookie` header value.
pub async fn visit(c: &reqwest::Client, url: &str) -> String {
    let r = c.get(format!("{url}/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let pairs: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    assert!(pairs.iter().any(|p| p.starts_with("socketlab_affinity=")), "an affinity cookie: {pairs:?}");
    assert!(pairs.iter().any(|p| p.starts_with("socketlab_session=")), "a session cookie: {pairs:?}");
    pairs.join("; ")
}
