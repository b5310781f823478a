//! A class across instances: PostgreSQL, two `socketlab serve` instances and nginx running the
//! repository's `deploy/socketlab.conf`, all on loopback. The class is made with the CLI on the
//! shared database; its instructor's event stream is opened on instance B alone. Sixty
//! students from one address join through nginx (which spreads them over both instances by
//! cookie), each runs an exchange and passes a lab step on its own instance; B's stream sees
//! every one of them, those served by instance A included, and both instances' CSVs agree.
//! When the database cuts the instances' listening connections, they listen again.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use support::class::{Api, As};
use support::nginx::{Nginx, udp_port, visit};
use support::serve_with;

const STUDENTS: usize = 60;

/// One student through nginx: joins, runs an exchange, passes the lab's first step. Returns
/// the student's id and the hosted UDP port of the instance that served them.
async fn student(front: String, code: String, n: usize) -> Result<(String, u64), String> {
    let c = reqwest::Client::new();
    let api = Api { c: c.clone(), base: front.clone() };
    let affinity = visit(&c, &front).await;
    let joined =
        api.post("/api/v1/join", As::Cookie(&affinity), json!({"code": code, "name": format!("student {n}")})).await;
    if joined.status != 200 {
        return Err(format!("join {n}: {} {}", joined.status, joined.text));
    }
    let cookie = format!("{affinity}; {}", joined.cookie.ok_or("no student cookie")?);
    let port = udp_port(&c, &front, &cookie).await;
    let ran = api
        .post("/api/v1/exchanges", As::Cookie(&cookie), json!({"protocol": "udp", "message": format!("hi {n}")}))
        .await;
    let x = ran.body["id"].as_str().ok_or_else(|| format!("exchange {n}: {} {}", ran.status, ran.text))?.to_owned();
    let path = "/api/v1/labs/udp-datagrams/steps/no-handshake/check";
    let step = api.post(path, As::Cookie(&cookie), json!({"exchanges": [x], "answers": {}})).await;
    if step.status != 200 || step.body["passed"] != true {
        return Err(format!("step {n}: {} {}", step.status, step.text));
    }
    Ok((joined.body["student"]["id"].as_str().unwrap().to_owned(), port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_on_one_instance_sees_students_served_by_the_other() {
    let pg = tokio::task::spawn_blocking(support::postgres::Postgres::start).await.unwrap();
    let url = pg.database("class_scale");
    // Sixty students from one address join and run exchanges within seconds: the limits per
    // address are raised, as an operator of a class behind one NAT would (tests/scale.rs
    // covers the default limits).
    let flags = [
        "--database",
        url.as_str(),
        "--trusted-proxies",
        "127.0.0.1",
        "--rate-per-sec",
        "10000",
        "--burst",
        "10000",
        "--rate-per-ip",
        "10000",
        "--burst-per-ip",
        "10000",
    ];
    let (a, http_a, _) = serve_with(&flags, &[]);
    let (b, http_b, _) = serve_with(&flags, &[]);
    let nginx = Nginx::start("class", &http_a, &http_b);
    let (front, direct_a, direct_b) = (nginx.url(), format!("http://{http_a}"), format!("http://{http_b}"));
    let c = reqwest::Client::new();
    let (port_a, port_b) = (udp_port(&c, &direct_a, "").await, udp_port(&c, &direct_b, "").await);

    let out = support::socketlab().args(["class", "create", "Scale-out 101", "--database", &url]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).unwrap().trim().to_owned();
    let (code, class, link) = (field("join code:"), field("class id:"), field("instructor link:"));
    let secret = link.split("#key=").nth(1).unwrap().to_owned();

    let on_b = Api::new(&direct_b);
    let mut events = on_b.events(&class, &secret).await;
    // A dashboard through nginx (the response tells nginx not to buffer it) gets them too.
    let mut proxied = Api::new(&front).events(&class, &secret).await;

    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..STUDENTS {
        tasks.spawn(student(front.clone(), code.clone(), n));
    }
    let mut served: Vec<(String, u64)> = Vec::new();
    while let Some(done) = tasks.join_next().await {
        served.push(done.unwrap().unwrap_or_else(|e| panic!("a student failed: {e}")));
    }
    let by_a: BTreeSet<&str> = served.iter().filter(|(_, p)| *p == port_a).map(|(id, _)| id.as_str()).collect();
    let by_b = served.iter().filter(|(_, p)| *p == port_b).count();
    assert_eq!(by_a.len() + by_b, STUDENTS, "every student was served by A or B");
    assert!(!by_a.is_empty() && by_b > 0, "nginx spread the students over both: {} on A", by_a.len());

    // B's stream sees every student's progress, A's included, each once.
    let progress = events.collect("progress", STUDENTS).await;
    let seen: BTreeSet<&str> = progress.iter().map(|e| e["student"].as_str().unwrap()).collect();
    assert_eq!(seen.len(), STUDENTS, "each student's step arrived once");
    assert!(by_a.is_subset(&seen), "B's dashboard saw the students A served");
    assert!(progress.iter().all(|e| e["lab"] == "udp-datagrams" && e["step"] == "no-handshake"));
    assert_eq!(proxied.collect("progress", STUDENTS).await.len(), STUDENTS, "through nginx too");

    // Both instances export the same grades.
    let csv = |api: Api| {
        let secret = secret.clone();
        let class = class.clone();
        async move { api.get(&format!("/api/v1/classes/{class}/grades.csv"), As::Bearer(&secret)).await.text }
    };
    let (from_a, from_b) = (csv(Api::new(&direct_a)).await, csv(Api::new(&direct_b)).await);
    assert_eq!(from_a, from_b);
    let rows: Vec<&str> = from_a.split("\r\n").filter(|l| !l.is_empty()).skip(1).collect();
    assert_eq!(rows.len(), STUDENTS);
    let dash: Value = on_b.get(&format!("/api/v1/classes/{class}"), As::Bearer(&secret)).await.body;
    assert!(
        dash["students"].as_array().unwrap().iter().all(|s| s["progress"]["udp-datagrams"] == json!(["no-handshake"]))
    );

    // The database drops the instances' listening connections: they listen again, and B's
    // dashboard sees A's next students. Students join on A until one is seen (a few tries:
    // events sent while nobody listened are missed).
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let cut: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(cut.len() >= 2, "both instances were listening: {cut:?}");
    let on_a = Api::new(&direct_a);
    let mut seen_again = false;
    for n in 0..20 {
        let name = format!("late {n}");
        assert_eq!(on_a.join(&code, &name).await.status, 200);
        if let Ok(got) = tokio::time::timeout(std::time::Duration::from_millis(500), events.collect("joined", 1)).await
        {
            if got[0]["name"] == name.as_str() {
                seen_again = true;
                break;
            }
        }
    }
    assert!(seen_again, "B's dashboard hears A again after the database cut its listener");
    pool.close().await;
    drop(nginx);
    drop((a, b));
}
