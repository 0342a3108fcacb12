//! Browser sign-in over HTTPS (issue #13): the key cookie is `Secure` when the server
//! serves HTTPS itself, signed-in pages carry a sign-out button, and signing out clears
//! the cookie.

use crate::helpers::{TestServer, TEST_KEY};

#[tokio::test]
async fn over_https_the_cookie_is_secure_and_pages_offer_sign_out() {
    let tls = crate::helpers::TlsFiles::localhost();
    let server = TestServer::start_with(|c| {
        c.tls_cert = Some(tls.cert_path.clone());
        c.tls_key = Some(tls.key_path.clone());
        c.read_auth = Some("key".into());
    })
    .await;
    let root = reqwest::Certificate::from_pem(tls.cert.cert.pem().as_bytes()).expect("root");
    let http = reqwest::Client::builder()
        .add_root_certificate(root)
        .resolve("localhost", server.addr)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let url = format!("https://localhost:{}", server.addr.port());

    let r = http
        .post(format!("{url}/signin"))
        .form(&[("key", TEST_KEY), ("next", "/")])
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
    let pair = cookie.split(';').next().expect("pair").to_string();

    let page = http
        .get(format!("{url}/"))
        .header("cookie", &pair)
        .send()
        .await
        .expect("dashboard")
        .text()
        .await
        .expect("text");
    assert!(
        page.contains(r#"action="/signout""#),
        "no sign-out on the page"
    );

    let r = http
        .post(format!("{url}/signout"))
        .header("cookie", &pair)
        .send()
        .await
        .expect("sign out");
    assert_eq!(r.status(), 303);
    let cleared = r.headers()["set-cookie"].to_str().expect("ascii");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // Without the cookie the pages ask for a key again.
    let r = http.get(format!("{url}/")).send().await.expect("page");
    assert_eq!(r.status(), 401);
}
