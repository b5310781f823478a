// Browser test of a class: the real `socketlab serve` with an operator token and a one-step lab
// of its own, a class created over the API, a student joining in one browser context and
// passing the lab's step, and the instructor page in a second context seeing that cell turn
// complete without a reload. Then the resume link in a third context, the student's work on a
// click (with the exchange they shared), the CSV, removing a student and closing the class, and
// the student page's refusals. Any console error or page error fails the test. Screenshots land
// in tests/browser/artifacts/.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { createSocket } from "node:dgram";
import { mkdirSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const artifacts = path.join(here, "artifacts");
mkdirSync(artifacts, { recursive: true });
const bin = process.env.SOCKETLAB_BIN;
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const WAIT = 10_000;
const TOKEN = "operator-token-of-the-browser-test";

// A lab of one step, so that one passed step completes its cell.
const LAB = `id = "one-datagram"
title = { en = "One datagram", zh = "一个数据报" }
summary = { en = "Send one UDP message.", zh = "发送一条 UDP 消息。" }

[[step]]
id = "send"
title = { en = "Send it", zh = "发送" }
instructions = { en = "Send a UDP message.", zh = "发送一条 UDP 消息。" }

[[step.action]]
label = { en = "Send one datagram", zh = "发送一个数据报" }
protocol = "udp"
message = "one datagram"

[[step.observation]]
id = "udp"
prompt = { en = "A UDP exchange", zh = "一次 UDP 交换" }
kind = "udp_exchange"
`;

let gw;
let browser;
let dir;
let upper;

/** A UDP server of the student's own, upper-casing each datagram: the listed check target. */
function startUpperServer() {
  const sock = createSocket("udp4");
  sock.on("message", (msg, from) => sock.send(Buffer.from(msg.toString().toUpperCase()), from.port, from.address));
  return new Promise((resolve, reject) => {
    sock.once("error", reject);
    sock.bind(0, "127.0.0.1", () => resolve(sock));
  });
}

/** Starts the gateway; resolves with its URL and process once the ready line is out. */
function startGateway() {
  assert.ok(bin, "SOCKETLAB_BIN must name the socketlab binary (cargo xtask test sets it)");
  const child = spawn(
    bin,
    ["serve", "--http", "127.0.0.1:0", "--udp-port", "0", "--tcp-port", "0", "--labs-dir", path.join(dir, "labs"),
      "--config", path.join(dir, "socketlab.toml")],
    {
      env: {
        ...process.env,
        SOCKETLAB_RATE_PER_SEC: "1000",
        SOCKETLAB_BURST: "1000",
        SOCKETLAB_DATA_DIR: path.join(dir, "data"),
        SOCKETLAB_INSTRUCTOR_TOKEN: TOKEN,
      },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no ready line from socketlab serve")), WAIT);
    child.on("error", reject);
    createInterface({ input: child.stdout }).once("line", (line) => {
      clearTimeout(timer);
      const m = line.match(/ready at (http:\/\/[^/]+)\//);
      if (!m) return reject(new Error(`unexpected ready line: ${line}`));
      resolve({ url: m[1], child });
    });
  });
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "socketlab-class-"));
  mkdirSync(path.join(dir, "labs"));
  writeFileSync(path.join(dir, "labs", "one-datagram.toml"), LAB);
  upper = await startUpperServer();
  writeFileSync(path.join(dir, "socketlab.toml"), `[targets]\nada-server = "127.0.0.1:${upper.address().port}"\n`);
  gw = await startGateway();
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
      "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  upper?.close();
  if (gw && gw.child.exitCode === null) {
    const exited = new Promise((resolve) => gw.child.once("exit", resolve));
    gw.child.kill("SIGTERM");
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A page in a context of its own (its own cookies), watched for errors. */
async function open(problems, url) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on("console", (msg) => {
    if (msg.type() === "error" && !/status of 40\d/.test(msg.text())) problems.push(`console: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  await page.goto(gw.url + url);
  return page;
}

async function createClass(name) {
  const res = await fetch(gw.url + "/api/v1/classes", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ name }),
  });
  const body = await res.json();
  assert.equal(res.status, 201, JSON.stringify(body));
  return body;
}

async function join(page, code, name) {
  const region = page.getByRole("region", { name: "Class" });
  await region.getByLabel("Join code").fill(code);
  await region.getByLabel("Your name").fill(name);
  await region.getByRole("button", { name: "Join a class" }).click();
  return region;
}

test("a student's passed step turns the instructor's cell complete, live", async () => {
  const problems = [];
  const made = await createClass("Networks 101");
  assert.match(made.instructor_url, new RegExp(`^(${gw.url})?/instructor/${made.id}#key=`));
  const teacher = await open(problems, made.instructor_url.replace(gw.url, ""));
  const header = await teacher.locator("#header h1").textContent({ timeout: WAIT });
  assert.equal(header, "Networks 101");
  assert.equal(await teacher.locator("#join-code").textContent(), made.join_code);
  // The secret leaves the address bar (and the history), kept in the tab for reloads.
  assert.equal(teacher.url(), `${gw.url}/instructor/${made.id}`, "no key in the address");
  assert.equal(await teacher.evaluate(() => location.hash), "");
  const kept = await teacher.evaluate((id) => sessionStorage.getItem(`socketlab.instructor.${id}`), made.id);
  assert.equal(kept, made.secret, "the tab keeps the secret");
  await teacher.getByText("No student has joined yet").waitFor({ timeout: WAIT });
  await teacher.locator("#live.on").waitFor({ timeout: WAIT });
  // Anything that reloads the instructor page loses this.
  await teacher.evaluate(() => { window.notReloaded = true; });

  const student = await open(problems, "/");
  await student.locator("#status", { hasText: "Connected" }).waitFor({ timeout: WAIT });
  await student.getByText("Not in a class").waitFor({ timeout: WAIT });
  const region = await join(student, made.join_code, "Ada");
  await student.locator("#class-badge", { hasText: "Ada · Networks 101" }).waitFor({ timeout: WAIT });
  // The resume link is a credential: on screen only when asked for.
  assert.equal(await region.getByLabel("Your personal resume link").count(), 0, "the link is not shown unasked");
  await region.getByRole("button", { name: "Show my resume link" }).click();
  const resume = await region.getByLabel("Your personal resume link").inputValue();
  assert.match(resume, new RegExp(`^${gw.url}/resume/\\S+$`));
  assert.equal(await region.locator("#join-form").isHidden(), true, "the form goes once joined");
  await student.screenshot({ path: path.join(artifacts, "student-joined.png"), fullPage: true });

  const rowOf = (name) => teacher.locator("#grid tbody tr", { has: teacher.locator("th[scope=row]", { hasText: new RegExp(`^${name}$`) }) });
  const row = rowOf("Ada");
  const cell = row.locator("button.cell[data-lab='one-datagram']");
  await cell.waitFor({ timeout: WAIT });
  assert.equal(await cell.getAttribute("data-state"), "none");

  // "Check my program" right after joining counts for the student: the page's WebSocket,
  // opened before the join, was opened again with the class cookie.
  await student.locator("#status", { hasText: "Connected" }).waitFor({ timeout: WAIT });
  const panel = student.getByRole("region", { name: "Check my program" });
  await panel.getByLabel("Program").selectOption("udp-server");
  await panel.getByRole("button", { name: "Run the check" }).click();
  const summary = panel.locator(".check-summary.passed, .check-summary.failed");
  await summary.waitFor({ timeout: 30_000 });
  const score = (await summary.textContent()).match(/(\d+) points of (\d+)/);
  assert.ok(score, "the report states a score");
  // The column is there from the start ("–"): the cell must come to show this score, live.
  const checkCell = row.locator("td.check[data-program='udp-server']", { hasText: `${score[1]}/${score[2]}` });
  await checkCell.waitFor({ timeout: WAIT });
  assert.equal(await teacher.evaluate(() => window.notReloaded), true, "no reload");

  const labs = student.getByRole("region", { name: "Labs" });
  await labs.getByRole("button", { name: /One datagram/ }).click();
  await labs.getByRole("button", { name: "Send one datagram" }).click();
  await student.getByRole("region", { name: "Reply" }).getByText("ONE DATAGRAM").waitFor({ timeout: WAIT });
  await labs.getByRole("button", { name: "Check", exact: true }).click();
  await labs.locator(".lab-verdict.passed").waitFor({ timeout: WAIT });
  // The exchange is shared: it is saved against the student.
  await student.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: gw.url });
  const reply = student.getByRole("region", { name: "Reply" });
  await reply.getByRole("button", { name: "Share" }).click();
  await reply.getByText("Link copied").waitFor({ timeout: WAIT });
  const shared = new URL(await student.locator("#share-link").inputValue()).pathname;
  assert.match(shared, /^\/x\/[A-Za-z0-9]{16}$/);

  await teacher.locator("#grid tr button.cell[data-lab='one-datagram'][data-state='complete']").waitFor({ timeout: WAIT });
  assert.equal(await cell.textContent(), "1/1");
  assert.equal(await teacher.evaluate(() => window.notReloaded), true, "no reload");
  await teacher.screenshot({ path: path.join(artifacts, "instructor-grid.png"), fullPage: true });

  // The class's progress is the gateway's: a reload reads it back, and the browser keeps none.
  await student.reload();
  await student.locator("#class-badge", { hasText: "Ada · Networks 101" }).waitFor({ timeout: WAIT });
  await labs.getByRole("button", { name: /One datagram 100% done/ }).waitFor({ timeout: WAIT });
  assert.equal(await student.evaluate(() => localStorage.getItem("socketlab.labs")), null);

  // The resume link continues in another browser, with the same progress, once its page's
  // question is answered.
  const elsewhere = await open(problems, resume.replace(gw.url, ""));
  await elsewhere.getByRole("heading", { name: "Continue as Ada (Networks 101)?" }).waitFor({ timeout: WAIT });
  await elsewhere.getByRole("button", { name: "Continue as Ada" }).click();
  await elsewhere.locator("#class-badge", { hasText: "Ada · Networks 101" }).waitFor({ timeout: WAIT });
  assert.equal(new URL(elsewhere.url()).pathname, "/", "the link leads to the playground");
  const labsThere = elsewhere.getByRole("region", { name: "Labs" });
  await labsThere.getByRole("button", { name: /One datagram 100% done/ }).waitFor({ timeout: WAIT });
  await elsewhere.context().close();

  // A click on the cell shows the student's work.
  await cell.click();
  await teacher.locator("#student h2", { hasText: "Ada · One datagram" }).waitFor({ timeout: WAIT });
  await teacher.locator("#student").getByText("Saved exchanges").waitFor({ timeout: WAIT });
  await teacher.locator(`#student a[href='${shared}']`).waitFor({ timeout: WAIT });
  assert.doesNotMatch(await teacher.locator("#student").textContent(), /Loading…/);

  // The CSV, downloaded with the instructor's cookie.
  const href = await teacher.locator("#csv").getAttribute("href");
  const csv = await teacher.evaluate(async (url) => {
    const r = await fetch(url);
    return { status: r.status, type: r.headers.get("content-type"), text: await r.text() };
  }, href);
  assert.equal(csv.status, 200, csv.text);
  assert.match(csv.type, /^text\/csv/);
  assert.match(csv.text, /Ada/);

  // Another student: a taken name, then a wrong code, each said in words.
  const other = await open(problems, "/");
  await other.locator("#status", { hasText: "Connected" }).waitFor({ timeout: WAIT });
  const second = await join(other, made.join_code, "ada");
  await second.getByText("already has that name").waitFor({ timeout: WAIT });
  await join(other, "NO-SUCH-CODE", "Bo");
  await second.getByText("No class has that join code").waitFor({ timeout: WAIT });
  await join(other, made.join_code, "Bo");
  await other.locator("#class-badge", { hasText: "Bo · Networks 101" }).waitFor({ timeout: WAIT });
  const bo = rowOf("Bo");
  await bo.waitFor({ timeout: WAIT });

  // Removing asks first; the removed student's page offers to join again.
  await bo.getByRole("button", { name: "Remove" }).click();
  await teacher.getByText("Remove Bo from the class?").waitFor({ timeout: WAIT });
  await teacher.getByRole("button", { name: "Yes" }).click();
  await bo.waitFor({ state: "detached", timeout: WAIT });
  await other.reload();
  await other.getByText("Your class session has ended").waitFor({ timeout: WAIT });
  // The refused cookie is forgotten: the next visit is an ordinary one.
  const hasCookie = async () => (await other.context().cookies()).some((c) => c.name === "socketlab_student");
  for (let i = 0; i < 50 && (await hasCookie()); i++) await other.waitForTimeout(100);
  assert.equal(await hasCookie(), false, "the removed student's cookie is cleared");
  await other.reload();
  await other.getByText("Not in a class").waitFor({ timeout: WAIT });

  // Closing asks first; then nobody joins.
  await teacher.getByRole("button", { name: "Close the class" }).click();
  await teacher.getByRole("button", { name: "Yes" }).click();
  await teacher.locator("#class-state[data-closed=true]").waitFor({ timeout: WAIT });
  await join(other, made.join_code, "Cy");
  await other.getByText("This class is closed").waitFor({ timeout: WAIT });

  // The instructor page in Chinese, and back.
  await teacher.getByRole("button", { name: "中文" }).click();
  await teacher.getByText("已关闭：不再接受新学生").waitFor({ timeout: WAIT });
  assert.equal(await teacher.locator("html").getAttribute("lang"), "zh");
  await teacher.getByRole("button", { name: "English" }).click();
  await teacher.getByText("closed: no new students").waitFor({ timeout: WAIT });

  // A reload, with no key in the address, still shows the class.
  await teacher.reload();
  assert.equal(await teacher.locator("#header h1").textContent({ timeout: WAIT }), "Networks 101");
  await teacher.locator("#class-state[data-closed=true]").waitFor({ timeout: WAIT });
  assert.equal(new URL(teacher.url()).hash, "");

  // Every page comes with the browser's defences; any CSP violation above was a console error.
  for (const url of ["/", `/x/${shared.slice(3)}`, `/instructor/${made.id}`]) {
    const h = (await teacher.request.get(gw.url + url)).headers();
    assert.match(h["content-security-policy"], /script-src 'self' 'wasm-unsafe-eval'/, url);
    assert.match(h["content-security-policy"], /frame-ancestors 'none'/, url);
    assert.equal(h["x-content-type-options"], "nosniff", url);
  }

  // Without its key, the instructor page says what it needs.
  const keyless = await open(problems, `/instructor/${made.id}`);
  await keyless.getByText("This page needs the instructor link").waitFor({ timeout: WAIT });
  const served = await keyless.request.get(`${gw.url}/instructor/${made.id}`);
  assert.equal(served.headers()["referrer-policy"], "no-referrer", "the class's address goes nowhere else");

  // Signing out forgets the cookie, and the page's WebSocket is opened again without it.
  await student.getByRole("button", { name: "Sign out" }).click();
  await student.getByText("Not in a class").waitFor({ timeout: WAIT });
  await student.locator("#status", { hasText: "Connected" }).waitFor({ timeout: WAIT });
  const signedIn = async () => (await student.context().cookies()).some((c) => c.name === "socketlab_student");
  for (let i = 0; i < 50 && (await signedIn()); i++) await student.waitForTimeout(100);
  assert.equal(await signedIn(), false, "the student's cookie is cleared");
  await student.reload();
  await student.getByText("Not in a class").waitFor({ timeout: WAIT });

  for (const p of [teacher, student, other, keyless]) await p.context().close();
  assert.deepEqual(problems, [], "no console errors and no page errors");
});
