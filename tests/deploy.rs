//! The repository's `deploy/socketlab.conf` in a real nginx from Debian's packages, in front of
//! two `socketlab serve` instances sharing a real PostgreSQL, all on loopback: browsers keep an
//! instance by cookie (not by address), WebSockets pass, a save made through one instance is
//! read through the other, and when an instance dies its browsers move to the survivor. A full
//! instance answers 503 at once, and nginx takes the WebSocket to the other without ejecting
//! the full instance from its browsers' REST requests. A client cannot
//! name its own address in `Forwarded` or `X-Forwarded-For` to escape the cap per address.
//! A resume link, a student's credential, never reaches nginx's access log.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::gateway::{Ws, collect, recv, send};
use support::nginx::{Nginx, udp_port, visit};
use support::serve_with;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_from_deploy_spreads_browsers_keeps_them_and_fails_over() {
    let pg = tokio::task::spawn_blocking(support::postgres::Postgres::start).await.unwrap();
    let url = pg.database("deploy");
    let flags = ["--database", url.as_str(), "--trusted-proxies", "127.0.0.1"];
    let (a, http_a, _) = serve_with(&flags, &[]);
    let (b, http_b, _) = serve_with(&flags, &[]);
    let nginx = Nginx::start("deploy", &http_a, &http_b);
    let (front, direct_a, direct_b) = (nginx.url(), format!("http://{http_a}"), format!("http://{http_b}"));
    let c = reqwest::Client::new();
    let (port_a, port_b) = (udp_port(&c, &direct_a, "").await, udp_port(&c, &direct_b, "").await);

    // Browsers from one address are spread over both instances by their cookies.
    let mut seen = std::collections::BTreeSet::new();
    let mut cookies = Vec::new();
    for _ in 0..16 {
        let cookie = visit(&c, &front).await;
        seen.insert(udp_port(&c, &front, &cookie).await);
        cookies.push(cookie);
    }
    assert_eq!(seen, [port_a, port_b].into_iter().collect(), "both instances serve browsers from one address");

    // A browser keeps its instance: a REST exchange and its save land on the same one.
    let cookie = cookies[0].clone();
    let home = udp_port(&c, &front, &cookie).await;
    for _ in 0..5 {
        assert_eq!(udp_port(&c, &front, &cookie).await, home, "the cookie keeps the instance");
    }
    let ran: Value = c
        .post(format!("{front}/api/v1/exchanges"))
        .header("cookie", &cookie)
        .json(&json!({"protocol": "tcp", "message": "through nginx"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ran["reply"], "THROUGH NGINX");
    let saved = c
        .post(format!("{front}/api/v1/saved"))
        .header("cookie", &cookie)
        .json(&json!({"exchange": ran["id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 201);
    let link: Value = saved.json().await.unwrap();
    for direct in [&direct_a, &direct_b] {
        let r = c.get(format!("{direct}/api/v1/saved/{}", link["id"].as_str().unwrap())).send().await.unwrap();
        assert_eq!(r.status(), 200, "readable on every instance: {direct}");
    }

    // A WebSocket through nginx runs an exchange.
    let mut req = format!("ws://{}/api/v1/ws", front.trim_start_matches("http://")).into_client_request().unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    let (mut ws, _): (Ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(recv(&mut ws).await["type"], "hello");
    send(&mut ws, json!({"type": "exchange", "id": "n1", "protocol": "udp", "message": "over nginx"})).await;
    let (_, end) = collect(&mut ws, "n1").await;
    assert_eq!((end["type"].as_str(), end["reply"].as_str()), (Some("reply"), Some("OVER NGINX")), "{end}");
    drop(ws);

    // The instance dies: its browsers move to the survivor, and what was saved is still there.
    let (dead, survivor) = if home == port_a { (a, port_b) } else { (b, port_a) };
    drop(dead);
    assert_eq!(udp_port(&c, &front, &cookie).await, survivor, "moved to the survivor");
    let r = c
        .get(format!("{front}/api/v1/saved/{}", link["id"].as_str().unwrap()))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(nginx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_instance_answers_503_and_nginx_sends_the_websocket_to_the_other() {
    let (a, http_a, _) = serve_with(&["--trusted-proxies", "127.0.0.1", "--max-connections", "1"], &[]);
    let (b, http_b, _) = serve_with(&["--trusted-proxies", "127.0.0.1"], &[]);
    let nginx = Nginx::start("full", &http_a, &http_b);
    let c = reqwest::Client::new();
    let port_a = udp_port(&c, &format!("http://{http_a}"), "").await;
    let port_b = udp_port(&c, &format!("http://{http_b}"), "").await;
    // Two browsers whose cookies lead to the instance that holds one WebSocket at most.
    let mut on_a = Vec::new();
    for _ in 0..64 {
        let cookie = visit(&c, &nginx.url()).await;
        if udp_port(&c, &nginx.url(), &cookie).await == port_a {
            on_a.push(cookie);
        }
        if on_a.len() == 2 {
            break;
        }
    }
    assert_eq!(on_a.len(), 2, "no two of 64 browsers were sent to {http_a}");
    let ws_to = |cookie: &str| {
        let mut req = format!("ws://{}/api/v1/ws", nginx.addr).into_client_request().unwrap();
        req.headers_mut().insert("cookie", cookie.parse().unwrap());
        req
    };
    let (mut first, _) = tokio_tungstenite::connect_async(ws_to(&on_a[0])).await.unwrap();
    assert_eq!(recv(&mut first).await["servers"][0]["port"], port_a, "the first fills its instance");
    // Full, that instance answers the second upgrade 503 at once, and nginx tries the other.
    let direct =
        c.get(format!("http://{http_a}/api/v1/ws")).header("connection", "upgrade").header("upgrade", "websocket");
    let direct = direct.header("sec-websocket-version", "13").header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    let refused = direct.send().await.unwrap();
    assert_eq!((refused.status().as_u16(), refused.headers()["retry-after"].to_str().unwrap()), (503, "2"));
    assert_eq!(refused.json::<Value>().await.unwrap()["error"]["code"], "gateway_full");
    let (mut second, _) = tokio_tungstenite::connect_async(ws_to(&on_a[1])).await.unwrap();
    assert_eq!(recv(&mut second).await["servers"][0]["port"], port_b, "served by the other instance");
    send(&mut second, json!({"type": "exchange", "id": "s", "protocol": "udp", "message": "elsewhere"})).await;
    assert_eq!(collect(&mut second, "s").await.1["reply"], "ELSEWHERE");
    // That one 503 did not eject the full instance: its browsers' REST requests stay there
    // (their exchanges and saves are kept there), and a REST 503 is not retried elsewhere.
    for cookie in &on_a {
        assert_eq!(udp_port(&c, &nginx.url(), cookie).await, port_a, "still served by {http_a}");
    }
    drop((first, second, nginx, a, b));
}

/// Opens a WebSocket through nginx from the local address `from` (any 127.x is loopback),
/// writing forged forwarding headers; the status of the upgrade's answer.
async fn upgrade_from(nginx: &Nginx, from: [u8; 4], cookie: &str, forged: &str) -> (u16, Option<Ws2>) {
    let mut req = format!("ws://{}/api/v1/ws", nginx.addr).into_client_request().unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    req.headers_mut().insert("forwarded", format!("for={forged};proto=https").parse().unwrap());
    req.headers_mut().insert("x-forwarded-for", forged.parse().unwrap());
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((std::net::Ipv4Addr::from(from), 0).into()).unwrap();
    let stream = socket.connect(nginx.addr.parse().unwrap()).await.unwrap();
    match tokio_tungstenite::client_async(req, stream).await {
        Ok((ws, resp)) => (resp.status().as_u16(), Some(ws)),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => (r.status().as_u16(), None),
        Err(e) => panic!("{e:?}"),
    }
}

type Ws2 = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_behind_nginx_cannot_pick_its_own_address() {
    let flags = ["--trusted-proxies", "127.0.0.1", "--max-connections-per-ip", "1"];
    let (a, http_a, _) = serve_with(&flags, &[]);
    let (b, http_b, _) = serve_with(&flags, &[]);
    let nginx = Nginx::start("forged", &http_a, &http_b);
    // One cookie, so every upgrade below goes to one instance.
    let cookie = visit(&reqwest::Client::new(), &nginx.url()).await;
    let (status, first) = upgrade_from(&nginx, [127, 0, 0, 2], &cookie, "198.51.100.1").await;
    assert_eq!(status, 101, "the first WebSocket of 127.0.0.2");
    // Naming another address in Forwarded or X-Forwarded-For changes nothing: nginx drops the
    // one and appends the real peer to the other, and socketlab reads only the nearest hop.
    for forged in ["198.51.100.2", "10.9.8.7"] {
        let (status, _) = upgrade_from(&nginx, [127, 0, 0, 2], &cookie, forged).await;
        assert_eq!(status, 429, "{forged}: 127.0.0.2 holds its one WebSocket already");
    }
    let (status, other) = upgrade_from(&nginx, [127, 0, 0, 3], &cookie, "198.51.100.1").await;
    assert_eq!(status, 101, "another real address has its own cap");
    // Nor does a forged proto make the cookie Secure over plain HTTP.
    let c = reqwest::Client::builder().local_address(std::net::IpAddr::from([127, 0, 0, 2])).build().unwrap();
    let page = c.get(format!("{}/", nginx.url())).header("forwarded", "for=1.2.3.4;proto=https").send().await.unwrap();
    let set: Vec<_> = page.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    let session = set.iter().find(|v| v.starts_with("socketlab_session=")).expect("a session cookie");
    assert!(!session.contains("Secure"), "{session}");
    drop((first, other, nginx, a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_links_stay_out_of_the_access_log() {
    let (a, http_a, _) = serve_with(&[], &[]);
    let (b, http_b, _) = serve_with(&[], &[]);
    let nginx = Nginx::start("resume", &http_a, &http_b);
    let c = reqwest::Client::new();
    let link = c.get(format!("{}/resume/r.secretstudent.0.AAAA", nginx.url())).send().await.unwrap();
    assert_eq!(link.status(), 404, "no store, no student: but it went through nginx");
    assert_eq!(c.get(format!("{}/healthz", nginx.url())).send().await.unwrap().status(), 200);
    // nginx writes a request's line once it has answered; the healthz line shows it did.
    let deadline = std::time::Instant::now() + support::WAIT;
    while !nginx.access_log().contains("/healthz") {
        assert!(std::time::Instant::now() < deadline, "nginx logged nothing: {}", nginx.access_log());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!nginx.access_log().contains("secretstudent"), "{}", nginx.access_log());
    drop((nginx, a, b));
}
