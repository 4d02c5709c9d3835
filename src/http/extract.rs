//! Request extractors: the bearer token and JSON bodies with size limits and field-named errors.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::error::ApiError;
use crate::auth::{PlainToken, TokenDigest};

/// The token of an `Authorization: Bearer <token>` header. The scheme name is matched without
/// regard to case (RFC 9110, section 11.1).
#[derive(Debug)]
pub struct Bearer(PlainToken);

impl Bearer {
    /// Returns the token's digest, or [`ApiError::InvalidToken`] when the token cannot be one
    /// this server issued, which saves a database lookup.
    pub fn digest(&self) -> Result<TokenDigest, ApiError> {
        if self.0.is_well_formed() {
            Ok(self.0.digest())
        } else {
            Err(ApiError::InvalidToken)
        }
    }
}

impl FromRequest for Bearer {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(parse_bearer(request.headers().get(header::AUTHORIZATION)))
    }
}

fn parse_bearer(value: Option<&header::HeaderValue>) -> Result<Bearer, ApiError> {
    let value = value
        .and_then(|value| value.to_str().ok())
        .ok_or(ApiError::NotAuthenticated)?;
    let (scheme, credentials) = value.trim().split_once(' ').ok_or(ApiError::NotAuthenticated)?;

    let credentials = credentials.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || credentials.is_empty() {
        return Err(ApiError::NotAuthenticated);
    }

    Ok(Bearer(PlainToken::from_client(credentials)))
}

/// The largest request body a route accepts, in bytes; set per scope with `app_data`.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// How long a client may take to send a request body once its headers have arrived.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Body limit for routes that do not set one: 64 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// A JSON request body, deserialized into `T`.
///
/// Unlike actix-web's `Json`, its errors name the offending field and map onto the API's
/// statuses: 415 for a non-JSON content type, 413 over the limit, 400 for text that is not
/// JSON and 422 for JSON of the wrong shape.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_body(request, payload);
        Box::pin(async move { parse_json(&body.await?).map(JsonBody) })
    }
}

/// A JSON request body that may be left out: an empty body gives `T::default()`. Otherwise
/// it behaves like [`JsonBody`].
#[derive(Debug)]
pub struct OptionalJsonBody<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalJsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_body(request, payload);
        Box::pin(async move {
            let body = body.await?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJsonBody(T::default()));
            }
            parse_json(&body).map(OptionalJsonBody)
        })
    }
}

/// Reads the whole body, enforcing the content type and the route's [`BodyLimit`] (checked
/// against `Content-Length` first, then while reading, for chunked bodies).
fn read_body(request: &HttpRequest, payload: &mut Payload) -> LocalBoxFuture<'static, Result<BytesMut, ApiError>> {
    let limit = request
        .app_data::<BodyLimit>()
        .map_or(DEFAULT_BODY_LIMIT, |limit| limit.0);
    let content_type_ok = is_json_content_type(request.headers().get(header::CONTENT_TYPE));
    let declared_length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let mut payload = payload.take();

    Box::pin(async move {
        if declared_length.is_some_and(|length| length > limit as u64) {
            return Err(ApiError::PayloadTooLarge { limit_bytes: limit });
        }

        let read = async {
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk
                    .map_err(|error| ApiError::MalformedBody(format!("Failed to read the request body: {error}")))?;
                if body.len() + chunk.len() > limit {
                    return Err(ApiError::PayloadTooLarge { limit_bytes: limit });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body)
        };
        // actix-web times out slow headers but not slow bodies; a client that stops sending
        // half-way would otherwise hold the connection and the request forever.
        let body = actix_web::rt::time::timeout(BODY_READ_TIMEOUT, read)
            .await
            .map_err(|_| ApiError::RequestTimeout)??;

        // An empty body needs no content type, so clients may leave out both.
        if !content_type_ok && !body.is_empty() {
            return Err(ApiError::UnsupportedMediaType);
        }
        Ok(body)
    })
}

/// Accepts `application/json`, any `+json` type, or no content type at all.
fn is_json_content_type(value: Option<&header::HeaderValue>) -> bool {
    let Some(value) = value else { return true };
    let Ok(value) = value.to_str() else { return false };

    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedBody(
            "Request body is empty; send a JSON object".to_string(),
        ));
    }

    // JSON text must be UTF-8 (RFC 8259, section 8.1), but serde_json checks only the strings
    // it decodes, so invalid bytes in a field the request type ignores would pass.
    if let Err(error) = std::str::from_utf8(body) {
        return Err(ApiError::MalformedBody(format!(
            "Request body is not valid JSON: invalid UTF-8 at byte {}",
            error.valid_up_to()
        )));
    }

    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let Object(value) = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.classify() != serde_json::error::Category::Data {
            return ApiError::MalformedBody(format!("Request body is not valid JSON: {inner}"));
        }

        // A shape error can come before a syntax error later in the text (as in `[1,`); text
        // that is not JSON gets 400 whatever its shape. Only failed requests pay this second
        // pass.
        if let Err(syntax) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            return ApiError::MalformedBody(format!("Request body is not valid JSON: {syntax}"));
        }

        if path != "." {
            ApiError::Validation(format!("Invalid field '{path}': {inner}"))
        } else if inner.to_string().starts_with("invalid type") {
            ApiError::Validation("Request body must be a JSON object".to_string())
        } else {
            ApiError::Validation(format!("Invalid request body: {inner}"))
        }
    })?;

    deserializer
        .end()
        .map_err(|error| ApiError::MalformedBody(format!("Request body is not valid JSON: {error}")))?;
    Ok(value)
}

/// Deserializes an optional string field that may be left out but must not be `null`. For
/// fields whose absence means "all" (such as the token to revoke), a `null` from a client
/// that meant to send a value must not widen the request.
pub fn string_not_null<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        Some(value) => Ok(Some(value)),
        None => Err(serde::de::Error::custom(
            "must be a string, not null; leave the field out to select every token",
        )),
    }
}

/// A JSON object deserialized into `T`. A struct derived with serde also accepts a JSON array
/// of its fields in declaration order, which would let `["alice", null, "password"]` log in.
/// This wrapper accepts only objects, and nested fields keep their paths in error messages.
#[derive(Debug)]
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer.deserialize_map(ObjectVisitor(PhantomData)).map(Object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;
    use serde::Deserialize;

    fn bearer(value: &str) -> Result<Bearer, ApiError> {
        parse_bearer(Some(&HeaderValue::from_str(value).unwrap()))
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert!(bearer("Bearer ses_x").is_ok());
        assert!(bearer("bearer ses_x").is_ok());
        assert!(bearer("BEARER   ses_x ").is_ok());
    }

    #[test]
    fn bearer_rejects_other_schemes_and_blanks() {
        assert!(matches!(parse_bearer(None), Err(ApiError::NotAuthenticated)));
        assert!(matches!(bearer("Basic dXNlcjpwYXNz"), Err(ApiError::NotAuthenticated)));
        assert!(matches!(bearer("Bearer"), Err(ApiError::NotAuthenticated)));
        assert!(matches!(bearer("Bearer    "), Err(ApiError::NotAuthenticated)));
        assert!(matches!(bearer("Bearerses_x"), Err(ApiError::NotAuthenticated)));
    }

    #[test]
    fn malformed_token_is_invalid_not_missing() {
        let parsed = bearer("Bearer not-a-token").unwrap();
        assert!(matches!(parsed.digest(), Err(ApiError::InvalidToken)));
    }

    #[test]
    fn content_types() {
        assert!(is_json_content_type(None));
        assert!(is_json_content_type(Some(&HeaderValue::from_static(
            "application/json; charset=utf-8"
        ))));
        assert!(is_json_content_type(Some(&HeaderValue::from_static(
            "application/merge-patch+json"
        ))));
        assert!(!is_json_content_type(Some(&HeaderValue::from_static(
            "application/x-www-form-urlencoded"
        ))));
        assert!(!is_json_content_type(Some(&HeaderValue::from_static("text/plain"))));
    }

    #[derive(Debug, Deserialize)]
    struct Sample {
        #[allow(dead_code)]
        name: Option<String>,
    }

    #[test]
    fn json_errors_name_the_field() {
        let error = parse_json::<Sample>(br#"{"name": 5}"#).unwrap_err();
        assert!(
            matches!(&error, ApiError::Validation(m) if m.starts_with("Invalid field 'name'")),
            "{error:?}"
        );
        assert!(
            matches!(parse_json::<Sample>(b"[1]"), Err(ApiError::Validation(m)) if m == "Request body must be a JSON object")
        );
        assert!(matches!(
            parse_json::<Sample>(br#"["alice"]"#),
            Err(ApiError::Validation(_))
        ));
        assert!(matches!(parse_json::<Sample>(b"[1"), Err(ApiError::MalformedBody(_))));
        assert!(
            matches!(parse_json::<Sample>(b" [\"alice\"]"), Err(ApiError::Validation(m)) if m == "Request body must be a JSON object")
        );
        assert!(matches!(parse_json::<Sample>(b"[]"), Err(ApiError::Validation(_))));
        assert!(matches!(parse_json::<Sample>(b"[1,"), Err(ApiError::MalformedBody(_))));
        assert!(matches!(
            parse_json::<Sample>(b"{\"name\": "),
            Err(ApiError::MalformedBody(_))
        ));
        assert!(matches!(parse_json::<Sample>(b"  "), Err(ApiError::MalformedBody(_))));
        assert!(matches!(
            parse_json::<Sample>(b"{} {}"),
            Err(ApiError::MalformedBody(_))
        ));
    }

    /// Property tests: for generated input, the parsers return a value or one of their
    /// documented errors, and do not panic.
    mod properties {
        use proptest::prelude::*;
        use serde_json::{Map, Value};

        use super::*;

        /// Nesting of arrays and objects, the body's object included, at which serde_json stops
        /// decoding a value (its default recursion limit). Values it skips have no limit.
        const SERDE_JSON_RECURSION_LIMIT: usize = 128;

        /// Generates field names of the request bodies, and arbitrary ones.
        fn field_name() -> impl Strategy<Value = String> {
            prop_oneof![
                prop::sample::select(vec![
                    "username", "email", "password", "title", "config", "user", "token", "token_id"
                ])
                .prop_map(String::from),
                any::<String>(),
            ]
        }

        /// Generates JSON values a few levels deep, with strings of any characters, NUL included.
        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                any::<String>().prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 32, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    prop::collection::vec((field_name(), inner), 0..6)
                        .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<String, Value>>())),
                ]
            })
        }

        /// Generates the bytes a header value may contain: visible ASCII, space, tab and obs-text.
        fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
            prop::collection::vec(prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff], 0..128)
        }

        /// Fields of the same types as the route bodies (optional strings, any JSON value and a
        /// nested object), whose structs are private to the route modules.
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct RequestShape {
            username: Option<String>,
            password: Option<String>,
            config: Option<Value>,
            user: Option<Object<Credentials>>,
        }

        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Credentials {
            username: Option<String>,
            password: Option<String>,
        }

        /// Reports whether `error` is one that `parse_json` documents, with its message prefix.
        fn is_documented_error(error: &ApiError) -> bool {
            match error {
                ApiError::MalformedBody(message) => {
                    message == "Request body is empty; send a JSON object"
                        || message.starts_with("Request body is not valid JSON: ")
                }
                ApiError::Validation(message) => {
                    message == "Request body must be a JSON object" || message.starts_with("Invalid field '")
                }
                _ => false,
            }
        }

        proptest! {
            #[test]
            fn bearer_parse_any_header(bytes in header_bytes()) {
                let value = header::HeaderValue::from_bytes(&bytes).expect("header_bytes makes valid header values");
                match parse_bearer(Some(&value)) {
                    Ok(bearer) => prop_assert!(matches!(bearer.digest(), Ok(_) | Err(ApiError::InvalidToken))),
                    Err(error) => prop_assert!(matches!(error, ApiError::NotAuthenticated), "{error:?}"),
                }
            }

            #[test]
            fn bearer_parse_any_scheme_case(
                scheme in "[bB][eE][aA][rR][eE][rR]",
                gap in "[ ]{1,4}",
                token in "ses_[A-Za-z0-9_-]{43}",
                trailing in "[ \t]{0,3}",
            ) {
                let value = header::HeaderValue::from_str(&format!("{scheme}{gap}{token}{trailing}")).expect("valid header value");
                let digest = parse_bearer(Some(&value)).expect("a bearer token").digest().expect("a well-formed token");
                prop_assert_eq!(digest, PlainToken::from_client(&token).digest());
            }

            #[test]
            fn parse_json_any_bytes(body in prop::collection::vec(any::<u8>(), 0..256)) {
                let syntax_error = body.iter().all(u8::is_ascii_whitespace)
                    || std::str::from_utf8(&body).is_err()
                    || serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err();
                match parse_json::<RequestShape>(&body) {
                    Ok(_) => prop_assert!(!syntax_error),
                    Err(error) => {
                        prop_assert!(is_documented_error(&error), "{error:?}");
                        prop_assert_eq!(matches!(error, ApiError::MalformedBody(_)), syntax_error, "{:?}", error);
                    }
                }
            }

            #[test]
            fn parse_json_any_value(value in json_value()) {
                let body = serde_json::to_vec(&value).expect("a Value serializes");
                match parse_json::<RequestShape>(&body) {
                    Ok(_) => prop_assert!(value.is_object()),
                    Err(ApiError::Validation(message)) if !value.is_object() => {
                        prop_assert_eq!(message, "Request body must be a JSON object");
                    }
                    Err(error) => {
                        prop_assert!(value.is_object(), "{error:?}");
                        prop_assert!(matches!(&error, ApiError::Validation(m) if m.starts_with("Invalid field '")), "{error:?}");
                    }
                }
            }

            #[test]
            fn parse_json_deep_nesting(depth in 1usize..4096, wrapper in 0..3) {
                let (open, close) = match wrapper {
                    0 => ("[", "]"),
                    1 => ("{\"user\":", "}"),
                    _ => ("{\"config\":", "}"),
                };
                let body = format!("{}null{}", open.repeat(depth), close.repeat(depth));
                let result = parse_json::<RequestShape>(body.as_bytes());
                if let Err(error) = &result {
                    prop_assert!(is_documented_error(error), "{error:?}");
                }
                if wrapper == 2 && depth >= SERDE_JSON_RECURSION_LIMIT {
                    prop_assert!(matches!(&result, Err(ApiError::MalformedBody(_))), "{result:?}");
                }
            }

            #[test]
            fn parse_json_invalid_utf8_string(
                field in field_name(),
                mut text in prop::collection::vec(any::<u8>(), 0..64),
                position in any::<prop::sample::Index>(),
            ) {
                // 0xFF never occurs in UTF-8.
                text.insert(position.index(text.len() + 1), 0xFF);
                let mut body = serde_json::to_vec(&field).expect("a string serializes");
                body.insert(0, b'{');
                body.extend_from_slice(b": \"");
                body.extend_from_slice(&text);
                body.extend_from_slice(b"\"}");
                let error = parse_json::<RequestShape>(&body).expect_err("invalid UTF-8 is not JSON");
                let expected = "Request body is not valid JSON: invalid UTF-8 at byte ";
                prop_assert!(matches!(&error, ApiError::MalformedBody(m) if m.starts_with(expected)), "{error:?}");
            }
        }
    }
}
