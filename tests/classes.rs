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

    // The resume link asks first, and signs the student in elsewhere only by its form's POST.
    let resume = me.body["resume_url"].as_str().unwrap().to_owned();
    let asked = api.get(&resume, As::Nobody).await;
    assert_eq!((asked.status, asked.cookie.as_deref()), (200, None), "opening the link changes nothing");
    assert!(asked.text.contains("Continue as Ada (Networks 101)?") && asked.text.contains("method=\"post\""));
    let back = api.call(Method::POST, &resume, As::Nobody, None).await;
    assert_eq!(back.status, 303);
    let again = api.get("/api/v1/me", As::Cookie(back.cookie.as_deref().unwrap())).await;
    assert_eq!(again.body["student"]["id"], json!(ada));
    let from_elsewhere = api.c.post(format!("{}{resume}", api.base)).header("origin", "http://evil.example").send();
    assert_eq!(from_elsewhere.await.unwrap().status(), 403, "another site's form is refused");
    // A browser that is Bob's is told, and switched only when the form says so.
    let bobs = api.get(&resume, As::Cookie(&cookies[1])).await;
    assert!(bobs.text.contains("signed in as Bob") && bobs.text.contains("name=\"replace\""), "{}", bobs.text);
    let kept = api.call(Method::POST, &resume, As::Cookie(&cookies[1]), None).await;
    assert_eq!((kept.status, kept.cookie), (409, None), "{}", kept.text);
    let form = api.c.post(format!("{}{resume}", api.base)).header("cookie", &cookies[1]);
    let form = form.header("content-type", "application/x-www-form-urlencoded").body("replace=1");
    let switched = form.send().await.unwrap();
    assert_eq!(switched.status(), 303);
    assert!(switched.headers()["set-cookie"].to_str().unwrap().starts_with("socketlab_student="));
    assert_eq!(api.get("/resume/r.nobody.0.AAAA", As::Nobody).await.status, 404);
    assert_eq!(api.call(Method::POST, "/resume/r.nobody.0.AAAA", As::Nobody, None).await.status, 404);

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

    // The instructor cookie lasts 12 hours and opens only the event stream and the CSV, for
    // this class's paths only.
    let base = format!("/api/v1/classes/{class}");
    let session = api.call(Method::POST, &format!("{base}/session"), As::Bearer(secret), None).await;
    assert_eq!(session.status, 204);
    let instructor = session.cookie.unwrap();
    assert!(instructor.starts_with("socketlab_instructor="));
    assert!(session.set_cookie.as_deref().unwrap().contains("Max-Age=43200;"), "{:?}", session.set_cookie);
    let csv = api.get(&format!("{base}/grades.csv"), As::Cookie(&instructor)).await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    for (method, path) in [
        (Method::GET, base.clone()),
        (Method::GET, format!("{base}/students/{}", ids[1])),
        (Method::DELETE, format!("{base}/students/{}", ids[1])),
        (Method::POST, format!("{base}/close")),
        (Method::POST, format!("{base}/secret")),
    ] {
        let a = api.call(method.clone(), &path, As::Cookie(&instructor), None).await;
        assert_eq!((a.status, a.body["error"]["code"].as_str()), (401, Some("unauthorized")), "{method} {path}");
    }
    let elsewhere = api
        .get(&format!("/api/v1/classes/{}/grades.csv", other["id"].as_str().unwrap()), As::Cookie(&instructor))
        .await;
    assert_eq!(elsewhere.status, 403);

    // Rotating the secret (with the current one) retires it and every cookie made from it.
    let rotated = api.call(Method::POST, &format!("{base}/secret"), As::Bearer(secret), None).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let new = rotated.body["secret"].as_str().unwrap();
    assert!(rotated.body["instructor_url"].as_str().unwrap().ends_with(&format!("#key={new}")));
    for (who, path) in [
        (As::Bearer(secret), base.clone()),
        (As::Cookie(&instructor), format!("{base}/grades.csv")),
        (As::Bearer(secret), format!("{base}/secret")),
    ] {
        let a = api.call(Method::GET, &path, who, None).await;
        assert!(a.status == 401 || a.status == 405, "{path}: {}", a.text);
    }
    let stale = api.call(Method::POST, &format!("{base}/secret"), As::Bearer(secret), None).await;
    assert_eq!(stale.status, 401, "{}", stale.text);
    assert_eq!(api.get(&base, As::Bearer(new)).await.status, 200);
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_students_websocket_records_checks_and_observes_without_payloads() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let (_udp, udp_port) = socketlab_server(&["udp-server"]);
    // The second target is a UDP server that answers in lower case: a worse check.
    let (_lower, lower_port) = support::python_server("udp_lower_server.py");
    let (g, _store) = gateway("ws", udp_port, lower_port).await;
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
    assert_eq!(support::gateway::recv(&mut ws).await["type"], "subscribed", "a student may watch live traffic");
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
    assert_eq!((&me["checks"][0]["target"], &event["target"]), (&report["target"], &report["target"]), "what answered");
    // A worse run of the program keeps the best, and tells no dashboard.
    let worse = check(&api, &cookie, "udp-server", "tcp").await;
    assert_ne!(worse, format!("{}/{}", report["score"], report["max_score"]));
    assert_eq!(api.join(c["join_code"].as_str().unwrap(), "Zed").await.status, 200);
    let (kind, data) = events.next().await;
    assert_eq!((kind.as_str(), &data["name"]), ("joined", &json!("Zed")), "no check event came first: {data}");

    // In class mode, a browser without a cookie observes too, and no one reads the payloads.
    let mut anonymous = support::gateway::connect(&g).await;
    support::gateway::send(&mut anonymous, json!({"type": "subscribe", "scope": "all"})).await;
    assert_eq!(support::gateway::recv(&mut anonymous).await["type"], "subscribed");
    let mut cmd = support::python("udp_client.py");
    cmd.arg(g.udp.port().to_string());
    let run = tokio::task::spawn_blocking(move || support::run_with_input(cmd, b"ada's secret words\n"));
    let (status, out, err) = run.await.unwrap();
    assert!(status.success() && out.contains("ADA'S SECRET WORDS"), "{out}\n{err}");
    let (mut conversation, mut seen) = (String::new(), Vec::new());
    for (watcher, who) in [(&mut anonymous, "a browser without a cookie"), (&mut ws, "a student")] {
        for _ in 0..20 {
            let v = support::gateway::recv(watcher).await;
            if v["type"] != "observed" {
                continue;
            }
            conversation = v["conversation"].as_str().unwrap().to_owned();
            let text = v["event"].to_string();
            assert!(!text.contains("secret") && !text.contains("SECRET"), "{who} read a payload: {text}");
            seen.push(v["event"]["op"].clone());
            if v["event"]["op"] == "sendto" {
                assert!(v["event"]["bytes"].as_u64().is_some_and(|b| b > 0), "sizes stay: {text}");
                break;
            }
        }
        assert!(seen.contains(&json!("sendto")), "{who} saw no reply: {seen:?}");
        seen.clear();
    }
    assert!(conversation.starts_with("udp 127.0.0.1:"), "{conversation}");

    // A lab check credits only the student's own exchanges, and conversations from their own
    // address.
    let bob = api.join(c["join_code"].as_str().unwrap(), "Bob").await.cookie.unwrap();
    let adas = udp_exchange(&api, &cookie, "mine").await;
    let path = "/api/v1/labs/udp-datagrams/steps/no-handshake/check";
    let taken = api.post(path, As::Cookie(&bob), json!({"exchanges": [adas], "answers": {}})).await;
    assert_eq!((taken.status, taken.body["error"]["code"].as_str()), (403, Some("forbidden")), "{}", taken.text);
    let own = api.post(path, As::Cookie(&cookie), json!({"exchanges": [adas], "answers": {}})).await;
    assert_eq!(own.status, 200, "{}", own.text);
    let live = "/api/v1/labs/python-client/steps/live/check";
    let same_address = api.post(live, As::Cookie(&bob), json!({"exchanges": [conversation], "answers": {}})).await;
    assert_eq!(same_address.status, 200, "{}", same_address.text);
    let py = format!(
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('127.0.0.2', 0))\n\
         s.settimeout(5)\ns.sendto(b'hi', ('127.0.0.1', {}))\ns.recvfrom(2048)\nprint(s.getsockname()[1])",
        g.udp.port()
    );
    let out = std::process::Command::new("python3").arg("-c").arg(py).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let elsewhere = format!("udp 127.0.0.2:{}", String::from_utf8_lossy(&out.stdout).trim());
    let far = api.post(live, As::Cookie(&bob), json!({"exchanges": [elsewhere], "answers": {}})).await;
    assert_eq!((far.status, far.body["error"]["code"].as_str()), (403, Some("forbidden")), "{}", far.text);
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
        ("/resume/{token}", "post"),
        ("/api/v1/classes/{id}", "get"),
        ("/api/v1/classes/{id}/students/{student}", "get"),
        ("/api/v1/classes/{id}/students/{student}", "delete"),
        ("/api/v1/classes/{id}/grades.csv", "get"),
        ("/api/v1/classes/{id}/close", "post"),
        ("/api/v1/classes/{id}/session", "post"),
        ("/api/v1/classes/{id}/secret", "post"),
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
    let out =
        support::socketlab().args(["class", "rotate-secret", id]).env("SOCKETLAB_DATA_DIR", &dir).output().unwrap();
    let rotated = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{rotated} {}", String::from_utf8_lossy(&out.stderr));
    let new_link = rotated.lines().find_map(|l| l.strip_prefix("instructor link:")).map(str::trim).unwrap();
    assert!(new_link.starts_with(&format!("/instructor/{id}#key=")) && new_link != link, "{rotated}");
    runtime.block_on(async {
        let store = socketlab::db::open(&dir, None).await.unwrap();
        let g = start_with(|_| {}, Some(store)).await;
        let api = Api::new(&g.url(""));
        for (key, want) in [(link, 401), (new_link, 200)] {
            let secret = key.split("#key=").nth(1).unwrap();
            assert_eq!(api.get(&format!("/api/v1/classes/{id}"), As::Bearer(secret)).await.status, want, "{key}");
        }
        g.stop().await;
    });
    let nobody =
        support::socketlab().args(["class", "rotate-secret", "nosuchclass"]).env("SOCKETLAB_DATA_DIR", &dir).output();
    assert!(!nobody.unwrap().status.success());
    let empty = support::socketlab().args(["class", "create", " "]).env("SOCKETLAB_DATA_DIR", &dir).output().unwrap();
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("the name is empty"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_is_told_lagged_when_the_instance_listens_again() {
    let pg = tokio::task::spawn_blocking(support::postgres::Postgres::start).await.unwrap();
    let url = pg.database("relisten");
    let store = socketlab::db::open("unused".as_ref(), Some(&url)).await.unwrap();
    let g = start_with(|c| c.instructor_token = Some(OPERATOR.to_owned()), Some(store)).await;
    let api = Api::new(&g.url(""));
    let c = api.post("/api/v1/classes", As::Bearer(OPERATOR), json!({"name": "PG"})).await.body;
    let (class, secret, code) =
        (c["id"].as_str().unwrap(), c["secret"].as_str().unwrap(), c["join_code"].as_str().unwrap());
    // `ready` comes once LISTEN is active: a join right after it reaches the stream.
    let mut events = api.events(class, secret).await;
    assert_eq!(api.join(code, "Ada").await.status, 200);
    assert_eq!(events.collect("joined", 1).await[0]["name"], "Ada");

    // The database drops the listening connection, as in a failover.
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    let kill = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%'";
    let killed: Vec<(bool,)> = sqlx::query_as(kill).fetch_all(&admin).await.unwrap();
    assert!(killed.iter().any(|(k,)| *k), "a LISTEN connection to end: {killed:?}");
    events.collect("lagged", 1).await;
    assert_eq!(api.join(code, "Bob").await.status, 200);
    assert_eq!(events.collect("joined", 1).await[0]["name"], "Bob", "listening again");
    admin.close().await;
    g.stop().await;
}
