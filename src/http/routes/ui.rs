use actix_web::http::header::ContentType;
use actix_web::{web, HttpResponse};

use crate::http::{ApiError, AppState};

/// Serves a plain landing page at `/`, or 404 when `SESAME_SHOW_WEB_UI=0`.
// TODO: replace with the interactive sign-in page (create, copy and revoke tokens).
pub async fn index(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if !state.show_web_ui {
        return Err(ApiError::RouteNotFound);
    }
    Ok(HttpResponse::Ok()
        .content_type(ContentType::html())
        .insert_header(("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"))
        .body(INDEX_HTML))
}

const INDEX_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Open Sesame</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5}code,pre{background:#f3f3f3;padding:.1rem .3rem}</style>
</head>
<body>
<h1>Open Sesame is running</h1>
<p>Get a token for your account, then send it as <code>Authorization: Bearer &lt;token&gt;</code>:</p>
<pre>curl -s -X POST -H 'Content-Type: application/json' \
  -d '{"username": "alice", "password": "..."}' \
  THIS_SERVER/api/users/create_token</pre>
<p>The token is shown once. Keep it secret; revoke it with <code>POST /api/users/revoke_token</code>.</p>
</body>
</html>
"#;
