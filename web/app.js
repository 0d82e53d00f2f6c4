// zonemesh web UI: a small single-page app over the PowerDNS-compatible API
// of the site that serves it. Every value from the server is put in the page
// as text (textContent, never innerHTML), so record content cannot inject
// markup. The API key lives in sessionStorage and travels only in the
// X-API-Key header, never in a URL.
"use strict";

const KEY_STORE = "zonemesh.apiKey";
const ZONES = "/api/v1/servers/localhost/zones";
const TYPES = ["A", "AAAA", "CAA", "CNAME", "DNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR",
               "SOA", "SRV", "SSHFP", "SVCB", "TLSA", "TXT", "URI", "LOC", "HINFO", "RP", "SPF"];

let refreshTimer = null;

// ---- small DOM helpers --------------------------------------------------------------

/** el("td", {class: "x", onclick: f}, "text", child) */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (v === true) node.setAttribute(k, "");
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function field(labelText, input, id) {
  input.id = id;
  return el("div", { class: "field" + (input.dataset.wide ? " wide" : "") },
    el("label", { for: id }, labelText), input,
    el("div", { class: "field-error", id: id + "-error", role: "alert" }));
}

function setMain(...children) {
  const main = document.getElementById("main");
  main.replaceChildren(...children);
}

function flash(message, isError) {
  const f = document.getElementById("flash");
  f.textContent = message;
  f.className = "flash" + (isError ? " error" : "");
  f.hidden = !message;
  clearTimeout(flash.timer);
  if (message && !isError) flash.timer = setTimeout(() => { f.hidden = true; }, 4000);
}

function clearErrors(form) {
  for (const e of form.querySelectorAll(".field-error, .form-error")) e.textContent = "";
  for (const i of form.querySelectorAll(".invalid")) i.classList.remove("invalid");
}

function showFieldError(prefix, fieldName, message) {
  const input = document.getElementById(prefix + "-" + fieldName);
  const box = document.getElementById(prefix + "-" + fieldName + "-error");
  if (box) box.textContent = message;
  if (input) {
    input.classList.add("invalid");
    input.focus();
  }
}

/** Which input a server validation message is about. */
function fieldOf(message) {
  if (/\bTTL\b|'ttl'/.test(message)) return "ttl";
  if (/unknown record type|is not a record type|made by the DNSSEC signer/i.test(message)) return "type";
  if (/out of zone|not inside zone|record name|\blabel\b|zone name/i.test(message)) return "name";
  return "content";
}

// ---- the API ------------------------------------------------------------------------

function apiKey() { return sessionStorage.getItem(KEY_STORE) || ""; }

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const headers = { "X-API-Key": apiKey(), "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                              cache: "no-store", credentials: "omit" });
  } catch (e) {
    throw new ApiError(0, "the server did not answer: " + e.message);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (res.status === 401 && path !== "/api/v1/servers/localhost") {
    signOut("Your API key was refused; sign in again.");
    throw new ApiError(401, "Unauthorized");
  }
  if (!res.ok) {
    const message = data && typeof data === "object" && data.error ? data.error : (res.status + " " + res.statusText);
    throw new ApiError(res.status, message);
  }
  return data;
}

function zonePath(id) { return ZONES + "/" + id; }
function absolute(name, zone) {
  name = name.trim();
  if (name === "" || name === "@") return zone;
  if (name.endsWith(".")) return name;
  const bare = zone.replace(/\.$/, "");
  if (name === bare || name.endsWith("." + bare)) return name + ".";
  return name + "." + zone;
}

// ---- sign in ------------------------------------------------------------------------

function signOut(message) {
  sessionStorage.removeItem(KEY_STORE);
  showSignIn(message);
}

function showSignIn(message) {
  stopRefresh();
  document.getElementById("nav").hidden = true;
  document.getElementById("sign-out").hidden = true;
  document.getElementById("site-badge").hidden = true;
  const input = el("input", { type: "password", autocomplete: "current-password", placeholder: "X-API-Key" });
  const error = el("div", { class: "form-error", id: "signin-error", role: "alert" }, message || "");
  const form = el("form", { class: "card signin", id: "signin-form" },
    el("h1", {}, "Sign in"),
    el("p", { class: "subtle" }, "Enter this site's API key (the [http] api_key of zonemesh-server)."),
    field("API key", input, "signin-key"),
    el("div", { class: "row", style: null }, el("button", { type: "submit", id: "signin-submit" }, "Sign in")),
    error);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    sessionStorage.setItem(KEY_STORE, input.value.trim());
    try {
      await api("GET", "/api/v1/servers/localhost");
      await enter();
    } catch (e) {
      sessionStorage.removeItem(KEY_STORE);
      error.textContent = e.status === 401 ? "That key was refused." : e.message;
    }
  });
  setMain(form);
  input.focus();
}

async function enter() {
  const server = await api("GET", "/api/v1/servers/localhost");
  const badge = document.getElementById("site-badge");
  badge.textContent = "site " + (server.zonemesh_node || "?");
  badge.hidden = false;
  document.getElementById("nav").hidden = false;
  document.getElementById("sign-out").hidden = false;
  if (!location.hash || location.hash === "#") location.hash = "#/zones";
  else route();
}

// ---- routing ------------------------------------------------------------------------

function stopRefresh() {
  if (refreshTimer) clearInterval(refreshTimer);
  refreshTimer = null;
}

function route() {
  stopRefresh();
  if (!apiKey()) { showSignIn(); return; }
  const hash = location.hash.replace(/^#/, "");
  const parts = hash.split("/").filter(Boolean);
  for (const a of document.querySelectorAll("[data-nav]")) {
    a.classList.toggle("active", a.dataset.nav === (parts[0] || "zones"));
  }
  if (parts[0] === "cluster") showCluster();
  else if (parts[0] === "zones" && parts[1]) showZone(decodeURIComponent(parts[1]));
  else showZones();
}

// ---- zone list ----------------------------------------------------------------------

async function showZones() {
  const search = el("input", { type: "search", placeholder: "Search zones", id: "zone-search", "aria-label": "Search zones" });
  const tbody = el("tbody", { id: "zone-rows" });
  const table = el("div", { class: "table-wrap" }, el("table", {},
    el("thead", {}, el("tr", {}, el("th", {}, "Zone"), el("th", {}, "Kind"), el("th", {}, "Serial"), el("th", {}))),
    tbody));
  setMain(
    el("div", { class: "row center", style: null },
      el("h1", { class: "grow" }, "Zones"), search),
    el("p", { class: "subtle" }, "Every change is written to this site's database, served by its DNS at once and replicated to every site."),
    createZoneForm(), importZoneForm(), table);

  let zones = [];
  const render = () => {
    const q = search.value.trim().toLowerCase();
    const shown = zones.filter((z) => z.name.toLowerCase().includes(q));
    if (shown.length === 0) {
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: 4, class: "empty" }, zones.length ? "No zone matches." : "No zones yet.")));
      return;
    }
    tbody.replaceChildren(...shown.map((z) => el("tr", { "data-zone": z.name },
      el("td", {}, el("a", { href: "#/zones/" + encodeURIComponent(z.id) }, z.name)),
      el("td", {}, z.kind),
      el("td", { class: "mono" }, z.serial),
      el("td", { class: "actions" }, el("button", { class: "danger small", type: "button", onclick: () => deleteZone(z) }, "Delete")))));
  };
  search.addEventListener("input", render);
  try {
    zones = await api("GET", ZONES);
    render();
  } catch (e) {
    flash(e.message, true);
  }
}

function kindSelect(id) {
  const s = el("select", {}, ...["Native", "Master", "Slave"].map((k) => el("option", { value: k }, k)));
  s.id = id;
  return s;
}

function createZoneForm() {
  const name = el("input", { placeholder: "example.com", "data-wide": "1" });
  const ns = el("input", { placeholder: "ns1.example.net ns2.example.net", "data-wide": "1" });
  const kind = kindSelect("newzone-kind");
  const error = el("div", { class: "form-error", role: "alert", id: "newzone-error" });
  const form = el("form", { class: "card", id: "newzone-form" },
    el("h2", {}, "New zone"),
    el("div", { class: "row" },
      field("Name", name, "newzone-name"),
      field("Name servers", ns, "newzone-ns"),
      el("div", { class: "field" }, el("label", { for: "newzone-kind" }, "Kind"), kind),
      el("div", { class: "form-actions" }, el("button", { type: "submit", id: "newzone-submit" }, "Create zone"))),
    error);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const zoneName = name.value.trim().endsWith(".") ? name.value.trim() : name.value.trim() + ".";
    const nameservers = ns.value.split(/[\s,]+/).filter(Boolean).map((n) => n.endsWith(".") ? n : n + ".");
    if (!name.value.trim()) { showFieldError("newzone", "name", "Give the zone's name."); return; }
    try {
      const z = await api("POST", ZONES, { name: zoneName, kind: kind.value, masters: [], nameservers });
      flash("Zone " + z.name + " created.");
      location.hash = "#/zones/" + encodeURIComponent(z.id);
    } catch (e) {
      if (/name server|nameserver|NS content/i.test(e.message)) showFieldError("newzone", "ns", e.message);
      else if (/zone name|already exists|label/i.test(e.message)) showFieldError("newzone", "name", e.message);
      else error.textContent = e.message;
    }
  });
  return form;
}

function importZoneForm() {
  const name = el("input", { placeholder: "example.com", "data-wide": "1" });
  const kind = kindSelect("import-kind");
  const text = el("textarea", { placeholder: "$ORIGIN example.com.\n$TTL 3600\n@ IN SOA ns1 hostmaster 1 10800 3600 604800 3600\n@ IN NS ns1\nns1 IN A 192.0.2.53", spellcheck: "false" });
  const error = el("div", { class: "form-error", role: "alert", id: "import-error" });
  const form = el("form", { id: "import-form" },
    el("div", { class: "row" },
      field("Zone name", name, "import-name"),
      el("div", { class: "field" }, el("label", { for: "import-kind" }, "Kind"), kind)),
    field("BIND zone file", text, "import-text"),
    el("div", { class: "row" }, el("button", { type: "submit", id: "import-submit" }, "Import zone")),
    error);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    if (!name.value.trim()) { showFieldError("import", "name", "Give the zone's name."); return; }
    const zoneName = name.value.trim().endsWith(".") ? name.value.trim() : name.value.trim() + ".";
    try {
      const z = await api("POST", ZONES, { name: zoneName, kind: kind.value, zone: text.value });
      flash("Zone " + z.name + " imported.");
      location.hash = "#/zones/" + encodeURIComponent(z.id);
    } catch (e) {
      if (/already exists|zone name/i.test(e.message)) showFieldError("import", "name", e.message);
      else showFieldError("import", "text", e.message);
    }
  });
  return el("details", { class: "card" }, el("summary", {}, "Import a zone file (paste BIND format)"), form);
}

async function deleteZone(z) {
  if (!confirm("Delete zone " + z.name + " with all its records, at every site?")) return;
  try {
    await api("DELETE", zonePath(z.id));
    flash("Zone " + z.name + " deleted.");
    showZones();
  } catch (e) {
    flash(e.message, true);
  }
}

// ---- one zone: the record editor -----------------------------------------------------

async function showZone(id) {
  let zone;
  try {
    zone = await api("GET", zonePath(id));
  } catch (e) {
    setMain(el("p", {}, el("a", { href: "#/zones" }, "← Zones")), el("div", { class: "card form-error" }, e.message));
    return;
  }
  const records = [];
  for (const rrset of zone.rrsets) {
    rrset.records.forEach((r, i) => {
      records.push({ name: rrset.name, type: rrset.type, ttl: rrset.ttl, content: r.content, disabled: r.disabled,
                     comments: i === 0 ? (rrset.comments || []) : [] });
    });
  }
  // The apex first (SOA, then NS), then by name and type.
  const rank = (r) => [r.name === zone.name ? 0 : 1, r.name, r.type === "SOA" ? 0 : r.type === "NS" ? 1 : 2, r.type, r.content];
  records.sort((a, b) => {
    const x = rank(a), y = rank(b);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
  });
  const filter = el("input", { type: "search", placeholder: "Filter records", id: "record-filter", "aria-label": "Filter records" });
  const tbody = el("tbody", { id: "record-rows" });
  const render = () => {
    const q = filter.value.trim().toLowerCase();
    const shown = records.filter((r) => !q || (r.name + " " + r.type + " " + r.content).toLowerCase().includes(q));
    tbody.replaceChildren(...(shown.length ? shown.map((r) => recordRow(zone, r, records))
      : [el("tr", {}, el("td", { colspan: 6, class: "empty" }, "No records match."))]));
  };
  filter.addEventListener("input", render);
  setMain(
    el("p", {}, el("a", { href: "#/zones" }, "← Zones")),
    el("div", { class: "row center" },
      el("div", { class: "grow" },
        el("h1", { id: "zone-title" }, zone.name),
        el("div", { class: "subtle" }, zone.kind + " zone · serial ", el("span", { class: "mono", id: "zone-serial" }, zone.serial),
          " · ", el("a", { href: "#", id: "zone-export", onclick: (ev) => { ev.preventDefault(); exportZone(zone); } }, "Export zone file"))),
      filter),
    dnssecCard(zone),
    addRecordForm(zone, records),
    el("div", { class: "table-wrap" }, el("table", { id: "records" },
      el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "Type"), el("th", {}, "TTL"),
                          el("th", {}, "Content"), el("th", {}, "State"), el("th", {}))),
      tbody)));
  render();
}

/** The zone's DNSSEC state: its keys and the DS records to give the parent
 *  (GET cryptokeys, never the private keys), or a button that signs it. */
function dnssecCard(zone) {
  const card = el("div", { class: "card", id: "zone-dnssec" });
  if (!zone.dnssec) {
    const button = el("button", { type: "button", id: "dnssec-enable" }, "Sign this zone");
    button.addEventListener("click", async () => {
      if (!confirm("Sign " + zone.name + " with a new KSK and ZSK at every site?")) return;
      button.disabled = true;
      try {
        await api("PUT", zonePath(zone.id), { dnssec: true });
        flash("Signed " + zone.name + "; give the parent the DS record shown.");
        await showZone(zone.id);
      } catch (e) {
        button.disabled = false;
        flash(e.message, true);
      }
    });
    card.replaceChildren(el("div", { class: "row center" },
      el("div", { class: "grow" }, "DNSSEC: not signed"), button));
    return card;
  }
  card.replaceChildren(el("div", {}, "DNSSEC: loading keys…"));
  api("GET", zonePath(zone.id) + "/cryptokeys").then((keys) => {
    const denial = zone.nsec3param ? "NSEC3 " + zone.nsec3param : "NSEC";
    const rows = keys.map((k) => el("tr", { "data-keytype": k.keytype },
      el("td", {}, k.keytype.toUpperCase()), el("td", {}, k.algorithm),
      el("td", {}, (k.published ? "published" : "not published") + ", " + (k.active ? "signing" : "not signing")),
      el("td", { class: "mono" }, k.dnskey)));
    const ds = keys.filter((k) => k.published && k.active && k.ds)
      .map((k) => zone.name + " IN DS " + k.ds[0]);
    card.replaceChildren(
      el("div", { id: "dnssec-state" }, "DNSSEC: signed, " + denial + ", " + keys.length + " key(s)"),
      el("div", { class: "table-wrap" }, el("table", { id: "dnssec-keys" },
        el("thead", {}, el("tr", {}, el("th", {}, "Key"), el("th", {}, "Algorithm"), el("th", {}, "State"),
                            el("th", {}, "DNSKEY"))),
        el("tbody", {}, ...rows))),
      el("div", { class: "subtle" }, "DS for the parent:"),
      el("pre", { class: "mono", id: "dnssec-ds" }, ds.join("\n")));
  }).catch((e) => card.replaceChildren(el("div", { class: "form-error" }, "DNSSEC keys: " + e.message)));
  return card;
}

/** Downloads the zone as a BIND file (fetched with the key header, saved from memory). */
async function exportZone(zone) {
  try {
    const res = await fetch(zonePath(zone.id) + "/export", { headers: { "X-API-Key": apiKey() }, cache: "no-store" });
    if (!res.ok) throw new Error((await res.text()) || res.statusText);
    const url = URL.createObjectURL(new Blob([await res.text()], { type: "text/plain" }));
    const a = el("a", { href: url, download: zone.name.replace(/\.$/, "") + ".zone" });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  } catch (e) {
    flash("Export failed: " + e.message, true);
  }
}

function rrsetOf(records, name, type) {
  return records.filter((r) => r.name === name && r.type === type);
}

/** Makes the rrset (name, type) hold `wanted` records with `ttl`: one PATCH, one transaction. */
async function writeRrset(zone, name, type, ttl, wanted) {
  const change = wanted.length === 0
    ? { name, type, changetype: "DELETE" }
    : { name, type, ttl, changetype: "REPLACE", records: wanted.map((r) => ({ content: r.content, disabled: r.disabled })) };
  await api("PATCH", zonePath(zone.id), { rrsets: [change] });
}

function recordRow(zone, r, records) {
  const tr = el("tr", { class: r.disabled ? "disabled" : "", "data-name": r.name, "data-type": r.type });
  const others = () => rrsetOf(records, r.name, r.type).filter((x) => x !== r);
  const act = async (what, fn) => {
    try {
      await fn();
      flash(what);
      showZone(zone.id);
    } catch (e) {
      flash(e.message, true);
    }
  };
  const view = () => {
    tr.classList.remove("editing");
    tr.replaceChildren(
      el("td", { class: "mono" }, r.name),
      el("td", {}, r.type),
      el("td", { class: "mono" }, r.ttl),
      el("td", { class: "content" }, r.content,
        r.comments.map((c) => el("div", { class: "comment" }, c.content + (c.account ? " — " + c.account : "")))),
      el("td", {}, r.disabled ? el("span", { class: "pill warn" }, "disabled") : el("span", { class: "pill ok" }, "served")),
      el("td", { class: "actions" },
        el("button", { class: "secondary small", type: "button", onclick: edit }, "Edit"),
        r.type === "SOA" ? null : el("button", { class: "secondary small", type: "button",
          onclick: () => act(r.disabled ? "Record enabled." : "Record disabled.", () =>
            writeRrset(zone, r.name, r.type, r.ttl, [...others(), { content: r.content, disabled: !r.disabled }])) },
          r.disabled ? "Enable" : "Disable"),
        r.type === "SOA" ? null : el("button", { class: "danger small", type: "button",
          onclick: () => confirm("Delete " + r.name + " " + r.type + " " + r.content + "?") &&
            act("Record deleted.", () => writeRrset(zone, r.name, r.type, r.ttl, others())) }, "Delete")));
  };
  const edit = () => {
    tr.classList.add("editing");
    const ttl = el("input", { type: "number", min: 0, value: r.ttl, size: 7 });
    const content = el("input", { value: r.content, "data-wide": "1" });
    const save = async (ev) => {
      ev.preventDefault();
      clearErrors(tr);
      const t = parseInt(ttl.value, 10);
      try {
        await writeRrset(zone, r.name, r.type, Number.isNaN(t) ? r.ttl : t,
                         [...others(), { content: content.value, disabled: r.disabled }]);
        flash("Record saved.");
        showZone(zone.id);
      } catch (e) {
        showFieldError("edit", fieldOf(e.message) === "ttl" ? "ttl" : "content", e.message);
      }
    };
    tr.replaceChildren(
      el("td", { class: "mono" }, r.name),
      el("td", {}, r.type),
      el("td", {}, field("TTL", ttl, "edit-ttl")),
      el("td", { class: "content" }, field("Content", content, "edit-content")),
      el("td", {}),
      el("td", { class: "actions" },
        el("button", { class: "small", type: "button", id: "edit-save", onclick: save }, "Save"),
        el("button", { class: "secondary small", type: "button", onclick: view }, "Cancel")));
    content.addEventListener("keydown", (ev) => { if (ev.key === "Enter") save(ev); });
    content.focus();
  };
  view();
  return tr;
}

function addRecordForm(zone, records) {
  const name = el("input", { placeholder: "www (or @ for " + zone.name + ")", "data-wide": "1" });
  const type = el("select", {}, ...TYPES.filter((t) => t !== "SOA").map((t) => el("option", { value: t }, t)));
  const ttl = el("input", { type: "number", min: 0, value: 3600 });
  const content = el("input", { placeholder: "192.0.2.10", "data-wide": "1" });
  const error = el("div", { class: "form-error", role: "alert", id: "add-error" });
  const placeholders = { A: "192.0.2.10", AAAA: "2001:db8::10", CNAME: "target.example.com.", MX: "10 mail.example.com.",
                         TXT: "\"v=spf1 -all\"", NS: "ns1.example.net.", SRV: "10 5 443 host.example.com.",
                         CAA: "0 issue \"letsencrypt.org\"", PTR: "host.example.com." };
  type.addEventListener("change", () => { content.placeholder = placeholders[type.value] || ""; });
  const form = el("form", { class: "card", id: "add-form" },
    el("h2", {}, "Add a record"),
    el("div", { class: "row" },
      field("Name", name, "add-name"),
      field("Type", type, "add-type"),
      field("TTL", ttl, "add-ttl"),
      field("Content", content, "add-content"),
      el("div", { class: "form-actions" }, el("button", { type: "submit", id: "add-submit" }, "Add record"))),
    el("div", { class: "subtle" }, "Names are relative to the zone unless they end with a dot. The TTL applies to the whole RRset."),
    error);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const owner = absolute(name.value, zone.name);
    const t = parseInt(ttl.value, 10);
    if (Number.isNaN(t)) { showFieldError("add", "ttl", "The TTL is a number of seconds."); return; }
    if (!content.value.trim()) { showFieldError("add", "content", "Give the record's content."); return; }
    const existing = rrsetOf(records, owner, type.value);
    try {
      await writeRrset(zone, owner, type.value, t, [...existing, { content: content.value, disabled: false }]);
      flash("Record added: " + owner + " " + type.value + ".");
      showZone(zone.id);
    } catch (e) {
      showFieldError("add", fieldOf(e.message), e.message);
    }
  });
  return form;
}

// ---- cluster ------------------------------------------------------------------------

async function showCluster() {
  const tbody = el("tbody", { id: "cluster-rows" });
  const summary = el("p", { class: "subtle", id: "cluster-summary" });
  setMain(
    el("h1", {}, "Cluster"),
    summary,
    el("div", { class: "table-wrap" }, el("table", { id: "cluster" },
      el("thead", {}, el("tr", {}, el("th", {}, "Site"), el("th", {}, "Link"), el("th", {}, "Last contact"),
                          el("th", {}, "Changes it lacks"), el("th", {}, "Lag (s)"), el("th", {}, "Clock offset (ms)"),
                          el("th", {}, "Last error"))),
      tbody)),
    el("p", { class: "subtle" }, "Lag: how many of this site's changes each peer has not acknowledged yet, and the age of the oldest; as this site's replicator reports it. Refreshed every 2 seconds."));
  const load = async () => {
    try {
      const c = await api("GET", "/api/v1/cluster");
      summary.textContent = "You are on " + c.node + ". Changes applied here: " +
        Object.entries(c.version_vector || {}).map(([o, s]) => o + " #" + s).join(", ") +
        ". Apply errors: " + c.apply_errors + ", conflicts settled: " + c.conflicts + ".";
      tbody.replaceChildren(...c.sites.map((s) => el("tr", { "data-site": s.node },
        el("td", {}, el("strong", {}, s.node), " ", s.self ? el("span", { class: "pill you" }, "you are here") : null),
        el("td", {}, s.self ? "—" : s.connected ? el("span", { class: "pill ok" }, "connected") : el("span", { class: "pill bad" }, "down")),
        el("td", { class: "mono" }, s.self ? "—" : (s.last_contact || "never")),
        el("td", { class: "mono" }, s.self ? "—" : s.changes_behind),
        el("td", { class: "mono" }, s.self ? "—" : Number(s.seconds_behind).toFixed(1)),
        el("td", { class: "mono" }, s.self || s.clock_offset_ms === null || s.clock_offset_ms === undefined ? "—" : s.clock_offset_ms),
        el("td", { class: "content" }, s.last_error || ""))));
    } catch (e) {
      flash(e.message, true);
    }
  };
  await load();
  refreshTimer = setInterval(load, 2000);
}

// ---- start --------------------------------------------------------------------------

document.getElementById("sign-out").addEventListener("click", () => signOut("Signed out."));
window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  if (apiKey()) enter().catch(() => showSignIn());
  else showSignIn();
});
