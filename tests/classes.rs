//! Classes through the real API of a gateway on SQLite: a class created, three students
//! joined, each passing a lab step and checking a real server, the grades CSV with
//! their marks, the live events, and every isolation case with its status. Also
//! `socketlab class create` from the command line.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use socketlab::class::token::{Kind, Signer};
use socketlab::db::Store;
use support::class::{Api, As};
use support::gateway::{Running, start_with};
use support::socketlab_server;

const OPERATOR: &str = "operator-token-for-tests";
const DAY_MS: i64 = 86_400_000;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("socketlab-classes-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn now_ms() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// A gateway on its own SQLite store, with the operator token and two listed servers.
async fn gateway(name: &str, udp: u16, tcp: u16) -> (Running, Arc<dyn Store>) {
    let store = socketlab::db::open(&temp_dir(name), None).await.unwrap();
    let g = start_with(
        |c| {
            c.instructor_token = Some(OPERATOR.to_owned());
            c.targets.insert("udp".to_owned(), format!("127.0.0.1:{udp}").parse().unwrap());
            c.targets.insert("tcp".to_owned(), format!("127.0.0.1:{tcp}").parse().unwrap());
        },
        Some(store.clone()),
    )
    .await;
    (g, store)
}

/// Runs a UDP exchange with `message` and returns its name.
async fn udp_exchange(api: &Api, cookie: &str, message: &str) -> String {
    let a = api.post("/api/v1/exchanges", As::Cookie(cookie), json!({"protocol": "udp", "message": message})).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.body["id"].as_str().unwrap().to_owned()
}

async fn step(api: &Api, cookie: &str, step: &str, exchange: &str, answers: Value) -> Value {
    let path = format!("/api/v1/labs/udp-datagrams/steps/{step}/check");
    let a = api.post(&path, As::Cookie(cookie), json!({"exchanges": [exchange], "answers": answers})).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.body
}

async fn check(api: &Api, cookie: &str, program: &str, target: &str) -> String {
    let a = api.post("/api/v1/checks", As::Cookie(cookie), json!({"program": program, "target": target})).await;
    assert_eq!(a.status, 200, "{}", a.text);
    format!("{}/{}", a.body["score"], a.body["max_score"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_students_work_and_the_instructor_grades_them() {
    // The binary's own servers: the lesson's Python server dies on the check's invalid UTF-8,
    // and four checks run here.
    let (_udp, udp_port) = socketlab_server(&["udp-server"]);
    let (_tcp, tcp_port) = socketlab_server(&["tcp-server"]);
    let (g, store) = gateway("three", udp_port, tcp_port).await;
    let api = Api::new(&g.url(""));

    // Creating a class needs the operator's token.
    let body = json!({"name": "Networks 101"});
    assert_eq!(api.post("/api/v1/classes", As::Nobody, body.clone()).await.status, 401);
    assert_eq!(api.post("/api/v1/classes", As::Bearer("wrong"), body.clone()).await.status, 401);
    let bad = api.post("/api/v1/classes", As::Bearer(OPERATOR), json!({"name": "  "})).await;
    assert_eq!((bad.status, &bad.body["error"]["code"]), (422, &json!("invalid_field")));
    let created = api.post("/api/v1/classes", As::Bearer(OPERATOR), body.clone()).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let c = created.body;
    let (class, code, secret) =
        (c["id"].as_str().unwrap(), c["join_code"].as_str().unwrap(), c["secret"].as_str().unwrap());
    assert_eq!(c["instructor_url"], format!("/instructor/{class}#key={secret}"));
    let other = api.post("/api/v1/classes", As::Bearer(OPERATOR), json!({"name": "Other class"})).await.body;
    let other_secret = other["secret"].as_str().unwrap();

    let mut events = api.events(class, secret).await;

    // Three students join; names are unique ignoring case, codes ignore case and dashes.
    let mut cookies = Vec::new();
    let mut ids = Vec::new();
    for (name, typed) in
        [("Ada", code.to_owned()), ("Bob", code.to_lowercase()), ("李雷", format!("{}-{}", &code[..4], &code[4..]))]
    {
        let a = api.join(&typed, name).await;
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!((&a.body["class"]["id"], &a.body["student"]["name"]), (&json!(class), &json!(name)));
        let cookie = a.cookie.expect("a student cookie");
        assert!(cookie.starts_with("socketlab_student="), "{cookie}");
        cookies.push(cookie);
        ids.push(a.body["student"]["id"].as_str().unwrap().to_owned());
    }
    let joined = events.collect("joined", 3).await;
    assert_eq!(joined.iter().map(|e| e["student"].as_str().unwrap()).collect::<Vec<_>>(), ids);
    let taken = api.join(code, "ada").await;
    assert_eq!((taken.status, &taken.body["error"]["code"]), (409, &json!("name_taken")));
    let unknown = api.join("ZZZZZZZZ", "Eve").await;
    assert_eq!((unknown.status, &unknown.body["error"]["code"]), (404, &json!("unknown_class")));
    assert_eq!(api.join(code, "a\u{7}b").await.status, 422);

    // Each passes the first step; Bob the second too. Ada and Bob check the UDP server, Bob
    // and 李雷 the TCP one.
    for (i, cookie) in cookies.iter().enumerate() {
        let x = udp_exchange(&api, cookie, &format!("student {i}")).await;
        assert_eq!(step(&api, cookie, "no-handshake", &x, json!({})).await["passed"], true);
    }
    let x = udp_exchange(&api, &cookies[1], "twelve bytes").await;
    let wrong = step(&api, &cookies[1], "boundaries", &x, json!({"sent": "11", "received": "12"})).await;
    assert_eq!(wrong["passed"], false, "a failed step is not recorded");
    let right = step(&api, &cookies[1], "boundaries", &x, json!({"sent": "12", "received": "12"})).await;
    assert_eq!(right["passed"], true, "{right}");
    let progress = events.collect("progress", 4).await;
    assert_eq!(progress.iter().filter(|e| e["student"] == ids[1].as_str()).count(), 2, "{progress:?}");
    let ada_udp = check(&api, &cookies[0], "udp-server", "udp").await;
    let bob_udp = check(&api, &cookies[1], "udp-server", "udp").await;
    let bob_tcp = check(&api, &cookies[1], "tcp-server", "tcp").await;
    let li_tcp = check(&api, &cookies[2], "tcp-server", "tcp").await;
    let checks = events.collect("check", 4).await;
    assert_eq!(checks[0]["program"], "udp-server");

    // A student's saved exchange is theirs; /me shows a student only their own work.
    let saved = api.post("/api/v1/saved", As::Cookie(&cookies[0]), json!({"exchange": x})).await;
    assert_eq!(saved.status, 201, "{}", saved.text);
    let me = api.get("/api/v1/me", As::Cookie(&cookies[0])).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!((&me.body["student"]["id"], &me.body["class"]["id"]), (&json!(ids[0]), &json!(class)));
    assert_eq!(me.body["progress"].as_array().unwrap().len(), 1, "{}", me.text);
    assert_eq!(me.body["checks"][0]["program"], "udp-server");
    assert_eq!(me.body["saved"][0]["id"], saved.body["id"]);
    assert!(!me.text.contains(&ids[1]) && !me.text.contains(&ids[2]), "only Ada's own work: {}", me.text);
    let bob = api.get("/api/v1/me", As::Cookie(&cookies[1])).await.body;
    assert_eq!(bob["progress"].as_array().unwrap().len(), 2);
    let boundaries = bob["progress"].as_array().unwrap().iter().find(|p| p["step"] == "boundaries").unwrap();
    assert_eq!(boundaries["answers"]["sent"], "12", "the answers are kept");
    assert!(bob["saved"].as_array().unwrap().is_empty(), "Ada's save is not Bob's");
    let local = api.get("/api/v1/me", As::Nobody).await;
    assert_eq!((local.status, &local.body["student"]), (200, &Value::Null), "local use has no student");

    // The dashboard and the CSV list all three with their marks.
    let dash = api.get(&format!("/api/v1/classes/{class}"), As::Bearer(secret)).await;
    assert_eq!(dash.status, 200, "{}", dash.text);
    let d = dash.body;
    assert_eq!((&d["class"]["join_code"], &d["class"]["closed"]), (&json!(code), &json!(false)));
    assert_eq!(d["students"].as_array().unwrap().len(), 3);
    // Students who joined in the same millisecond are listed in any order: find them by id.
    let row = |id: &str| d["students"].as_array().unwrap().iter().find(|s| s["id"] == id).unwrap().clone();
    assert_eq!(row(&ids[1])["progress"]["udp-datagrams"], json!(["no-handshake", "boundaries"]));
    assert_eq!(
        row(&ids[2])["checks"]["tcp-server"]["total"],
        li_tcp.split('/').nth(1).unwrap().parse::<i64>().unwrap()
    );
    let steps_of =
        |lab: &str| d["labs"].as_array().unwrap().iter().find(|l| l["id"] == lab).unwrap()["steps"].as_u64().unwrap();
    let udp_steps = steps_of("udp-datagrams");
    let csv = api.get(&format!("/api/v1/classes/{class}/grades.csv"), As::Bearer(secret)).await;
    assert_eq!(csv.status, 200);
    let lines: Vec<&str> = csv.text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 4, "{}", csv.text);
    let header: Vec<&str> = lines[0].split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no {name} in {header:?}"));
    let want = [
        (ids[0].as_str(), "Ada", format!("1/{udp_steps}"), ada_udp.clone(), String::new()),
        (ids[1].as_str(), "Bob", format!("2/{udp_steps}"), bob_udp, bob_tcp),
        (ids[2].as_str(), "李雷", format!("1/{udp_steps}"), String::new(), li_tcp),
    ];
    for (id, name, lab, udp, tcp) in &want {
        let line = lines[1..].iter().find(|l| l.starts_with(&format!("{id},"))).unwrap();
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!((cells[0], cells[1]), (*id, *name), "{line}");
        assert_eq!(cells[col("udp-datagrams")], lab, "{line}");
        assert_eq!((cells[col("udp-server")], cells[col("tcp-server")]), (udp.as_str(), tcp.as_str()), "{line}");
        assert_eq!(cells[col("tcp-handshake")], format!("0/{}", steps_of("tcp-handshake")), "{line}");
    }
    assert!(ada_udp.split('/').next().unwrap().parse::<u32>().unwrap() > 0, "the real server earns points: {ada_udp}");
    let one = api.get(&format!("/api/v1/classes/{class}/students/{}", ids[1]), As::Bearer(secret)).await;
    assert_eq!((one.status, one.body["progress"].as_array().unwrap().len()), (200, 2), "{}", one.text);
    assert!(one.body.get("resume_url").is_none(), "the resume link is the student's own");

    // Isolation: the instructor's routes need this class's secret.
    let ada = &ids[0];
    let forged = format!("{}x", &secret[..secret.len() - 1]);
    for path in [
        format!("/api/v1/classes/{class}"),
        format!("/api/v1/classes/{class}/grades.csv"),
        format!("/api/v1/classes/{class}/students/{ada}"),
        format!("/api/v1/classes/{class}/events"),
    ] {
        for (who, status, code) in [
            (As::Nobody, 401, "unauthorized"),
            (As::Bearer(&forged), 401, "unauthorized"),
            (As::Bearer(other_secret), 403, "forbidden"),
            (As::Cookie(&cookies[0]), 401, "unauthorized"),
        ] {
            let a = api.get(&path, who).await;
            assert_eq!((a.status, a.body["error"]["code"].as_str()), (status, Some(code)), "{path} as {who:?}");
        }
    }
    for (method, path) in [
        (Method::POST, format!("/api/v1/classes/{class}/close")),
        (Method::DELETE, format!("/api/v1/classes/{class}/students/{ada}")),
    ] {
        assert_eq!(api.call(method.clone(), &path, As::Nobody, None).await.status, 401);
        assert_eq!(api.call(method, &path, As::Bearer(other_secret), None).await.status, 403);
    }

    // Forged and expired student cookies are refused, on every route that reads them.
    let signer = Signer::new(store.signing_key("cookies", &[0; 32]).await.unwrap());
    let expired = format!("socketlab_student={}", signer.sign(Kind::Student, ada, now_ms() - 181 * DAY_MS));
    let fresh = format!("socketlab_student={}", signer.sign(Kind::Student, ada, now_ms() - 179 * DAY_MS));
    let forged = format!("socketlab_student={}", Signer::new(vec![9; 32]).sign(Kind::Student, ada, now_ms()));
    let resume_as_cookie = format!("socketlab_student={}", signer.sign(Kind::Resume, ada, 0));
    assert_eq!(api.get("/api/v1/me", As::Cookie(&fresh)).await.status, 200, "within --student-session-days");
    for bad in [&expired, &forged, &resume_as_cookie, &"socketlab_student=garbage".to_owned()] {
        let a = api.get("/api/v1/me", As::Cookie(bad)).await;
        assert_eq!((a.status, a.body["error"]["code"].as_str()), (401, Some("unauthorized")), "{bad}");
        let s = api.post("/api/v1/saved", As::Cookie(bad), json!({"exchange": x})).await;
        assert_eq!(s.status, 401, "{bad}: {}", s.text);
    }

    // The resume link signs the student in elsewhere.
    let resume = me.body["resume_url"].as_str().unwrap().to_owned();
    let back = api.get(&resume, As::Nobody).await;
    assert_eq!(back.status, 303);
    let again = api.get("/api/v1/me", As::Cookie(back.cookie.as_deref().unwrap())).await;
    assert_eq!(again.body["student"]["id"], json!(ada));
    assert_eq!(api.get("/resume/r.nobody.0.AAAA", As::Nobody).await.status, 404);

    // Removing a student ends their cookie and resume link; closing ends joins.
    let path = format!("/api/v1/classes/{class}/students/{ada}");
    assert_eq!(api.call(Method::DELETE, &path, As::Bearer(secret), None).await.status, 204);
    assert_eq!(events.collect("removed", 1).await[0]["student"], json!(ada));
    assert_eq!(api.call(Method::DELETE, &path, As::Bearer(secret), None).await.status, 404);
    assert_eq!(api.get("/api/v1/me", As::Cookie(&cookies[0])).await.status, 401);
    assert_eq!(api.get(&resume, As::Nobody).await.status, 404);
    let leave = api.call(Method::DELETE, "/api/v1/me", As::Cookie(&cookies[0]), None).await;
    assert_eq!((leave.status, leave.cookie.as_deref()), (204, Some("socketlab_student=")), "the browser forgets it");
    let closed = api.post(&format!("/api/v1/classes/{class}/close"), As::Bearer(secret), json!({})).await;
    assert_eq!((closed.status, &closed.body), (200, &json!({"closed": true})));
    events.collect("closed", 1).await;
    let late = api.join(code, "Late").await;
    assert_eq!((late.status, &late.body["error"]["code"]), (403, &json!("class_closed")));
    let dash = api.get(&format!("/api/v1/classes/{class}"), As::Bearer(secret)).await.body;
    assert_eq!((dash["students"].as_array().unwrap().len(), &dash["class"]["closed"]), (2, &json!(true)));

    // The instructor cookie opens the event stream, for this class's paths only.
    let session = api.call(Method::POST, &format!("/api/v1/classes/{class}/session"), As::Bearer(secret), None).await;
    assert_eq!(session.status, 204);
    let instructor = session.cookie.unwrap();
    assert!(instructor.starts_with("socketlab_instructor="));
    let dash = api.get(&format!("/api/v1/classes/{class}"), As::Cookie(&instructor)).await;
    assert_eq!(dash.status, 200);
    let elsewhere =
        api.get(&format!("/api/v1/classes/{}", other["id"].as_str().unwrap()), As::Cookie(&instructor)).await;
    assert_eq!(elsewhere.status, 403);
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_students_websocket_records_checks_and_observes_only_its_own() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let (_udp, udp_port) = socketlab_server(&["udp-server"]);
    let (_tcp, tcp_port) = socketlab_server(&["tcp-server"]);
    let (g, _store) = gateway("ws", udp_port, tcp_port).await;
    let api = Api::new(&g.url(""));
    let c = api.post("/api/v1/classes", As::Bearer(OPERATOR), json!({"name": "WS"})).await.body;
    let (class, secret) = (c["id"].as_str().unwrap(), c["secret"].as_str().unwrap());
    let joined = api.join(c["join_code"].as_str().unwrap(), "Ada").await;
    let cookie = joined.cookie.unwrap();
    let mut events = api.events(class, secret).await;

    let mut req = format!("ws://{}/api/v1/ws", g.http).into_client_request().unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    let (mut ws, _): (support::gateway::Ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let hello = support::gateway::recv(&mut ws).await;
    assert_eq!(hello["type"], "hello");
    support::gateway::send(&mut ws, json!({"type": "subscribe", "scope": "all"})).await;
    assert_eq!(support::gateway::recv(&mut ws).await["code"], "observe_disabled", "a student sees only their own");
    support::gateway::send(&mut ws, json!({"type": "check", "id": "k", "program": "udp-server", "target": "udp"}))
        .await;
    let report = loop {
        let frame = support::gateway::recv(&mut ws).await;
        if frame["type"] == "check_report" {
            break frame["report"].clone();
        }
        assert_eq!(frame["type"], "check_item", "{frame}");
    };
    let event = events.collect("check", 1).await.remove(0);
    assert_eq!((&event["student"], &event["program"]), (&joined.body["student"]["id"], &json!("udp-server")));
    let me = api.get("/api/v1/me", As::Cookie(&cookie)).await.body;
    assert_eq!((&me["checks"][0]["passed"], &me["checks"][0]["total"]), (&report["score"], &report["max_score"]));

    // Without a class cookie, the playground observes as before.
    let mut anonymous = support::gateway::connect(&g).await;
    support::gateway::send(&mut anonymous, json!({"type": "subscribe", "scope": "all"})).await;
    assert_eq!(support::gateway::recv(&mut anonymous).await["type"], "subscribed");
    g.stop().await;
}

#[tokio::test]
async fn http_creation_is_off_without_an_operator_token_and_every_route_is_documented() {
    let store = socketlab::db::open(&temp_dir("off"), None).await.unwrap();
    let g = start_with(|_| {}, Some(store)).await;
    let api = Api::new(&g.url(""));
    let a = api.post("/api/v1/classes", As::Bearer("anything"), json!({"name": "N"})).await;
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (403, Some("forbidden")));
    let doc = api.get("/api/v1/openapi.json", As::Nobody).await.body;
    for (path, method) in [
        ("/api/v1/classes", "post"),
        ("/api/v1/join", "post"),
        ("/api/v1/me", "get"),
        ("/api/v1/me", "delete"),
        ("/resume/{token}", "get"),
        ("/api/v1/classes/{id}", "get"),
        ("/api/v1/classes/{id}/students/{student}", "get"),
        ("/api/v1/classes/{id}/students/{student}", "delete"),
        ("/api/v1/classes/{id}/grades.csv", "get"),
        ("/api/v1/classes/{id}/close", "post"),
        ("/api/v1/classes/{id}/session", "post"),
        ("/api/v1/classes/{id}/events", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} is not in the document");
    }
    g.stop().await;
}

#[test]
fn the_cli_creates_a_class_that_a_gateway_on_the_same_store_opens() {
    let dir = temp_dir("cli");
    let out = support::socketlab()
        .args(["class", "create", "Networks 101", "--public-name", "lab.example.edu"])
        .env("SOCKETLAB_DATA_DIR", &dir)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text} {}", String::from_utf8_lossy(&out.stderr));
    let field = |name: &str| {
        text.lines().find_map(|l| l.strip_prefix(name)).map(str::trim).unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    let (code, id, link) = (field("join code:"), field("class id:"), field("instructor link:"));
    assert!(link.starts_with(&format!("/instructor/{id}#key=")), "{text}");
    assert!(text.contains(&format!("https://lab.example.edu{link}")), "{text}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = socketlab::db::open(&dir, None).await.unwrap();
        let g = start_with(|_| {}, Some(store)).await;
        let api = Api::new(&g.url(""));
        assert_eq!(api.join(code, "Ada").await.status, 200);
        let secret = link.split("#key=").nth(1).unwrap();
        let dash = api.get(&format!("/api/v1/classes/{id}"), As::Bearer(secret)).await;
        assert_eq!((dash.status, &dash.body["class"]["name"]), (200, &json!("Networks 101")), "{}", dash.text);
        g.stop().await;
    });
    let empty = support::socketlab().args(["class", "create", " "]).env("SOCKETLAB_DATA_DIR", &dir).output().unwrap();
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("the name is empty"));
}
