//! The edge store against a real SQLite file: custom domains, HTTPS switches, and which
//! certificates reach the proxy.

use super::*;
use crate::apps::AppStore;
use crate::secrets::SecretBox;
use types::AppSpec;

struct Fixture {
    edge: EdgeStore,
    apps: AppStore,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let secrets = SecretStore::new(
        store.clone(),
        SecretBox::open_or_create(&dir.path().join("key")).unwrap(),
    );
    let apps = AppStore::new(store.clone());
    for name in ["shop", "blog"] {
        apps.create(name, AppSpec::default()).unwrap();
    }
    Fixture {
        edge: EdgeStore::new(store, secrets, "captain.test"),
        apps,
        _dir: dir,
    }
}

#[test]
fn custom_domains_are_normalised_unique_and_kept_off_app_names() {
    let f = fixture();
    f.edge.add_custom("shop", " WWW.Shop.Example. ").unwrap();
    assert_eq!(
        f.edge.domains_of("shop").unwrap(),
        vec![
            ("shop.captain.test".to_owned(), false),
            ("www.shop.example".to_owned(), true)
        ]
    );
    let taken = f.edge.add_custom("blog", "www.shop.example").unwrap_err();
    assert!(
        taken.to_string().contains("already served by the app shop"),
        "{taken}"
    );
    let default_name = f.edge.add_custom("blog", "shop.captain.test").unwrap_err();
    assert!(default_name.to_string().contains("shop"), "{default_name}");
    let under_root = f
        .edge
        .add_custom("blog", "future.captain.test")
        .unwrap_err();
    assert!(
        under_root.to_string().contains("apps' own names"),
        "{under_root}"
    );
    for bad in [
        "http://x.com",
        "no_dots",
        "a..b.com",
        "-a.com",
        "x.com/path",
    ] {
        assert!(
            f.edge.add_custom("blog", bad).is_err(),
            "{bad} was accepted"
        );
    }
    assert!(matches!(
        f.edge.add_custom("nope", "a.example.com"),
        Err(EdgeError::NoApp(_))
    ));
    assert_eq!(
        f.edge.owner_of("www.shop.example").unwrap().as_deref(),
        Some("shop")
    );
    f.edge.remove_custom("shop", "www.shop.example").unwrap();
    assert!(f.edge.remove_custom("shop", "www.shop.example").is_err());
}

#[test]
fn only_https_apps_with_certificates_are_served_and_forced() {
    let f = fixture();
    f.edge.set_https("shop", false, true).unwrap();
    assert_eq!(
        f.edge.https_of("shop").unwrap(),
        (false, false),
        "force needs https"
    );
    f.edge.set_https("shop", true, true).unwrap();
    let (served, forced) = f.edge.served().unwrap();
    assert!(served.is_empty() && forced.is_empty(), "no certificate yet");
    assert_eq!(
        f.edge.wanting_certificates(3600).unwrap(),
        vec![("shop".to_owned(), "shop.captain.test".to_owned())]
    );
    let far = crate::auth::now_unix() + 90 * 24 * 3600;
    let key = Secret::new("-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----");
    f.edge
        .record_certificate("shop.captain.test", "CHAIN", &key, far)
        .unwrap();
    let (served, forced) = f.edge.served().unwrap();
    assert_eq!(served.len(), 1);
    assert_eq!(served[0].key.expose(), key.expose());
    assert_eq!(forced, vec!["shop.captain.test".to_owned()]);
    assert!(f.edge.wanting_certificates(3600).unwrap().is_empty());
    assert_eq!(
        f.edge.wanting_certificates(100 * 24 * 3600).unwrap().len(),
        1
    );
    // A failed renewal is shown but keeps the certificate being served.
    f.edge
        .record_problem("shop.captain.test", "rate limited")
        .unwrap();
    let edge = f.edge.app_edge("shop", 80, 443).unwrap();
    assert!(edge.domains[0].certificate.is_some());
    assert_eq!(edge.domains[0].problem.as_deref(), Some("rate limited"));
    assert_eq!(edge.url_for(&edge.domains[0]), "https://shop.captain.test/");
}

#[test]
fn deleting_an_app_lets_its_certificates_be_pruned() {
    let f = fixture();
    f.edge.add_custom("blog", "blog.example.org").unwrap();
    let key = Secret::new("k");
    f.edge
        .record_certificate("blog.example.org", "CHAIN", &key, 1)
        .unwrap();
    assert_eq!(f.edge.prune().unwrap(), 0);
    f.apps.delete("blog", false).unwrap();
    assert_eq!(f.edge.prune().unwrap(), 1);
    assert_eq!(
        f.edge.certificate_info("blog.example.org").unwrap(),
        (None, None)
    );
}
