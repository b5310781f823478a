//! A client of the class API for the class tests: requests with a student's cookie or an
//! instructor's secret, and a reader of the instructor's event stream.
#![allow(dead_code, clippy::unwrap_used)]

use reqwest::Method;
use serde_json::Value;

use super::WAIT;

/// An answer: status, JSON body (or `Value::Null`), and the `name=value` of a set cookie.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub cookie: Option<String>,
    pub text: String,
}

/// Who makes a request.
#[derive(Debug, Clone, Copy)]
pub enum As<'a> {
    Nobody,
    /// A `Cookie` header, such as `socketlab_student=...`.
    Cookie(&'a str),
    /// `Authorization: Bearer ...`.
    Bearer(&'a str),
}

pub struct Api {
    pub c: reqwest::Client,
    pub base: String,
}

impl Api {
    pub fn new(base: &str) -> Self {
        let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { c, base: base.trim_end_matches('/').to_owned() }
    }

    pub async fn call(&self, method: Method, path: &str, who: As<'_>, body: Option<Value>) -> Answer {
        let mut req = self.c.request(method, format!("{}{path}", self.base));
        req = match who {
            As::Nobody => req,
            As::Cookie(c) => req.header("cookie", c),
            As::Bearer(b) => req.bearer_auth(b),
        };
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r = tokio::time::timeout(WAIT, req.send()).await.expect("an answer in time").unwrap();
        let status = r.status().as_u16();
        let cookie = r.headers().get("set-cookie").map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer { status, body, cookie, text }
    }

    pub async fn get(&self, path: &str, who: As<'_>) -> Answer {
        self.call(Method::GET, path, who, None).await
    }

    pub async fn post(&self, path: &str, who: As<'_>, body: Value) -> Answer {
        self.call(Method::POST, path, who, Some(body)).await
    }

    /// Joins with `code` as `name`; returns the answer, whose `cookie` is the student's.
    pub async fn join(&self, code: &str, name: &str) -> Answer {
        self.post("/api/v1/join", As::Nobody, serde_json::json!({"code": code, "name": name})).await
    }

    /// Opens the class's event stream with its secret and waits for `ready`.
    pub async fn events(&self, class: &str, secret: &str) -> Events {
        let r = self
            .c
            .get(format!("{}/api/v1/classes/{class}/events", self.base))
            .bearer_auth(secret)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        let mut events = Events { r, buf: String::new() };
        let (kind, data) = events.next().await;
        assert_eq!((kind.as_str(), &data["class"]), ("ready", &Value::from(class)));
        events
    }
}

/// A server-sent event stream.
pub struct Events {
    r: reqwest::Response,
    buf: String,
}

impl Events {
    /// The next event (keep-alive comments skipped): its name and JSON data.
    pub async fn next(&mut self) -> (String, Value) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut kind = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        kind = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return (kind, serde_json::from_str(&data).unwrap());
            }
            let chunk = tokio::time::timeout_at(deadline, self.r.chunk()).await.expect("an event in time").unwrap();
            self.buf.push_str(&String::from_utf8_lossy(&chunk.expect("the stream stays open")));
        }
    }

    /// Events until `want` of kind `kind` have come (other kinds are skipped); bounded by the
    /// wait of each event.
    pub async fn collect(&mut self, kind: &str, want: usize) -> Vec<Value> {
        let mut got = Vec::new();
        while got.len() < want {
            let (k, data) = self.next().await;
            if k == kind {
                got.push(data);
            }
        }
        got
    }
}
