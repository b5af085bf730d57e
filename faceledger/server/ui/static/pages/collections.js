// Collections: the list with counts and policies, creating one with a policy, and one
// collection's faces (thumbnails where its policy keeps images), users and deletion.

import { api, may } from "../api.js";
import { add, authImage, checkbox, errorNotice, field, fill, fmt, h, notice, pageHeading, table } from "../dom.js";

export function policyBadges(p) {
  const out = [];
  if (p.MinThreshold != null) out.push(`min similarity ${p.MinThreshold}`);
  if (p.MaxFalseMatchRate != null) out.push(`max FMR ${fmt.rate(p.MaxFalseMatchRate)}`);
  if (p.RequirePurpose) out.push("purpose required");
  if (p.RequireCase) out.push("case required");
  if (p.RequireReview) out.push("two reviewers");
  if (p.RetentionDays != null) out.push(`kept ${p.RetentionDays} days`);
  if (p.KeepImages) out.push("keeps images");
  if (p.MinLiveness != null) out.push(`liveness at least ${p.MinLiveness}`);
  if (p.IndependentReview) out.push("independent review");
  const known = ["MinThreshold", "MaxFalseMatchRate", "RequirePurpose", "RequireCase", "RequireReview", "RetentionDays", "KeepImages", "MinLiveness", "IndependentReview"];
  for (const [k, v] of Object.entries(p)) if (!known.includes(k) && v !== null && v !== false) out.push(v === true ? k : `${k} ${v}`);
  return out.length ? out.map((t) => h("span", { class: `badge ${/review|required/.test(t) ? "strong" : ""}` }, t)) : h("span", { class: "hint" }, "none");
}

async function describe(id) {
  const [d, p] = await Promise.all([
    may("DescribeCollection", id) ? api(`/collections/${encodeURIComponent(id)}`).catch(() => null) : null,
    may("GetCollectionPolicy", id) ? api(`/collections/${encodeURIComponent(id)}/policy`).catch(() => null) : null,
  ]);
  return { d, policy: p && p.Policy };
}

function createForm(onCreated) {
  const id = h("input", { name: "CollectionId", required: true, pattern: "[a-zA-Z0-9_.\\-]{1,255}" });
  const minT = h("input", { name: "MinThreshold", type: "number", min: "0", max: "100", step: "0.1" });
  const maxFmr = h("input", { name: "MaxFalseMatchRate", placeholder: "e.g. 1e-4" });
  const days = h("input", { name: "RetentionDays", type: "number", min: "1", max: "36500" });
  const live = h("input", { name: "MinLiveness", type: "number", min: "0", max: "100", step: "1" });
  const status = h("div");
  const form = h("form", { class: "card", "aria-labelledby": "create-title" },
    h("h2", { id: "create-title" }, "Create a collection"),
    h("div", { class: "row" },
      field("Collection ID", id, "letters, digits, _ . -"),
      field("Minimum similarity", minT, "no search below this threshold"),
      field("Maximum false match rate", maxFmr, "the same floor as an FMR"),
      field("Retention (days)", days, "faces deleted after this"),
      field("Minimum liveness", live, "IndexFaces leaves out faces scoring below (0-100)")),
    h("fieldset", {}, h("legend", {}, "Policy"),
      checkbox("Require a purpose for every search", "RequirePurpose"),
      checkbox("Require a case ID for every search", "RequireCase"),
      checkbox("Matches need two reviewers before they count", "RequireReview"),
      checkbox("Whoever ran a search may not review its matches", "IndependentReview"),
      checkbox("Keep the source images (for thumbnails and review)", "KeepImages")),
    h("button", { type: "submit" }, "Create collection"),
    status);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const policy = {};
    for (const name of ["RequirePurpose", "RequireCase", "RequireReview", "IndependentReview", "KeepImages"]) policy[name] = form.elements[name].checked;
    if (minT.value) policy.MinThreshold = Number(minT.value);
    if (maxFmr.value) policy.MaxFalseMatchRate = Number(maxFmr.value);
    if (days.value) policy.RetentionDays = Number(days.value);
    if (live.value) policy.MinLiveness = Number(live.value);
    try {
      await api("/collections", { method: "POST", json: { CollectionId: id.value.trim(), Policy: policy } });
      fill(status, notice("ok", `Created ${id.value.trim()}.`));
      form.reset();
      await onCreated();
    } catch (err) {
      fill(status, errorNotice(err));
    }
  });
  return form;
}

async function listView(root) {
  const listing = h("section", { "aria-labelledby": "list-title" }, h("h2", { id: "list-title" }, "Collections"));
  const status = h("div", { "aria-live": "polite" });
  async function refresh() {
    const page = await api("/collections", { query: { MaxResults: 1000 } });
    if (!page.CollectionIds.length) {
      fill(listing, listing.firstChild, notice("info", "No collection yet."));
      return;
    }
    const described = await Promise.all(page.CollectionIds.map(describe));
    const rows = page.CollectionIds.map((id, i) => {
      const { d, policy } = described[i];
      const del = may("DeleteCollection", id)
        ? h("button", { type: "button", class: "danger", "aria-label": `Delete ${id}`, onclick: () => remove(id) }, "Delete")
        : null;
      return [h("a", { href: `#/collections/${encodeURIComponent(id)}` }, id), d ? String(d.FaceCount) : "—", d ? String(d.UserCount) : "—",
        policy ? policyBadges(policy) : h("span", { class: "hint" }, "not visible to this key"), del];
    });
    fill(listing, listing.firstChild, table(["Collection", "Faces", "Users", "Policy", ""], rows));
  }
  async function remove(id) {
    if (!confirm(`Delete the collection ${id} with all its faces? This cannot be undone.`)) return;
    try {
      await api(`/collections/${encodeURIComponent(id)}`, { method: "DELETE" });
      fill(status, notice("ok", `Deleted ${id}.`));
      await refresh();
    } catch (e) {
      fill(status, errorNotice(e));
    }
  }
  await refresh();
  add(root, ...pageHeading("Collections", "Collections of known faces, with what their policy demands of every search."),
    status, listing, may("CreateCollection") ? createForm(refresh) : null);
}

async function detailView(root, id) {
  const enc = encodeURIComponent(id);
  const { d, policy } = await describe(id);
  add(root, ...pageHeading(`Collection ${id}`), h("p", {}, h("a", { href: "#/collections" }, "← all collections")));
  add(root, h("dl", { class: "facts" },
    h("dt", {}, "Faces"), h("dd", {}, d ? String(d.FaceCount) : "—"),
    h("dt", {}, "Users"), h("dd", {}, d ? String(d.UserCount) : "—"),
    h("dt", {}, "Created"), h("dd", {}, d ? new Date(d.CreationTimestamp * 1000).toLocaleString() : "—"),
    h("dt", {}, "Policy"), h("dd", {}, policy ? policyBadges(policy) : "—")));

  const faces = h("section", { "aria-labelledby": "faces-title" }, h("h2", { id: "faces-title" }, "Faces"));
  add(root, faces);
  if (!may("ListFaces", id)) add(faces, notice("error", "This key may not list this collection's faces (ListFaces)."));
  else {
    const thumbs = Boolean(policy && policy.KeepImages);
    const list = thumbs ? h("ul", { class: "thumbs" }) : null;
    const rows = [];
    const holder = h("div");
    const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more faces");
    const count = h("p", { class: "hint", "aria-live": "polite" });
    let next;
    const load = async () => {
      try {
        const page = await api(`/collections/${enc}/faces`, { query: { MaxResults: 200, NextToken: next } });
        next = page.NextToken;
        if (thumbs) {
          add(list, ...page.Faces.map((f) => h("li", {},
            authImage(`/collections/${enc}/faces/${f.FaceId}/image`, `face ${f.ExternalImageId || f.FaceId}`),
            h("div", {}, f.ExternalImageId || "(no external id)"), h("div", { class: "hint" }, f.FaceId.slice(0, 8)))));
        } else {
          rows.push(...page.Faces.map((f) => [h("code", {}, f.FaceId), f.ExternalImageId || "—", f.UserId || "—", fmt.sim(f.Confidence), h("code", {}, f.ImageId)]));
          fill(holder, table(["FaceId", "ExternalImageId", "UserId", "Confidence", "ImageId"], rows));
        }
        const shown = thumbs ? list.children.length : rows.length;
        fill(count, next ? `Showing ${shown} faces; there are more.` : `${shown} face(s).`);
        more.hidden = !next;
      } catch (e) {
        fill(count, errorNotice(e));
      }
    };
    more.addEventListener("click", load);
    if (!thumbs) add(faces, notice("info", "This collection keeps no images (its policy has no KeepImages): faces are listed by their metadata."));
    add(faces, thumbs ? list : holder, count, more);
    await load();
    if (!next && (thumbs ? !list.children.length : !rows.length)) fill(count, notice("info", "No face indexed yet."));
  }

  const users = h("section", { "aria-labelledby": "users-title" }, h("h2", { id: "users-title" }, "Users"));
  add(root, users);
  if (may("ListUsers", id)) {
    try {
      const page = await api(`/collections/${enc}/users`, { query: { MaxResults: 500 } });
      add(users, page.Users.length ? table(["UserId", "Status"], page.Users.map((u) => [u.UserId, u.UserStatus])) : notice("info", "No user."));
    } catch (e) {
      add(users, errorNotice(e));
    }
  } else add(users, notice("error", "This key may not list users (ListUsers)."));

  if (may("DeleteCollection", id)) {
    const status = h("div");
    add(root, h("h2", {}, "Delete"), h("button", { type: "button", class: "danger", onclick: async () => {
      if (!confirm(`Delete the collection ${id} with all its faces? This cannot be undone.`)) return;
      try {
        await api(`/collections/${enc}`, { method: "DELETE" });
        location.hash = "#/collections";
      } catch (e) {
        fill(status, errorNotice(e));
      }
    } }, `Delete ${id}`), status);
  }
}

export async function render(root, { params }) {
  if (params[0]) await detailView(root, params[0]);
  else await listView(root);
}
