// The web UI in headless Debian chromium (playwright-core) against a real
// 2-site cluster: sign in, create a zone, add a record and see it answered
// over DNS at the other site; an invalid record shows the server's error
// beside its field; a TXT record holding markup is shown as text; edit,
// disable, delete, import, search and the cluster page.
//
// Run by tests/e2e/run.sh (ctest: e2e.web_ui). With ZONEMESH_E2E_CLUSTER set
// to a cluster's JSON file it uses that cluster instead of starting one.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const modules = process.env.ZONEMESH_E2E_MODULES;
if (!modules) throw new Error("set ZONEMESH_E2E_MODULES to a node_modules with playwright-core (tests/e2e/run.sh does)");
const { chromium } = createRequire(path.join(modules, "/"))("playwright-core");

function startCluster() {
  if (process.env.ZONEMESH_E2E_CLUSTER) {
    return { info: JSON.parse(readFileSync(process.env.ZONEMESH_E2E_CLUSTER, "utf8")), stop() {} };
  }
  const dir = mkdtempSync(path.join(tmpdir(), "zonemesh-e2e-"));
  const cluster = path.join(repo, "scripts", "cluster");
  const out = execFileSync(cluster, ["up", "--fast", "--sites", "2", "--dir", dir],
                           { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  return {
    info: JSON.parse(out),
    stop() {
      try {
        execFileSync(cluster, ["down", "--remove", "--dir", dir], { stdio: "ignore" });
      } catch {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

function dig(site, args) {
  try {
    return execFileSync("dig", ["+time=2", "+tries=1", "@127.0.0.1", "-p", String(site.dns_port), "+short", ...args],
                        { encoding: "utf8" }).trim();
  } catch (e) {
    return "dig failed: " + e.message;
  }
}

async function digUntil(site, args, expected, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  let out;
  do {
    out = dig(site, args);
    if (out === expected) return out;
    await new Promise((r) => setTimeout(r, 100));
  } while (Date.now() < deadline);
  return out;
}

test("web UI", { timeout: 300000 }, async (t) => {
  const cluster = startCluster();
  const [site1, site2] = cluster.info.sites;
  const browser = await chromium.launch({
    executablePath: process.env.ZONEMESH_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("dialog", (d) => d.accept());
  const requestedUrls = [];
  page.on("request", (r) => requestedUrls.push(r.url()));
  const rowOf = (name, type) => page.locator(`#record-rows tr[data-name="${name}"][data-type="${type}"]`);
  const addRecord = async (name, type, ttl, content) => {
    await page.fill("#add-name", name);
    await page.selectOption("#add-type", type);
    await page.fill("#add-ttl", String(ttl));
    await page.fill("#add-content", content);
    await page.click("#add-submit");
  };

  try {
    await t.test("a wrong key is refused, the right one signs in", async () => {
      await page.goto(site1.web_ui);
      await page.fill("#signin-key", "not-the-key");
      await page.click("#signin-submit");
      await page.waitForFunction(() => document.querySelector("#signin-error")?.textContent === "That key was refused.");
      await page.fill("#signin-key", site1.api_key);
      await page.click("#signin-submit");
      await page.waitForSelector("#newzone-form");
      assert.equal(await page.textContent("#site-badge"), "site site1");
    });

    await t.test("create a zone", async () => {
      await page.fill("#newzone-name", "e2e.test");
      await page.fill("#newzone-ns", "ns1.e2e.test ns2.e2e.test");
      await page.click("#newzone-submit");
      await page.waitForSelector("#zone-title");
      assert.equal(await page.textContent("#zone-title"), "e2e.test.");
      assert.equal(await rowOf("e2e.test.", "NS").count(), 2);
      assert.equal(await digUntil(site2, ["e2e.test", "NS"], "ns1.e2e.test.\nns2.e2e.test."),
                   "ns1.e2e.test.\nns2.e2e.test.");
    });

    await t.test("add a record; the other site answers it over DNS", async () => {
      await addRecord("www", "A", 300, "192.0.2.44");
      await rowOf("www.e2e.test.", "A").waitFor();
      assert.match(await rowOf("www.e2e.test.", "A").textContent(), /192\.0\.2\.44/);
      assert.equal(await digUntil(site2, ["www.e2e.test", "A"], "192.0.2.44"), "192.0.2.44");
      assert.equal(dig(site1, ["www.e2e.test", "A"]), "192.0.2.44");
    });

    await t.test("sign the zone; its keys and DS are shown and the other site serves them", async () => {
      await page.click("#dnssec-enable");
      await page.waitForFunction(() => /^e2e\.test\. IN DS \d+ 13 2 [0-9A-F]{64}$/.test(
        document.querySelector("#dnssec-ds")?.textContent || ""));
      assert.match(await page.textContent("#dnssec-state"), /^DNSSEC: signed, NSEC, 2 key\(s\)$/);
      assert.equal(await page.locator("#dnssec-keys tbody tr").count(), 2);
      const shown = (await page.locator("#dnssec-keys td.mono").allTextContents()).sort().join("\n");
      const deadline = Date.now() + 20000;
      let served;
      do {
        served = dig(site2, ["e2e.test", "DNSKEY"]).split("\n")
          .map((l) => { const f = l.split(" "); return f.slice(0, 3).join(" ") + " " + f.slice(3).join(""); })
          .sort().join("\n");
        if (served === shown) break;
        await new Promise((r) => setTimeout(r, 100));
      } while (Date.now() < deadline);
      assert.equal(served, shown);
      assert.match(dig(site2, ["+dnssec", "www.e2e.test", "A"]), /^192\.0\.2\.44\nA 13 3 300 /);
    });

    await t.test("an invalid record shows the server's error beside its field", async () => {
      await addRecord("bad", "A", 300, "192.0.2");
      await page.waitForFunction(() => document.querySelector("#add-content-error")?.textContent !== "");
      assert.equal(await page.textContent("#add-content-error"),
                   'A content of bad.e2e.test "192.0.2" is not an IPv4 address');
      // Beside the field: in the same form field box, right under the input.
      assert.equal(await page.evaluate(() => document.querySelector("#add-content-error").previousElementSibling.id),
                   "add-content");
      assert.ok(await page.locator("#add-content.invalid").count() === 1);
      assert.equal(await rowOf("bad.e2e.test.", "A").count(), 0);
      assert.equal(dig(site1, ["bad.e2e.test", "A"]), "");
      // A CNAME beside other data: the database's rule, shown the same way.
      await addRecord("www", "CNAME", 300, "elsewhere.example.");
      await page.waitForFunction(() => /CNAME cannot coexist/.test(document.querySelector("#add-content-error")?.textContent || ""));
    });

    await t.test("a TXT record holding markup is shown as text", async () => {
      const markup = "<img src=x onerror=window.__xss=1><b id=injected>bold</b>";
      await addRecord("xss", "TXT", 300, markup);
      await rowOf("xss.e2e.test.", "TXT").waitFor();
      const cell = await rowOf("xss.e2e.test.", "TXT").locator("td.content").textContent();
      assert.equal(cell, '"' + markup + '"');
      assert.equal(await page.locator("#injected").count(), 0);
      assert.equal(await page.locator("#record-rows img").count(), 0);
      assert.equal(await page.evaluate(() => window.__xss), undefined);
      assert.equal(await digUntil(site2, ["xss.e2e.test", "TXT"], '"' + markup + '"'), '"' + markup + '"');
    });

    await t.test("rrset comments are shown as text; the zone exports as a file", async () => {
      const api = (method, url, body) => fetch(new URL(url, site1.web_ui), {
        method, headers: { "X-API-Key": site1.api_key, "Content-Type": "application/json" },
        body: body && JSON.stringify(body) });
      const r = await api("PATCH", "/api/v1/servers/localhost/zones/e2e.test.", { rrsets: [{
        name: "www.e2e.test.", type: "A", changetype: "REPLACE",
        comments: [{ content: "<i id=injected2>front</i>", account: "ops" }] }] });
      assert.equal(r.status, 204);
      await page.reload();
      await rowOf("www.e2e.test.", "A").waitFor();
      assert.equal(await rowOf("www.e2e.test.", "A").locator(".comment").textContent(), "<i id=injected2>front</i> — ops");
      assert.equal(await page.locator("#injected2").count(), 0);
      const [download] = await Promise.all([page.waitForEvent("download"), page.click("#zone-export")]);
      assert.equal(download.suggestedFilename(), "e2e.test.zone");
      const text = readFileSync(await download.path(), "utf8");
      assert.match(text, /www\.e2e\.test\.\s+300\s+IN\s+A\s+192\.0\.2\.44/);
    });

    await t.test("edit, disable, enable and delete a record", async () => {
      await rowOf("www.e2e.test.", "A").locator("button", { hasText: "Edit" }).click();
      await page.fill("#edit-content", "192.0.2.45");
      await page.click("#edit-save");
      await page.waitForFunction(() => /192\.0\.2\.45/.test(document.querySelector('#record-rows tr[data-name="www.e2e.test."][data-type="A"]')?.textContent || ""));
      assert.equal(await digUntil(site2, ["www.e2e.test", "A"], "192.0.2.45"), "192.0.2.45");

      await rowOf("www.e2e.test.", "A").locator("button", { hasText: "Disable" }).click();
      await page.waitForSelector('#record-rows tr.disabled[data-name="www.e2e.test."]');
      assert.equal(await digUntil(site1, ["www.e2e.test", "A"], ""), "");
      await rowOf("www.e2e.test.", "A").locator("button", { hasText: "Enable" }).click();
      await page.waitForSelector('#record-rows tr:not(.disabled)[data-name="www.e2e.test."]');
      assert.equal(await digUntil(site1, ["www.e2e.test", "A"], "192.0.2.45"), "192.0.2.45");

      await rowOf("www.e2e.test.", "A").locator("button", { hasText: "Delete" }).click();
      await rowOf("www.e2e.test.", "A").waitFor({ state: "detached" });
      assert.equal(await digUntil(site2, ["www.e2e.test", "A"], ""), "");
    });

    await t.test("import a pasted BIND zone file; search the zone list", async () => {
      await page.click('a[data-nav="zones"]');
      await page.click("summary");
      await page.fill("#import-name", "imported.test");
      await page.fill("#import-text", "$ORIGIN imported.test.\n$TTL 600\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n" +
                                      "@ IN NS ns1\nns1 IN A 192.0.2.53\nmail IN MX 10 ns1\n");
      await page.click("#import-submit");
      await page.waitForSelector("#zone-title");
      assert.equal(await page.textContent("#zone-title"), "imported.test.");
      await rowOf("mail.imported.test.", "MX").waitFor();
      assert.equal(await digUntil(site2, ["mail.imported.test", "MX"], "10 ns1.imported.test."), "10 ns1.imported.test.");

      await page.click('a[data-nav="zones"]');
      await page.waitForSelector('#zone-rows tr[data-zone="imported.test."]');
      await page.fill("#zone-search", "impor");
      assert.equal(await page.locator("#zone-rows tr[data-zone]").count(), 1);
      assert.equal(await page.locator('#zone-rows tr[data-zone="imported.test."]').count(), 1);
      await page.fill("#zone-search", "");
      assert.equal(await page.locator("#zone-rows tr[data-zone]").count(), 2);
    });

    await t.test("a broken zone file shows the parser's error beside the text", async () => {
      await page.click("summary");
      await page.fill("#import-name", "broken.test");
      await page.fill("#import-text", "$ORIGIN broken.test.\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\nwww IN A not-an-address\n");
      await page.click("#import-submit");
      await page.waitForFunction(() => (document.querySelector("#import-text-error")?.textContent || "") !== "");
      assert.match(await page.textContent("#import-text-error"), /not-an-address|line|www/);
    });

    await t.test("the cluster page shows both sites, which one you are on and the lag", async () => {
      await page.click('a[data-nav="cluster"]');
      await page.waitForSelector('#cluster-rows tr[data-site="site2"]');
      assert.match(await page.locator('#cluster-rows tr[data-site="site1"]').textContent(), /you are here/);
      await page.waitForFunction(() => /connected/.test(document.querySelector('#cluster-rows tr[data-site="site2"]')?.textContent || ""),
                                 null, { timeout: 20000 });
      assert.match(await page.textContent("#cluster-summary"), /You are on site1/);
    });

    await t.test("delete a zone", async () => {
      await page.click('a[data-nav="zones"]');
      await page.locator('#zone-rows tr[data-zone="e2e.test."] button', { hasText: "Delete" }).click();
      await page.locator('#zone-rows tr[data-zone="e2e.test."]').waitFor({ state: "detached" });
      assert.equal(await digUntil(site2, ["e2e.test", "NS"], ""), "");
    });

    await t.test("the key never travels in a URL, and the page raised no error", async () => {
      for (const u of requestedUrls) assert.ok(!u.includes(site1.api_key), u);
      assert.ok(!page.url().includes(site1.api_key));
      assert.deepEqual(pageErrors, []);
      if (process.env.ZONEMESH_E2E_SCREENSHOTS) {
        await page.click('a[data-nav="zones"]');
        await page.locator('#zone-rows a', { hasText: "imported.test." }).click();
        await page.waitForSelector("#zone-title");
        await page.screenshot({ path: path.join(process.env.ZONEMESH_E2E_SCREENSHOTS, "zone.png") });
      }
    });
  } finally {
    await browser.close();
    cluster.stop();
  }
});
