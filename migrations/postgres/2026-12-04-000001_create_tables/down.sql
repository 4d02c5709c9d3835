DROP FUNCTION sesame_find_login(text);
DROP FUNCTION sesame_find_token(text);
DROP TABLE login_attempts;
DROP TABLE workspaces;
DROP TABLE tokens;
DROP TABLE users;
