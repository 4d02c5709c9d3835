// Sign-in page of Open Sesame: signs in with POST /api/auth/login, shows the new token once,
// lists and revokes the user's tokens, and signs out by revoking the page's own token.
//
// The token is kept in sessionStorage, so it survives a reload of this tab and is gone when
// the tab closes. It is never put into a URL, a cookie or localStorage.
"use strict";

(function () {
  const SESSION_KEY = "sesame.session";
  const DEFAULT_TOKEN_TITLE = "Web sign-in";

  const elements = {};
  let session = null; // {token, username} while signed in

  // An API error: the HTTP status (0 when the server could not be reached) and a message for
  // the user, without a final period, like the server's `detail`.
  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function byId(id) {
    const element = document.getElementById(id);
    if (!element) {
      throw new Error(`The page has no element with id "${id}".`);
    }
    return element;
  }

  // Session storage. It can be unavailable (storage turned off), and then the session lives
  // only in this page's memory.

  function loadSession() {
    try {
      const stored = JSON.parse(window.sessionStorage.getItem(SESSION_KEY) || "null");
      if (stored && typeof stored.token === "string" && typeof stored.username === "string") {
        return stored;
      }
    } catch (error) {
      console.warn("Failed to read the session from sessionStorage:", error);
    }
    return null;
  }

  function saveSession() {
    try {
      window.sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
    } catch (error) {
      console.warn("Failed to keep the session in sessionStorage, so a reload will sign you out:", error);
    }
  }

  function forgetSession() {
    session = null;
    elements.tokenValue.value = "";
    try {
      window.sessionStorage.removeItem(SESSION_KEY);
    } catch (error) {
      console.warn("Failed to remove the session from sessionStorage:", error);
    }
  }

  // Messages. Errors go to the alert region, and other messages to the status region.

  function showError(message) {
    elements.status.textContent = "";
    elements.error.textContent = message;
  }

  function showStatus(message) {
    elements.error.textContent = "";
    elements.status.textContent = message;
  }

  function clearMessages() {
    elements.error.textContent = "";
    elements.status.textContent = "";
  }

  // Sends a request to the API and returns the parsed JSON body, or throws ApiError with the
  // server's `detail` message.
  async function callApi(method, path, { token, body } = {}) {
    const headers = { Accept: "application/json" };
    if (token) {
      headers.Authorization = `Bearer ${token}`;
    }
    const request = { method, headers, cache: "no-store", credentials: "omit", redirect: "error" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      request.body = JSON.stringify(body);
    }

    let response;
    try {
      response = await fetch(path, request);
    } catch (error) {
      throw new ApiError(0, "The server could not be reached. Check that sesame is running, then try again");
    }

    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (error) {
        data = null;
      }
    }
    if (response.ok) {
      return data;
    }
    throw new ApiError(response.status, describeFailure(response, data));
  }

  function describeFailure(response, data) {
    const detail = data && typeof data.detail === "string"
      ? data.detail
      : `The server responded with status ${response.status}`;

    const retryAfter = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    if (response.status === 429 && Number.isFinite(retryAfter)) {
      const retryAt = new Date(Date.now() + retryAfter * 1000);
      return `${detail}. You can sign in again at ${retryAt.toLocaleTimeString()}`;
    }
    return detail;
  }

  // Handles an error of a request made with the page's token. A 401 means the token was
  // revoked or has expired, so the page signs out.
  function handleSessionError(error) {
    if (error instanceof ApiError && error.status === 401) {
      forgetSession();
      showSignIn();
      showError(`${error.message}. Your token is no longer valid, so you are signed out. Sign in again to get a new one.`);
      return;
    }
    showError(`${error.message}.`);
  }

  // Views.

  function showSignIn() {
    elements.session.hidden = true;
    elements.newToken.hidden = true;
    elements.tokenRows.replaceChildren();
    elements.signIn.hidden = false;
  }

  function showSession() {
    elements.signIn.hidden = true;
    elements.sessionUser.textContent = session.username;
    elements.session.hidden = false;
  }

  function formatTime(value) {
    if (!value) {
      return null;
    }
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? value : date.toLocaleString();
  }

  function timeCell(value, emptyText) {
    const cell = document.createElement("td");
    const text = formatTime(value);
    if (text === null) {
      cell.textContent = emptyText;
      return cell;
    }
    const time = document.createElement("time");
    time.dateTime = value;
    time.textContent = text;
    cell.append(time);
    return cell;
  }

  function tokenState(token) {
    if (token.revoked) {
      return "Revoked";
    }
    if (new Date(token.expires_at).getTime() <= Date.now()) {
      return "Expired";
    }
    return "Active";
  }

  function tokenRow(token) {
    const row = document.createElement("tr");
    row.dataset.tokenId = token.token_id;

    const title = document.createElement("td");
    title.textContent = token.title || "(untitled)";
    row.append(title);

    row.append(timeCell(token.created_at, ""));
    row.append(timeCell(token.expires_at, ""));
    row.append(timeCell(token.last_used_at, "Never"));

    const state = tokenState(token);
    const status = document.createElement("td");
    status.textContent = state;
    status.className = `state state-${state.toLowerCase()}`;
    row.append(status);

    const actions = document.createElement("td");
    const revoke = document.createElement("button");
    revoke.type = "button";
    revoke.className = "revoke danger";
    revoke.textContent = "Revoke";
    revoke.setAttribute("aria-label", `Revoke token ${token.title || "(untitled)"}, created ${formatTime(token.created_at)}`);
    revoke.disabled = state !== "Active";
    revoke.addEventListener("click", () => revokeToken(token.token_id, revoke));
    actions.append(revoke);
    row.append(actions);

    return row;
  }

  function renderTokens(tokens) {
    elements.tokenRows.replaceChildren(...tokens.map(tokenRow));
    elements.noTokens.hidden = tokens.length > 0;
  }

  // Actions.

  async function refreshTokens() {
    if (!session) {
      return;
    }
    const data = await callApi("GET", "/api/tokens", { token: session.token });
    renderTokens(Array.isArray(data && data.tokens) ? data.tokens : []);
  }

  async function signIn(event) {
    event.preventDefault();
    const username = elements.username.value.trim();
    const password = elements.password.value;
    const title = elements.tokenTitle.value.trim() || DEFAULT_TOKEN_TITLE;
    if (!username || !password) {
      showError("Enter your username and password.");
      (username ? elements.password : elements.username).focus();
      return;
    }

    elements.signInFields.disabled = true;
    showStatus("Signing in…");
    try {
      const data = await callApi("POST", "/api/auth/login", { body: { username, password, title } });
      session = { token: data.token, username };
      saveSession();
      elements.password.value = "";

      showSession();
      elements.tokenValue.value = data.token;
      elements.newToken.hidden = false;
      showStatus(`Signed in as ${username}. Your new token is shown below.`);
      elements.newTokenHeading.focus();
      await refreshTokens();
    } catch (error) {
      if (session) {
        handleSessionError(error);
      } else {
        showError(`${error.message}.`);
        elements.password.focus();
      }
    } finally {
      elements.signInFields.disabled = false;
    }
  }

  async function copyToken() {
    const value = elements.tokenValue.value;
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(value);
        showStatus("The token is copied to the clipboard.");
        return;
      } catch (error) {
        console.warn("Clipboard write failed; selecting the token instead:", error);
      }
    }
    elements.tokenValue.focus();
    elements.tokenValue.select();
    showStatus("The token is selected. Press Ctrl+C (or Command+C) to copy it.");
  }

  async function revokeToken(tokenId, button) {
    button.disabled = true;
    try {
      await callApi("POST", "/api/tokens/revoke", { token: session.token, body: { token_id: tokenId } });
      showStatus("The token is revoked.");
      await refreshTokens();
    } catch (error) {
      button.disabled = false;
      handleSessionError(error);
    }
  }

  async function revokeAll() {
    if (!window.confirm("Revoke all of your tokens? Every client that uses one of them will be signed out, and so will this page.")) {
      return;
    }
    try {
      const data = await callApi("POST", "/api/tokens/revoke", { token: session.token });
      forgetSession();
      showSignIn();
      showStatus(`Revoked ${data.revoked} tokens. You are signed out.`);
      elements.username.focus();
    } catch (error) {
      handleSessionError(error);
    }
  }

  async function signOut() {
    clearMessages();
    try {
      await callApi("POST", "/api/tokens/revoke", { token: session.token, body: { token: session.token } });
    } catch (error) {
      // A token that is already invalid needs no revoking. Any other failure keeps the
      // session, so that the user can try again.
      if (!(error instanceof ApiError && error.status === 401)) {
        showError(`Signing out failed, so the token is still valid: ${error.message}.`);
        return;
      }
    }
    forgetSession();
    showSignIn();
    showStatus("You are signed out, and the page's token is revoked.");
    elements.username.focus();
  }

  function runAction(action) {
    return () => {
      action().catch(handleSessionError);
    };
  }

  function start() {
    const ids = {
      error: "error",
      status: "status",
      signIn: "sign-in",
      signInForm: "sign-in-form",
      signInFields: "sign-in-fields",
      username: "username",
      password: "password",
      tokenTitle: "token-title",
      session: "session",
      sessionUser: "session-user",
      newToken: "new-token",
      newTokenHeading: "new-token-heading",
      tokenValue: "token-value",
      copyToken: "copy-token",
      tokenRows: "token-rows",
      noTokens: "no-tokens",
      refreshTokens: "refresh-tokens",
      revokeAll: "revoke-all",
      signOut: "sign-out",
    };
    for (const [name, id] of Object.entries(ids)) {
      elements[name] = byId(id);
    }

    elements.signInForm.addEventListener("submit", signIn);
    elements.copyToken.addEventListener("click", copyToken);
    elements.refreshTokens.addEventListener("click", runAction(async () => {
      await refreshTokens();
      showStatus("The list of tokens is up to date.");
    }));
    elements.revokeAll.addEventListener("click", runAction(revokeAll));
    elements.signOut.addEventListener("click", runAction(signOut));
    elements.signInFields.disabled = false;

    session = loadSession();
    if (session) {
      showSession();
      refreshTokens().catch(handleSessionError);
    } else {
      showSignIn();
    }
  }

  document.addEventListener("DOMContentLoaded", start);
})();
