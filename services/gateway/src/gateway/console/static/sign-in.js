// Sign in with an API token: the gateway checks it and keeps it in an HttpOnly,
// SameSite=Strict cookie; then back to the page that asked (only a path of this site).

function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  // A path of this site only: not "//host/…", not "/\\host/…", not a URL with a scheme.
  return /^\/(?![/\\])/.test(next) ? next : "/";
}

const form = document.getElementById("sign-in-form");
const error = document.getElementById("sign-in-error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  const token = document.getElementById("token").value.trim();
  if (!token) {
    error.textContent = "Paste a token first.";
    error.hidden = false;
    return;
  }
  const response = await fetch("/api/v1/session", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ token }),
  });
  if (response.ok) {
    location.replace(nextPage());
    return;
  }
  let detail = `HTTP ${response.status}`;
  try {
    detail = (await response.json()).detail || detail;
  } catch {
    // not JSON: the status says enough
  }
  error.textContent = response.status === 401 ? "That token is unknown or revoked." : detail;
  error.hidden = false;
});
