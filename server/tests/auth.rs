//! Sign-in and security end to end, against the real binary: every route refuses
//! strangers, sessions outlive restarts, guessing slows down per address, API tokens
//! can be revoked, cross-site requests bounce, and secrets never hit disk or logs.

mod common;

use common::{routes, server_fn_path, Captain, PASSWORD, SESSION_COOKIE};
use testbed::http::Request;
use testbed::{ensure_swarm_engine, http::Response};

fn engine() {
    ensure_swarm_engine().unwrap();
}

async fn get_cluster(captain: &Captain, header: (&str, String)) -> Response {
    Request::new("GET", "/api/v1/cluster")
        .header(header.0, header.1)
        .send(&captain.address)
        .await
        .unwrap()
}

fn cookie(value: &str) -> (&'static str, String) {
    ("Cookie", format!("{SESSION_COOKIE}={value}"))
}

#[tokio::test]
async fn every_route_refuses_an_anonymous_request() {
    engine();
    let captain = Captain::start(&[]).unwrap();
    let all = routes();
    let guarded: Vec<_> = all
        .iter()
        .filter(|route| route["public"] == false)
        .collect();
    // The walk must cover pages, server functions and Captain's own API, or it proves nothing.
    assert!(
        guarded.len() >= 15,
        "only {} guarded routes: {all:?}",
        guarded.len()
    );
    for kind in [
        "/api/status/ws",
        "/api/v1/cluster",
        "/nodes",
        "/api/get_cluster_snapshot",
    ] {
        assert!(
            guarded
                .iter()
                .any(|r| r["path"].as_str().unwrap().starts_with(kind)),
            "{kind} not walked"
        );
    }
    for route in guarded {
        let method = route["method"].as_str().unwrap();
        let path = route["path"]
            .as_str()
            .unwrap()
            .replace("{", "x")
            .replace("}", "");
        // Same origin, so it is the missing identity that refuses, not the CSRF check.
        let as_script = captain
            .request(method, &path)
            .header("Accept", "application/json")
            .send(&captain.address)
            .await
            .unwrap();
        assert_eq!(
            as_script.status, 401,
            "{method} {path} answered {as_script:?}"
        );
        let as_browser = captain
            .request(method, &path)
            .header("Accept", "text/html")
            .send(&captain.address)
            .await
            .unwrap();
        assert!(
            matches!(as_browser.status, 303 | 401),
            "{method} {path} answered {as_browser:?}"
        );
        if as_browser.status == 303 {
            assert!(
                as_browser.header("location").unwrap().starts_with("/login"),
                "{as_browser:?}"
            );
        }
    }
    // Paths nobody registered are behind the same gate.
    let unknown = Request::new("GET", "/no/such/page")
        .send(&captain.address)
        .await
        .unwrap();
    assert_eq!(unknown.status, 401);
    // And an anonymous websocket upgrade is refused.
    assert!(captain
        .status_client_with(&[("Origin", captain.origin())])
        .await
        .is_err());
}

#[tokio::test]
async fn a_first_start_asks_for_a_password_and_accepts_it_only_once() {
    engine();
    let captain = Captain::start_in(tempfile::tempdir().unwrap(), &[]).unwrap();
    let page = Request::new("GET", "/nodes")
        .header("Accept", "text/html")
        .send(&captain.address)
        .await
        .unwrap();
    assert_eq!(
        (page.status, page.header("location")),
        (303, Some("/setup"))
    );
    let setup = server_fn_path("set_up_password");
    let short = captain
        .request("POST", setup)
        .form(&[("password", "short"), ("confirm", "short")])
        .send(&captain.address)
        .await
        .unwrap();
    assert!(short.body.contains("at least"), "{short:?}");
    let first = captain
        .request("POST", setup)
        .form(&[("password", PASSWORD), ("confirm", PASSWORD)])
        .send(&captain.address)
        .await
        .unwrap();
    let session = first
        .set_cookie(SESSION_COOKIE)
        .expect("setting the password signs in");
    assert_eq!(get_cluster(&captain, cookie(&session)).await.status, 200);
    let again = captain
        .request("POST", setup)
        .form(&[
            ("password", "another password 1"),
            ("confirm", "another password 1"),
        ])
        .send(&captain.address)
        .await
        .unwrap();
    assert!(again.body.contains("already set"), "{again:?}");
}

#[tokio::test]
async fn the_session_cookie_is_http_only_strict_and_survives_a_restart() {
    engine();
    let captain = Captain::start(&[]).unwrap();
    let response = captain.call_sign_in(PASSWORD, None).await.unwrap();
    let set_cookie = response.header("set-cookie").unwrap().to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    assert!(
        !set_cookie.contains("Secure"),
        "plain HTTP on localhost must not set Secure"
    );
    let session = response.set_cookie(SESSION_COOKIE).unwrap();

    let data_dir = captain.stop();
    let restarted = Captain::start_in(data_dir, &[]).unwrap();
    assert_eq!(get_cluster(&restarted, cookie(&session)).await.status, 200);

    let behind_tls = Request::new("POST", server_fn_path("sign_in"))
        .header("Origin", restarted.origin())
        .header("X-Forwarded-Proto", "https")
        .form(&[("password", PASSWORD)])
        .send(&restarted.address)
        .await
        .unwrap();
    assert!(behind_tls.header("set-cookie").unwrap().contains("Secure"));
}

#[tokio::test]
async fn changing_the_password_ends_every_other_session() {
    engine();
    let captain = Captain::start(&[]).unwrap();
    let mine = captain.sign_in().await.unwrap();
    let other = captain.sign_in().await.unwrap();
    let new = "a brand new password";
    let changed = captain
        .call(
            &mine,
            "change_password",
            &[("current", PASSWORD), ("new", new), ("confirm", new)],
        )
        .await
        .unwrap();
    assert_eq!(changed.status, 200, "{changed:?}");
    assert_eq!(get_cluster(&captain, cookie(&mine)).await.status, 200);
    assert_eq!(get_cluster(&captain, cookie(&other)).await.status, 401);
    assert!(captain
        .call_sign_in(PASSWORD, None)
        .await
        .unwrap()
        .set_cookie(SESSION_COOKIE)
        .is_none());
    assert!(captain
        .call_sign_in(new, None)
        .await
        .unwrap()
        .set_cookie(SESSION_COOKIE)
        .is_some());
}

#[tokio::test]
async fn wrong_passwords_slow_down_per_client_address() {
    engine();
    let captain = Captain::start(&[]).unwrap();
    for _ in 0..3 {
        let wrong = captain
            .call_sign_in("not the password", Some("127.0.0.1"))
            .await
            .unwrap();
        assert!(wrong.body.contains("wrong password"), "{wrong:?}");
    }
    let throttled = captain
        .call_sign_in("not the password", Some("127.0.0.1"))
        .await
        .unwrap();
    assert!(throttled.body.contains("try again in"), "{throttled:?}");
    let right_but_throttled = captain
        .call_sign_in(PASSWORD, Some("127.0.0.1"))
        .await
        .unwrap();
    assert!(
        right_but_throttled.body.contains("try again in"),
        "{right_but_throttled:?}"
    );
    assert!(right_but_throttled.set_cookie(SESSION_COOKIE).is_none());
    let elsewhere = captain
        .call_sign_in(PASSWORD, Some("127.0.0.2"))
        .await
        .unwrap();
    assert!(
        elsewhere.set_cookie(SESSION_COOKIE).is_some(),
        "another address must not be blocked: {elsewhere:?}"
    );
}

#[tokio::test]
async fn an_api_token_works_for_the_http_api_until_revoked() {
    engine();
    let captain = Captain::start(&[]).unwrap();
    let session = captain.sign_in().await.unwrap();
    let created = captain
        .call(&session, "create_api_token", &[("name", "ci")])
        .await
        .unwrap();
    let created: serde_json::Value = serde_json::from_str(&created.body).unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["info"]["id"].as_str().unwrap().to_owned();
    let bearer = ("Authorization", format!("Bearer {token}"));

    let cluster = get_cluster(&captain, bearer.clone()).await;
    assert_eq!(cluster.status, 200);
    assert!(cluster.body.contains("\"nodes\""));
    // Scripts can follow live status too, without an Origin (no cookie is involved).
    captain
        .status_client_with(&[("Authorization", bearer.1.clone())])
        .await
        .unwrap();

    let listed = captain
        .call(&session, "list_api_tokens", &[])
        .await
        .unwrap();
    assert!(
        listed.body.contains("\"ci\"") && !listed.body.contains(&token),
        "{listed:?}"
    );
    assert!(
        listed.body.contains("last_used_at\":1") || listed.body.contains("last_used_at\":2"),
        "{listed:?}"
    );

    captain
        .call(&session, "revoke_api_token", &[("id", &id)])
        .await
        .unwrap();
    assert_eq!(get_cluster(&captain, bearer).await.status, 401);
}

#[tokio::test]
async fn a_cross_origin_post_to_a_server_function_is_refused() {
    engine();
    let captain = Captain::start(&[]).unwrap();
    let session = captain.sign_in().await.unwrap();
    let path = server_fn_path("create_api_token");
    for origin in [Some("http://evil.example"), None] {
        let mut request =
            Request::new("POST", path).header("Cookie", format!("{SESSION_COOKIE}={session}"));
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        let response = request
            .form(&[("name", "stolen")])
            .send(&captain.address)
            .await
            .unwrap();
        assert_eq!(response.status, 403, "origin {origin:?}: {response:?}");
    }
    let listed = captain
        .call(&session, "list_api_tokens", &[])
        .await
        .unwrap();
    assert!(
        !listed.body.contains("stolen"),
        "the cross-site request took effect"
    );
    // Logging in from another site is refused too (login CSRF).
    let forged = Request::new("POST", server_fn_path("sign_in"))
        .header("Origin", "http://evil.example")
        .form(&[("password", PASSWORD)])
        .send(&captain.address)
        .await
        .unwrap();
    assert_eq!(forged.status, 403);
    // A cross-site websocket cannot ride the cookie either.
    let hijack = captain
        .status_client_with(&[
            cookie(&session),
            ("Origin", "http://evil.example".to_owned()),
        ])
        .await;
    assert!(hijack.is_err());
}

#[tokio::test]
async fn secrets_never_appear_in_the_database_or_the_log() {
    engine();
    let captain = Captain::start(&[]).unwrap();
    let session = captain.sign_in().await.unwrap();
    let created = captain
        .call(&session, "create_api_token", &[("name", "deploy")])
        .await
        .unwrap();
    let token: serde_json::Value = serde_json::from_str(&created.body).unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    get_cluster(&captain, ("Authorization", format!("Bearer {token}"))).await;
    let wrong = "a-wrong-guess-123";
    captain.call_sign_in(wrong, None).await.unwrap();
    let log = captain.log();
    assert!(log.contains("signed in"), "the log was not captured: {log}");
    let data_dir = captain.stop();
    let mut files = vec![("log".to_owned(), log)];
    for entry in std::fs::read_dir(data_dir.path()).unwrap() {
        let path = entry.unwrap().path();
        files.push((
            path.display().to_string(),
            String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned(),
        ));
    }
    for (name, content) in files {
        for secret in [PASSWORD, session.as_str(), token.as_str(), wrong] {
            assert!(
                !content.contains(secret),
                "{name} contains a secret ({secret})"
            );
        }
    }
}

#[tokio::test]
async fn oversized_input_gets_a_clear_refusal() {
    engine();
    let captain = Captain::start(&[]).unwrap();
    // Announce a 2 MiB body and send none of it: the server must refuse from the header
    // alone (reading megabytes first would be the attack), and a client that waits gets
    // the answer instead of a reset halfway through its upload.
    let too_big =
        oversized_request(&captain.address, server_fn_path("sign_in"), 2 * 1024 * 1024).await;
    assert!(too_big.starts_with("HTTP/1.1 413"), "{too_big}");
    let session = captain.sign_in().await.unwrap();
    let long_name = "n".repeat(65);
    let refused = captain
        .call(&session, "create_api_token", &[("name", &long_name)])
        .await
        .unwrap();
    assert!(refused.body.contains("at most 64"), "{refused:?}");
    let bad_id = captain
        .call(
            &session,
            "revoke_api_token",
            &[("id", "'; DROP TABLE api_tokens; --")],
        )
        .await
        .unwrap();
    assert!(bad_id.body.contains("not a Captain ID"), "{bad_id:?}");
    let long_password = "p".repeat(2000);
    let refused = captain
        .call(
            &session,
            "change_password",
            &[
                ("current", PASSWORD),
                ("new", &long_password),
                ("confirm", &long_password),
            ],
        )
        .await
        .unwrap();
    assert!(refused.body.contains("at most 1024 bytes"), "{refused:?}");
}

async fn oversized_request(address: &str, path: &str, declared: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nOrigin: http://{address}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {declared}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = vec![0u8; 4096];
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read(&mut response),
    )
    .await
    .expect("an answer before the body arrives")
    .unwrap();
    String::from_utf8_lossy(&response[..read]).into_owned()
}
