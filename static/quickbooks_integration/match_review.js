/* "Link to a different customer" on a review pair's page: search the ledger's customers as the bookkeeper types
   (the admin's JSON endpoint, permission-checked there), pick one, post the form. Plain script, no inline code:
   the CSP allows scripts from our own static files only. Text is set with textContent, never as HTML. */
"use strict";
(function () {
  const form = document.getElementById("link-other-form");
  if (!form) {
    return;
  }
  const input = document.getElementById("link-other-search");
  const hidden = document.getElementById("link-other-id");
  const results = document.getElementById("link-other-results");
  const submit = document.getElementById("link-other-submit");
  const chosen = document.getElementById("link-other-chosen");
  const url = form.dataset.searchUrl;
  let timer = null;
  let latest = 0;

  function close() {
    results.replaceChildren();
    results.hidden = true;
  }

  function unchoose() {
    hidden.value = "";
    submit.disabled = true;
    chosen.textContent = "";
  }

  function choose(item) {
    hidden.value = item.id;
    input.value = item.name;
    chosen.textContent = "Chosen: " + item.name + " (QuickBooks #" + item.id + ")";
    submit.disabled = false;
    close();
    submit.focus();
  }

  function describe(item) {
    const parts = ["#" + item.id];
    if (item.company && item.company !== item.name) {
      parts.push(item.company);
    }
    if (item.phone) {
      parts.push(item.phone);
    }
    if (item.email) {
      parts.push(item.email);
    }
    if (!item.active) {
      parts.push("inactive");
    }
    if (item.linked_contact) {
      parts.push("linked to " + item.linked_contact);
    }
    return parts.join(" · ");
  }

  function render(items) {
    results.replaceChildren();
    if (!items.length) {
      const empty = document.createElement("li");
      empty.className = "qbo-results-empty";
      empty.textContent = "No QuickBooks customer matches.";
      results.append(empty);
    }
    for (const item of items) {
      const li = document.createElement("li");
      li.setAttribute("role", "option");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "qbo-customer-option";
      button.dataset.id = item.id;
      button.disabled = !item.selectable;
      const name = document.createElement("strong");
      name.textContent = item.name;
      const details = document.createElement("span");
      details.textContent = " " + describe(item);
      button.append(name, details);
      button.addEventListener("click", function () {
        choose(item);
      });
      li.append(button);
      results.append(li);
    }
    results.hidden = false;
  }

  async function search() {
    const term = input.value.trim();
    const ticket = ++latest;
    if (term.length < 2) {
      close();
      return;
    }
    const response = await fetch(url + "?q=" + encodeURIComponent(term), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (ticket !== latest) {
      return; // a later keystroke's answer will be shown instead
    }
    if (!response.ok) {
      chosen.textContent = "The search failed (" + response.status + ").";
      return;
    }
    const data = await response.json();
    if (ticket === latest) {
      render(data.results || []);
    }
  }

  input.addEventListener("input", function () {
    unchoose();
    window.clearTimeout(timer);
    timer = window.setTimeout(search, 200);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      close();
    } else if (event.key === "ArrowDown") {
      const first = results.querySelector("button:not([disabled])");
      if (first) {
        event.preventDefault();
        first.focus();
      }
    } else if (event.key === "Enter" && !hidden.value) {
      event.preventDefault(); // never post a typed name: a customer must be picked from the list
    }
  });
  form.addEventListener("submit", function (event) {
    if (!hidden.value) {
      event.preventDefault();
    }
  });
})();
