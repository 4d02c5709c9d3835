//! Table definitions shared by both backends. Only types that diesel's `MultiConnection`
//! supports on SQLite and PostgreSQL alike appear here: ids, JSON and digests are `Text`, and
//! times are `Timestamp` (UTC, without time zone).

diesel::table! {
    users (user_id) {
        user_id -> Text,
        username -> Text,
        username_key -> Text,
        password_hash -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    tokens (token_id) {
        token_id -> Text,
        user_id -> Text,
        token_hash -> Text,
        title -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked -> Bool,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    workspaces (workspace_id) {
        workspace_id -> Text,
        user_id -> Text,
        title -> Text,
        config -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    login_attempts (attempt_id) {
        attempt_id -> BigInt,
        username_digest -> Text,
        attempted_at -> Timestamp,
    }
}

diesel::joinable!(tokens -> users (user_id));
diesel::joinable!(workspaces -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, tokens, workspaces, login_attempts);
