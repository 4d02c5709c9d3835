DROP TABLE login_attempts;
DROP TABLE workspaces;
DROP TABLE tokens;
DROP TABLE users;
