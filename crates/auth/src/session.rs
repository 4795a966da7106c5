//! The dashboard's browser session: its login form puts the user's credential (a bearer token
//! or an API key) into an `HttpOnly`, `SameSite=Strict` cookie, which the HTTP admission turns
//! back into an `Authorization` header on every request.

use http::HeaderMap;

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
}
