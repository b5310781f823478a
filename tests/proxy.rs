//! Behind a reverse proxy: with `--trusted-proxies`, the limits count the client's address from
//! `X-Forwarded-For`, or `Forwarded` with `--forwarded-header forwarded` (never both); without
//! it (or from an unlisted peer) the headers are ignored, so nobody can pick their own address.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::json;
use support::gateway::start;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// POSTs an exchange claiming to come from `from`; returns the status.
async fn exchange_from(c: &reqwest::Client, base: &str, header: &str, from: &str) -> u16 {
    let r = c
        .post(format!("{base}/api/v1/exchanges"))
        .header(header, from)
        .json(&json!({"protocol": "udp", "message": "hi", "trace": false}))
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

#[tokio::test]
async fn the_rate_limit_counts_the_forwarded_client_only_from_a_listed_proxy() {
    let c = reqwest::Client::new();
    let tight = |cfg: &mut socketlab::config::Config| {
        cfg.limits.rate_per_sec = 1;
        cfg.limits.burst = 2;
    };
    let g = start(|cfg| {
        tight(cfg);
        cfg.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let base = g.url("");
    let xff = "x-forwarded-for";
    assert_eq!(exchange_from(&c, &base, xff, "198.51.100.1").await, 200);
    assert_eq!(exchange_from(&c, &base, xff, "198.51.100.1").await, 200);
    assert_eq!(exchange_from(&c, &base, xff, "198.51.100.1").await, 429, "the first client's bucket is empty");
    assert_eq!(exchange_from(&c, &base, xff, "198.51.100.2").await, 200, "another client behind the proxy");
    assert_eq!(exchange_from(&c, &base, xff, "198.51.100.1, 198.51.100.3").await, 200, "the nearest hop counts");
    // The header not named is the client's word: these all count as the proxy's own address.
    assert_eq!(exchange_from(&c, &base, "forwarded", "for=198.51.100.4").await, 200);
    assert_eq!(exchange_from(&c, &base, "forwarded", "for=198.51.100.5").await, 200);
    assert_eq!(exchange_from(&c, &base, "forwarded", "for=198.51.100.6").await, 429, "Forwarded is not read");
    g.stop().await;

    // With `Forwarded` named, it is read, and X-Forwarded-For is not.
    let g = start(|cfg| {
        tight(cfg);
        cfg.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        cfg.forwarded_header = socketlab::gateway::proxy::ForwardedHeader::Forwarded;
    })
    .await;
    let base = g.url("");
    assert_eq!(exchange_from(&c, &base, "forwarded", "for=198.51.100.2").await, 200);
    assert_eq!(exchange_from(&c, &base, "forwarded", "for=\"198.51.100.2:5555\"").await, 200);
    assert_eq!(exchange_from(&c, &base, "forwarded", "for=198.51.100.2").await, 429, "the same client");
    assert_eq!(exchange_from(&c, &base, "forwarded", "for=198.51.100.3").await, 200, "another client");
    assert_eq!(exchange_from(&c, &base, xff, "198.51.100.7").await, 200);
    assert_eq!(exchange_from(&c, &base, xff, "198.51.100.8").await, 200);
    assert_eq!(exchange_from(&c, &base, xff, "198.51.100.9").await, 429, "X-Forwarded-For is not read");
    g.stop().await;

    // Without the setting, the header is the client's word and changes nothing.
    let g = start(tight).await;
    let base = g.url("");
    assert_eq!(exchange_from(&c, &base, xff, "198.51.100.1").await, 200);
    assert_eq!(exchange_from(&c, &base, xff, "198.51.100.2").await, 200);
    assert_eq!(exchange_from(&c, &base, xff, "198.51.100.3").await, 429, "one address, whatever it claims");
    g.stop().await;
}

#[tokio::test]
async fn the_websocket_cap_counts_the_forwarded_client() {
    let g = start(|cfg| {
        cfg.limits.max_connections_per_ip = 1;
        cfg.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let open = |from: &'static str| {
        let mut req = format!("ws://{}/api/v1/ws", g.http).into_client_request().unwrap();
        req.headers_mut().insert("x-forwarded-for", from.parse().unwrap());
        tokio_tungstenite::connect_async(req)
    };
    let (_first, _) = open("198.51.100.1").await.unwrap();
    let (_second, _) = open("198.51.100.2").await.expect("another client behind the same proxy");
    let refused = open("198.51.100.1").await.expect_err("the first client's cap is reached");
    let tokio_tungstenite::tungstenite::Error::Http(r) = refused else { panic!("{refused:?}") };
    assert_eq!(r.status(), 429);
    g.stop().await;
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_a_listed_proxy_says_https() {
    let c = reqwest::Client::new();
    let cookie = |r: &reqwest::Response| {
        let set = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned());
        set.into_iter().find(|v| v.starts_with("socketlab_session=")).expect("a session cookie")
    };
    let g = start(|cfg| cfg.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    let page = c.get(g.url("/")).header("x-forwarded-proto", "https").send().await.unwrap();
    assert!(cookie(&page).ends_with("; Secure"), "{}", cookie(&page));
    let page = c.get(g.url("/")).header("x-forwarded-proto", "http").send().await.unwrap();
    assert!(!cookie(&page).contains("Secure"), "{}", cookie(&page));
    let page = c.get(g.url("/")).header("forwarded", "for=198.51.100.1;proto=https").send().await.unwrap();
    assert!(!cookie(&page).contains("Secure"), "Forwarded is not read: {}", cookie(&page));
    g.stop().await;
    let g = start(|cfg| {
        cfg.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        cfg.forwarded_header = socketlab::gateway::proxy::ForwardedHeader::Forwarded;
    })
    .await;
    let mut req = format!("ws://{}/api/v1/ws", g.http).into_client_request().unwrap();
    req.headers_mut().insert("forwarded", "for=198.51.100.1;proto=https".parse().unwrap());
    let (_ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    let set = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(set.starts_with("socketlab_session=") && set.ends_with("; Secure"), "{set}");
    let page = c.get(g.url("/")).header("x-forwarded-proto", "https").send().await.unwrap();
    assert!(!cookie(&page).contains("Secure"), "X-Forwarded-Proto is not read: {}", cookie(&page));
    g.stop().await;

    // From a peer that is not a listed proxy, the header is the client's word.
    let g = start(|_| {}).await;
    let page = c.get(g.url("/")).header("x-forwarded-proto", "https").send().await.unwrap();
    assert!(!cookie(&page).contains("Secure"), "{}", cookie(&page));
    g.stop().await;
}
