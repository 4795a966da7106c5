//! The dashboard's browser session: its login form puts the user's credential (a bearer token
//! or an API key) into an `HttpOnly`, `SameSite=Strict` cookie, which the HTTP admission turns
//! back into an `Authorization` header on every request.

use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, StatusCode};

use crate::Authenticator;

/// Name of the session cookie.
pub const COOKIE: &str = "mom_session";

/// Returns the `Set-Cookie` value holding `credential` (a token or an API key; `secure` when
/// the dashboard is served over TLS), or `None` when it is not a plausible credential.
pub fn set_cookie(credential: &str, secure: bool) -> Option<String> {
    let credential = credential.trim();
    let valid = !credential.is_empty()
        && credential.len() <= 16 * 1024
        && credential
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.=+/".contains(&b));
    if !valid {
        return None;
    }
    let kind = if credential.starts_with(crate::apikey::KEY_PREFIX) {
        "k"
    } else {
        "t"
    };
    Some(format!(
        "{COOKIE}={kind}.{credential}; Path=/; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    ))
}

/// The `Set-Cookie` value that ends the session.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Returns the `Authorization` value of the session cookie in `headers`, if any.
pub fn credential(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            if name != COOKIE {
                return None;
            }
            match value.split_once('.')? {
                ("k", key) if !key.is_empty() => Some(format!("ApiKey {key}")),
                ("t", token) if !token.is_empty() => Some(format!("Bearer {token}")),
                _ => None,
            }
        })
}

/// The login and logout routes of a browser session (`/login`, `/logout`), checking a submitted
/// credential with `auth` before it is kept.
pub fn router(auth: Authenticator) -> axum::Router {
    axum::Router::new()
        .route("/login", axum::routing::get(login_page).post(login))
        .route("/logout", axum::routing::get(logout).post(logout))
        .with_state(auth)
}

async fn login_page() -> Response {
    page(StatusCode::OK, "")
}

async fn logout() -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, clear_cookie()),
            (header::LOCATION, "/login".to_owned()),
        ],
    )
        .into_response()
}

/// Checks the submitted credential (form field `credential`: a bearer token or an API key) and,
/// when it authenticates, keeps it in the session cookie and goes to the overview.
async fn login(
    axum::extract::State(auth): axum::extract::State<Authenticator>,
    request_headers: HeaderMap,
    body: String,
) -> Response {
    let credential = body
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "credential")
        .map(|(_, value)| percent_decode(value))
        .unwrap_or_default();
    let credential = credential.trim();
    let authorization = if credential.starts_with(crate::apikey::KEY_PREFIX) {
        format!("ApiKey {credential}")
    } else {
        format!("Bearer {credential}")
    };
    let mut headers = HeaderMap::new();
    let Ok(value) = authorization.parse() else {
        return page(
            StatusCode::UNAUTHORIZED,
            "That is not a token or an API key.",
        );
    };
    headers.insert(header::AUTHORIZATION, value);
    if let Err(err) = auth.authenticate(&headers, &http::Extensions::new()).await {
        return page(StatusCode::UNAUTHORIZED, &err.to_string());
    }
    // Secure cookies when the browser came over TLS (directly or through a proxy that says so).
    let secure = request_headers
        .get("x-forwarded-proto")
        .is_some_and(|proto| proto == "https");
    let Some(cookie) = set_cookie(credential, secure) else {
        return page(
            StatusCode::UNAUTHORIZED,
            "That is not a token or an API key.",
        );
    };
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, "/".to_owned()),
        ],
    )
        .into_response()
}

fn page(status: StatusCode, error: &str) -> Response {
    let error = error
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in · MOM</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}}\
input,button{{font-size:1rem;padding:.5rem;width:100%;box-sizing:border-box;margin:.25rem 0}}\
.error{{color:#b00020}}</style></head><body><h1>Sign in</h1>\
<p>Paste your access token (from the plant's identity provider) or your API key.</p>\
<form method=\"post\" action=\"/login\"><label for=\"credential\">Token or API key</label>\
<input id=\"credential\" name=\"credential\" type=\"password\" autocomplete=\"off\" required>\
<button id=\"sign-in\" type=\"submit\">Sign in</button></form>\
<p class=\"error\" id=\"error\">{error}</p></body></html>"
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space, `%XX` a byte).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' if index + 2 < bytes.len() => {
                let digit = |at: usize| char::from(bytes[at]).to_digit(16);
                match (digit(index + 1), digit(index + 2)) {
                    (Some(high), Some(low)) => {
                        out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                        index += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_round_trips_keys_and_tokens() {
        let cookie = set_cookie("mom_abc123", false).expect("valid");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        let mut headers = HeaderMap::new();
        let pair = cookie.split(';').next().expect("pair").to_owned();
        headers.insert(
            http::header::COOKIE,
            format!("other=1; {pair}").parse().expect("ascii"),
        );
        assert_eq!(credential(&headers).as_deref(), Some("ApiKey mom_abc123"));
        let cookie = set_cookie("eyJh.eyJz.sig", true).expect("valid");
        assert!(cookie.ends_with("; Secure"));
        let pair = cookie.split(';').next().expect("pair").to_owned();
        headers.insert(http::header::COOKIE, pair.parse().expect("ascii"));
        assert_eq!(
            credential(&headers).as_deref(),
            Some("Bearer eyJh.eyJz.sig")
        );
        assert_eq!(set_cookie("a b", false), None);
        assert_eq!(set_cookie("a;b", false), None);
    }

    #[test]
    fn form_values_are_decoded() {
        assert_eq!(percent_decode("mom_ab%2Bc+d"), "mom_ab+c d");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%é%"), "%é%");
    }
}
