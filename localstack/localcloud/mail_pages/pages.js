// The two mail-link pages of the local cloud (localcloud/pages.py): verify an email address, reset a password.
// Every text from the API or the link is set with textContent, never parsed as HTML.
"use strict";

(function () {
  const main = document.querySelector("main[data-page]");
  if (!main) {
    return;
  }
  const outcome = document.getElementById("outcome");
  const problems = document.getElementById("problems");
  const token = main.dataset.token || "";
  // The API names fields by their JSON keys; the pages by their labels.
  const FIELD_LABELS = { new_password: "New password", token: "Link" };

  function show(state, message, details) {
    outcome.dataset.state = state;
    outcome.textContent = message;
    problems.replaceChildren(...(details || []).map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      return item;
    }));
  }

  // The API's own words: a domain error's detail, or one line per failed validation.
  function apiMessages(body) {
    if (!body || body.detail === undefined) {
      return [];
    }
    if (typeof body.detail === "string") {
      return [body.detail];
    }
    if (Array.isArray(body.detail)) {
      return body.detail.map((entry) => {
        const loc = Array.isArray(entry.loc) ? entry.loc : [];
        const field = String(loc[loc.length - 1] || "");
        const message = String(entry.msg || "").replace(/^Value error, /, "");
        return FIELD_LABELS[field] ? `${FIELD_LABELS[field]}: ${message}` : message;
      });
    }
    return [];
  }

  async function post(body) {
    let response;
    try {
      response = await fetch(main.dataset.api, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (error) {
      return { status: 0, body: null };
    }
    let data = null;
    if (response.status !== 204) {
      try {
        data = await response.json();
      } catch (error) {
        data = null;
      }
    }
    return { status: response.status, body: data };
  }

  function unavailable(answer, what) {
    const reason = answer.status === 0 ? "the API could not be reached" : `the API answered ${answer.status}`;
    const wait = answer.status === 429 ? " Too many attempts: wait a moment." : "";
    show("failure", `Could not ${what} now: ${reason}.${wait} Try again.`, apiMessages(answer.body));
  }

  const NO_TOKEN = "This link has no token. Open the link exactly as it is in the mail.";

  async function verify() {
    if (!token) {
      show("failure", NO_TOKEN);
      return;
    }
    const answer = await post({ token });
    if (answer.status === 200) {
      const email = answer.body && typeof answer.body.email === "string" ? ` (${answer.body.email})` : "";
      show("success", `Your email address${email} is verified. You can close this page.`);
    } else if (answer.status === 400 || answer.status === 422) {
      show("failure", "This verification link cannot be used: it is invalid, has already been used, or has "
        + "expired. If you already verified your address with it, there is nothing more to do.",
        apiMessages(answer.body));
    } else {
      unavailable(answer, "verify your email address");
    }
  }

  function reset() {
    const form = document.getElementById("reset-form");
    const password = document.getElementById("new-password");
    const confirmation = document.getElementById("confirm-password");
    const submit = document.getElementById("submit");
    if (!token) {
      form.hidden = true;
      show("failure", NO_TOKEN);
      return;
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!password.value) {
        show("failure", "Enter a new password.");
        return;
      }
      if (password.value !== confirmation.value) {
        show("failure", "The two passwords differ: type the same new password twice.");
        return;
      }
      submit.disabled = true;
      show("pending", "Setting the new password…");
      const answer = await post({ token, new_password: password.value });
      submit.disabled = false;
      if (answer.status === 204) {
        form.hidden = true;
        show("success", "Your password has been changed and every session signed out. Log in with the new "
          + "password.");
      } else if (answer.status === 422) {
        show("failure", "The new password was not accepted:", apiMessages(answer.body));
      } else if (answer.status === 400) {
        form.hidden = true;
        show("failure", "This reset link cannot be used: it is invalid, has already been used, or has expired. "
          + "Ask for a new one with “Forgot password”.", apiMessages(answer.body));
      } else {
        unavailable(answer, "set the new password");
      }
    });
  }

  if (main.dataset.page === "verify") {
    verify();
  } else if (main.dataset.page === "reset") {
    reset();
  }
})();
