// The shell: sign-in, the navigation the key's rights allow, and a hash router over the pages.

import { api, describeError, may, session, signIn } from "./api.js";
import { field, fill, h, notice, pageHeading, releaseImages } from "./dom.js";

// Each page, what it needs (any one of these rights), and its module.
const PAGES = [
  { path: "collections", title: "Collections", needs: ["ListCollections"], what: "list collections", module: "./pages/collections.js" },
  { path: "index", title: "Index", needs: ["IndexFaces"], what: "index faces", module: "./pages/indexing.js" },
  { path: "detect", title: "Detect", needs: ["DetectFaces", "DetectLabels"], what: "detect faces or labels", module: "./pages/detect.js" },
  { path: "search", title: "Search", needs: ["SearchFacesByImage", "CompareFaces"], what: "search or compare faces", module: "./pages/search.js" },
  { path: "review", title: "Review", needs: ["ListReviewCandidates"], what: "list review candidates", module: "./pages/review.js" },
  { path: "ledger", title: "Ledger", needs: ["ListLedger"], what: "read the ledger", module: "./pages/ledger.js" },
  { path: "video", title: "Video", needs: ["StartFaceDetection", "StartFaceSearch", "StartLabelDetection", "GetFaceDetection", "GetFaceSearch", "GetLabelDetection"], what: "run or read video jobs", module: "./pages/video.js" },
  { path: "streams", title: "Streams", needs: ["ListStreamProcessors"], what: "list stream processors", module: "./pages/streams.js" },
  { path: "calibration", title: "Calibration", needs: [], module: "./pages/calibration.js" },
  { path: "fairness", title: "Fairness", needs: [], module: "./pages/fairness.js" },
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");

const allowed = (page) => !page.needs.length || page.needs.some((op) => may(op));

function showSignIn(message) {
  nav.hidden = true;
  who.hidden = true;
  releaseImages();
  const keyId = h("input", { name: "AccessKeyId", autocomplete: "username", required: true, spellcheck: false });
  const secret = h("input", { name: "SecretAccessKey", type: "password", autocomplete: "current-password", required: true });
  const status = h("div", { id: "signin-status" }, message ? notice("error", message) : null);
  const form = h("form", { class: "signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title", tabindex: "-1" }, "Sign in"),
    h("p", {}, "Use an access key of this service (", h("code", {}, "faceledger keys create"), "). The secret is sent once to start a session and is not kept in the browser."),
    field("Access key ID", keyId),
    field("Secret access key", secret),
    h("button", { type: "submit" }, "Sign in"),
    status);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    fill(status, notice("info", "Signing in…"));
    try {
      await signIn(keyId.value.trim(), secret.value);
      secret.value = "";
      if (!location.hash || location.hash === "#/") location.hash = `#/${firstPage().path}`;
      await start();
    } catch (err) {
      secret.value = "";
      const text = err.status === 401 ? `Sign-in refused: the access key ID or secret is wrong (${err.code}).` : describeError(err);
      fill(status, notice("error", text));
      secret.focus();
    }
  });
  fill(main, form);
  document.title = "Sign in · faceledger";
  (message ? form.querySelector("h1") : keyId).focus();
}

function firstPage() {
  return PAGES.find(allowed) || PAGES[PAGES.length - 1];
}

function showNav(s) {
  fill(nav, h("ul", {}, PAGES.filter(allowed).map((p) => h("li", {}, h("a", { href: `#/${p.path}`, "data-page": p.path }, p.title)))));
  nav.hidden = false;
  const out = h("button", { type: "button", class: "link" }, "Sign out");
  out.addEventListener("click", async () => {
    // The service forgets the token too, so a copy of it (another tab, a log) is useless now.
    await api("/sessions/current", { method: "DELETE" }).catch(() => {});
    session.clear(); location.hash = ""; showSignIn();
  });
  fill(who, h("span", {}, "Signed in as ", h("strong", {}, s.Name), ` (${s.AccessKeyId})`), out);
  who.hidden = false;
}

let routing = 0; // a newer navigation wins over a page still loading

async function route() {
  const mine = ++routing;
  const s = session.load();
  if (!s) return showSignIn(sessionStorage.getItem("faceledger.ended") ? "Your session has expired: sign in again." : undefined);
  const [path, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const page = PAGES.find((p) => p.path === path) || firstPage();
  for (const a of nav.querySelectorAll("a")) {
    if (a.dataset.page === page.path) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  releaseImages();
  document.title = `${page.title} · faceledger`;
  if (!allowed(page)) {
    fill(main, ...pageHeading(page.title),
      notice("error", `This key may not ${page.what}: it has none of the rights ${page.needs.join(", ")}.`));
    main.querySelector("h1").focus();
    return;
  }
  fill(main, notice("info", "Loading…"));
  try {
    const module = await import(page.module);
    const content = h("div", { class: `page page-${page.path}` });
    await module.render(content, { params: rest.map(decodeURIComponent) });
    if (!session.load() || mine !== routing) return; // the session ended, or another page was asked for
    fill(main, content);
    main.querySelector("h1")?.focus();
  } catch (e) {
    if (!session.load() || mine !== routing) return;
    fill(main, ...pageHeading(page.title), notice("error", describeError(e)));
  }
}

async function start() {
  sessionStorage.removeItem("faceledger.ended");
  const s = session.load();
  showNav(s);
  await route();
}

window.addEventListener("faceledger:expired", () => {
  sessionStorage.setItem("faceledger.ended", "1");
  showSignIn("Your session has expired: sign in again.");
});
window.addEventListener("hashchange", route);
// The skip link moves focus to the page, not to a page called "main".
document.getElementById("skip").addEventListener("click", (e) => { e.preventDefault(); main.focus(); });

if (session.load()) {
  // Check the stored token still works (the key may have been revoked) before showing pages.
  api("/sessions/current").then(start).catch((e) => showSignIn(describeError(e)));
} else {
  showSignIn();
}
