// Browser tests of the playground: the real `socketlab serve` (built with its wasm UI by
// `cargo xtask test`), Debian's headless Chromium driven by playwright-core, and the Python
// peer client for the live view. Any console error or page error fails the test that saw it.
// Screenshots land in tests/browser/artifacts/.

import { test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
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

/** Starts the gateway; resolves with its URL, ports and process once the ready line is out. */
function startGateway(httpAddr = "127.0.0.1:0", extra = []) {
  assert.ok(bin, "SOCKETLAB_BIN must name the socketlab binary (cargo xtask test sets it)");
  const child = spawn(bin, ["serve", "--http", httpAddr, "--udp-port", "0", "--tcp-port", "0", ...extra], {
    env: {
      ...process.env,
      SOCKETLAB_RATE_PER_SEC: "1000",
      SOCKETLAB_BURST: "1000",
      SOCKETLAB_DATA_DIR: path.join(tmpdir(), `socketlab-browser-data-${process.pid}`),
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no ready line from socketlab serve")), WAIT);
    child.on("error", reject);
    createInterface({ input: child.stdout }).once("line", (line) => {
      clearTimeout(timer);
      const m = line.match(/ready at (http:\/\/[^/]+)\/ \(UDP server on [^:]+:(\d+), TCP server on [^:]+:(\d+)\)/);
      if (!m) return reject(new Error(`unexpected ready line: ${line}`));
      resolve({ url: m[1], udpPort: Number(m[2]), tcpPort: Number(m[3]), child });
    });
  });
}

function stopGateway(gw) {
  return new Promise((resolve) => {
    if (gw.child.exitCode !== null) return resolve(gw.child.exitCode);
    gw.child.once("exit", (code) => resolve(code));
    gw.child.kill("SIGTERM");
  });
}

let gw;
let browser;
let page;
let problems;

before(async () => {
  gw = await startGateway();
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
      "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  if (gw) await stopGateway(gw);
});

beforeEach(async () => {
  problems = [];
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  await page.goto(gw.url + "/");
  await page.locator("#status", { hasText: "Connected" }).waitFor({ timeout: WAIT });
});

afterEach(async (t) => {
  const name = t.name.replace(/[^a-z0-9]+/gi, "-").toLowerCase();
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
  await page.close();
  assert.deepEqual(problems, [], "no console errors and no page errors");
});

async function send(message, protocol) {
  await page.getByLabel("Message").fill(message);
  await page.getByRole("radio", { name: protocol }).check();
  await page.getByRole("button", { name: "Send", exact: true }).click();
}

const reply = () => page.getByRole("region", { name: "Reply" });
const packetLabels = (scope = page) =>
  scope.locator("svg.diagram g.row[data-kind=packet]").evaluateAll((rows) => rows.map((r) => r.dataset.label));
const currentRow = () => page.locator("svg.diagram g.row.current").first();
const highlighted = () => page.locator("#code li.hl");

test("a UDP exchange shows the reply and its datagrams", async () => {
  await send("hello udp", "UDP");
  await reply().getByText("HELLO UDP").waitFor({ timeout: WAIT });
  assert.match(await reply().textContent(), /in \d+\.\d{3} ms/);
  const lanes = await page.locator("svg.diagram .lane").evaluateAll((ls) => ls.map((l) => l.dataset.lane));
  assert.deepEqual(lanes, ["client", "udp"]);
  assert.deepEqual(await packetLabels(), ["UDP Len=9", "UDP Len=9"]);
  const ports = await page.locator("svg.diagram .port").allTextContents();
  assert.ok(ports.includes(`:${gw.udpPort}`), `server port ${gw.udpPort} on the arrows: ${ports}`);
});

test("a TCP exchange draws the handshake, and stepping follows the code", async () => {
  await send("hi tcp", "TCP");
  await reply().getByText("HI TCP").waitFor({ timeout: WAIT });
  const lanes = await page.locator("svg.diagram .lane").evaluateAll((ls) => ls.map((l) => l.dataset.lane));
  assert.deepEqual(lanes, ["client", "welcome", "connection"]);
  const labels = await packetLabels();
  assert.deepEqual(labels.slice(0, 3), ["SYN", "SYN-ACK", "ACK"]);
  assert.ok(labels.includes("PSH, ACK Len=6") && labels.includes("FIN, ACK"), labels.join(" | "));

  assert.equal(await currentRow().getAttribute("data-step"), "0");
  assert.match(await page.locator("#step-label").textContent(), /^Step 1 of \d+$/);
  await page.getByRole("button", { name: "Step", exact: true }).click();
  assert.equal(await currentRow().getAttribute("data-step"), "1");
  assert.equal(await currentRow().getAttribute("data-label"), "SYN");
  assert.match(await highlighted().textContent(), /client\.connect\(/);
  assert.match(await page.locator("#states").textContent(), /SYN_SENT/);

  // The arrow keys walk on; find accept() and check the line behind it.
  await page.locator("h1").click();
  for (let i = 0; i < 12; i++) {
    if ((await currentRow().getAttribute("data-label")).startsWith("accept()")) break;
    await page.keyboard.press("ArrowRight");
  }
  assert.match(await currentRow().getAttribute("data-label"), /^accept\(\) → socket #\d+$/);
  assert.match(await highlighted().textContent(), /welcome\.accept\(\)/);
  assert.match(await page.locator("#inspector").textContent(), /welcome socket hands the client to a new connection socket/);
  assert.match(await page.locator("#states").textContent(), /ESTABLISHED/);

  const step = Number(await currentRow().getAttribute("data-step"));
  await page.getByRole("button", { name: "Step back" }).click();
  assert.equal(Number(await currentRow().getAttribute("data-step")), step - 1);
  await page.getByRole("button", { name: "Rust" }).click();
  await page.keyboard.press("ArrowRight");
  assert.match(await highlighted().textContent(), /welcome\.accept\(\)\?/);
});

test("the server's recvfrom(2048) is the line behind a datagram's arrival", async () => {
  await send("find me", "UDP");
  await reply().getByText("FIND ME").waitFor({ timeout: WAIT });
  await page.locator("svg.diagram g.row[data-label^='recvfrom() → 7 B']").first().click();
  const inspector = await page.locator("#inspector").textContent();
  assert.match(inspector, /recvfrom\(\) returns a 7-byte datagram/);
  assert.match(inspector, /66 69 6e 64 20 6d 65/, "payload as hex");
  // Both the client's and the server's recvfrom rows exist; whichever was clicked, the line is a recvfrom(2048).
  assert.match(await highlighted().textContent(), /recvfrom\(2048\)/);
});

test("play walks to the end and compare draws UDP and TCP side by side", async () => {
  await page.getByLabel("Message").fill("both ways");
  await page.getByRole("button", { name: "Compare UDP and TCP" }).click();
  await reply().getByText("BOTH WAYS").nth(1).waitFor({ timeout: WAIT });
  const transports = await page.locator("svg.diagram").evaluateAll((ss) => ss.map((s) => s.dataset.transport));
  assert.deepEqual(transports, ["udp", "tcp"]);
  await page.getByRole("button", { name: "Play" }).click();
  await page.getByRole("button", { name: "Play" }).waitFor({ timeout: 30_000 });
  const [n, total] = (await page.locator("#step-label").textContent()).match(/\d+/g).map(Number);
  assert.equal(n, total, "play stops on the last step");
  const history = await page.getByRole("region", { name: "History" }).locator("button").allTextContents();
  assert.equal(history.length, 2);
  await page.getByRole("region", { name: "History" }).locator("button", { hasText: "UDP" }).click();
  assert.equal(await page.locator("svg.diagram").count(), 1);
});

test("Play keeps one timer however often it is pressed, and clears it at the end", async () => {
  // Count the page's live intervals and the distinct callbacks it hands to setInterval (a new
  // callback per press is a leaked closure) by wrapping setInterval and clearInterval, then
  // reload so the app starts under the wrappers.
  await page.addInitScript(() => {
    const live = new Set();
    const callbacks = new Set();
    const set = window.setInterval.bind(window);
    const clear = window.clearInterval.bind(window);
    window.setInterval = (fn, ...rest) => { callbacks.add(fn); const id = set(fn, ...rest); live.add(id); return id; };
    window.clearInterval = (id) => { live.delete(id); clear(id); };
    window.liveIntervals = () => live.size;
    window.timerCallbacks = () => callbacks.size;
  });
  await page.reload();
  await page.locator("#status", { hasText: "Connected" }).waitFor({ timeout: WAIT });
  await send("timer", "TCP");
  await reply().getByText("TIMER", { exact: true }).waitFor({ timeout: WAIT });
  const play = page.locator("#play");
  for (let i = 0; i < 9; i++) await play.click();
  assert.equal(await play.textContent(), "Pause", "an odd number of presses leaves it playing");
  assert.equal(await page.evaluate(() => window.liveIntervals()), 1, "one timer while playing");
  assert.equal(await page.evaluate(() => window.timerCallbacks()), 1, "every Play reuses one callback");
  await page.getByRole("button", { name: "Play" }).waitFor({ timeout: 30_000 });
  assert.equal(await page.evaluate(() => window.liveIntervals()), 0, "no timer after the end");
  await play.click();
  await page.getByRole("button", { name: "Step", exact: true }).click();
  assert.equal(await page.evaluate(() => window.liveIntervals()), 0, "stepping stops the timer");
});

test("live view draws an exchange made by a separate Python client", async () => {
  await page.getByLabel("Live view").check();
  // Give the subscription a moment to reach the gateway before the client sends.
  await page.waitForTimeout(300);
  const client = spawnSync("python3", [path.join(here, "../peers/udp_client.py"), String(gw.udpPort)], {
    input: "from a terminal\nend\n",
    encoding: "utf8",
    timeout: WAIT,
  });
  assert.equal(client.status, 0, `python3 udp_client.py failed: ${client.stderr ?? client.error}`);
  assert.match(client.stdout, /FROM A TERMINAL/);
  const live = page.getByRole("region", { name: "Live traffic" });
  await live.locator("button", { hasText: /^udp 127\.0\.0\.1:\d+/ }).first().waitFor({ timeout: WAIT });
  await live.locator("button").first().click();
  await page.locator("svg.diagram g.row[data-label='UDP Len=15']").first().waitFor({ timeout: WAIT });
  assert.deepEqual(await packetLabels(), ["UDP Len=15", "UDP Len=15"]);
});

test("a TCP connection to a closed port shows SYN then RST, with the capture to download", async () => {
  assert.match(await page.locator("#capture").textContent(), /^Packets captured on lo$/);
  await page.getByRole("button", { name: "TCP to a closed port" }).click();
  await reply().getByText(/Nobody listens on that port/).waitFor({ timeout: WAIT });
  assert.match(await reply().textContent(), /SYN was answered with RST/);
  assert.deepEqual(await packetLabels(), ["SYN", "RST, ACK"]);
  const lanes = () => page.locator("svg.diagram .lane").evaluateAll((ls) => ls.map((l) => l.dataset.lane));
  assert.deepEqual(await lanes(), ["client", "closed"], "nothing listens, so no welcome socket");
  assert.doesNotMatch(await page.locator("#timeline").textContent(), /Welcome socket/);
  const captured = await page.locator("svg.diagram g.row[data-kind=packet].inferred").count();
  assert.equal(captured, 0, "captured packets are drawn solid, not as inferred");
  const href = await reply().getByRole("link", { name: "Download pcap" }).getAttribute("href");
  assert.match(href, /^\/api\/v1\/exchanges\/x\d+-[0-9a-f]{16}\/pcapng$/);
  const magic = await page.evaluate(async (url) => {
    const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
    return Array.from(bytes.slice(0, 4));
  }, href);
  assert.deepEqual(magic, [0x0a, 0x0d, 0x0d, 0x0a], "a pcapng section header");
  await page.locator("svg.diagram g.row[data-label='RST, ACK']").click();
  assert.match(await page.locator("#inspector").textContent(), /Captured on the wire/);
  assert.match(await page.locator("#states").textContent(), /CLOSED[\s\S]*CLOSED/);

  await page.getByRole("button", { name: "UDP to a closed port" }).click();
  await reply().getByText(/ICMP port unreachable/).waitFor({ timeout: WAIT });
  assert.deepEqual(await packetLabels(), ["UDP Len=12", "ICMP port unreachable"]);
  assert.deepEqual(await lanes(), ["client", "closed"]);
});

test("losing the SYN-ACK draws it lost, then the kernel's retransmission a second later", async () => {
  await page.getByLabel("Lose a packet").selectOption("drop:syn_ack");
  await send("lose it", "TCP");
  await reply().getByText("LOSE IT").waitFor({ timeout: WAIT });
  const lost = page.locator("svg.diagram g.row.lost[data-kind=packet]");
  assert.equal(await lost.count(), 1, "one packet lost");
  assert.equal(await lost.getAttribute("data-label"), "SYN-ACK");
  assert.equal(await lost.locator("text.lost-label").textContent(), "lost");
  assert.equal(await lost.locator(".cross").count(), 1, "a cross where the arrow stops");
  assert.equal(await lost.locator("line.arrow[marker-end]").count(), 0, "a lost arrow has no head");
  const labels = await packetLabels();
  assert.ok(labels.includes("[TCP Retransmission] SYN-ACK"), labels.join(" | "));
  await page.locator("svg.diagram g.row.retransmission[data-label='[TCP Retransmission] SYN-ACK']").first().click();
  assert.match(await page.locator("#inspector").textContent(), /TCP Retransmission: .* after \d+ ms/);
  // Back to nothing lost: the next exchange is whole.
  await page.getByLabel("Lose a packet").selectOption("");
  await send("whole", "TCP");
  await reply().getByText("WHOLE").waitFor({ timeout: WAIT });
  assert.equal(await page.locator("svg.diagram g.row.lost").count(), 0);
});

test("plain words for mistakes, a Chinese toggle, and keyboard use", async () => {
  await page.getByLabel("Message").fill("");
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await reply().getByText("Type a message first.").waitFor({ timeout: WAIT });

  await page.getByRole("button", { name: "中文" }).click();
  await page.getByRole("button", { name: "发送" }).waitFor({ timeout: WAIT });
  assert.equal(await page.locator("html").getAttribute("lang"), "zh");
  await page.getByRole("button", { name: "English" }).click();

  await page.getByLabel("Message").focus();
  await page.keyboard.type("typed");
  await page.keyboard.press("Enter");
  await reply().getByText("TYPED", { exact: true }).waitFor({ timeout: WAIT });
});

test("the layout holds at 1280x800 and 390x844", async () => {
  await send("layout check", "TCP");
  await reply().getByText("LAYOUT CHECK").waitFor({ timeout: WAIT });
  for (const [width, height] of [[1280, 800], [390, 844]]) {
    await page.setViewportSize({ width, height });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling at ${width}x${height} (overflow ${overflow}px)`);
    for (const name of ["Send", "Step"]) {
      assert.ok(await page.getByRole("button", { name, exact: true }).isVisible(), `${name} visible at ${width}x${height}`);
    }
    await page.screenshot({ path: path.join(artifacts, `layout-${width}x${height}.png`), fullPage: true });
  }
});

test("a 3,000-character message without spaces wraps or elides everywhere", async () => {
  const long = "x".repeat(3000);
  const compare = async (message) => {
    await page.getByLabel("Message").fill(message);
    await page.getByRole("button", { name: "Compare UDP and TCP" }).click();
    await page.waitForFunction(
      (m) => document.querySelectorAll("#reply .answer").length === 2 &&
        document.querySelector("#reply .reply-text").textContent.startsWith(m.toUpperCase().slice(0, 10)),
      message, { timeout: WAIT });
    await page.locator("svg.diagram").nth(1).waitFor({ timeout: WAIT });
  };
  for (const [width, height] of [[1280, 800], [390, 844]]) {
    await page.setViewportSize({ width, height });
    await compare("short");
    const short = await page.evaluate(() => document.documentElement.scrollHeight);
    await compare(long);
    const size = await page.evaluate(() => ({
      width: document.documentElement.scrollWidth, inner: window.innerWidth,
      height: document.documentElement.scrollHeight,
    }));
    await page.screenshot({ path: path.join(artifacts, `long-message-${width}x${height}.png`), fullPage: true });
    assert.ok(size.width <= size.inner, `no horizontal scrolling at ${width}x${height}: ${size.width} > ${size.inner}`);
    // Twice the short message's height: room for the scroll boxes, far from the 7,700 px a
    // wrapped 3,000-character line takes in a narrow column.
    assert.ok(size.height < 2 * short, `page height at ${width}x${height}: ${size.height} px vs ${short} px with a short message`);
    // The diagrams themselves scroll sideways inside their own box on a narrow screen.
    for (const sel of ["#reply", "#history", "#timeline figcaption", "#timeline .diagram-wrap", "#inspector"]) {
      const wide = await page.locator(sel).evaluateAll((els) =>
        els.filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1).length);
      assert.equal(wide, 0, `${sel} stays inside the viewport at ${width}x${height}`);
    }
    const entry = await page.getByRole("region", { name: "History" }).locator("button").first().textContent();
    assert.ok(entry.length < 200 && entry.includes("…"), `History elides: ${entry.length} chars`);
    const caption = await page.locator("#timeline figcaption").first().textContent();
    assert.ok(caption.length < 100 && caption.includes("…"), `the diagram title elides: ${caption}`);
    // The client's sendto(): the inspector holds all 3,000 bytes in a box that scrolls rather
    // than growing.
    await page.locator("svg.diagram").first().locator("g.row[data-label='sendto(3000 B)']").click();
    const payload = page.locator("#inspector pre.payload");
    assert.equal(await payload.textContent(), long);
    const box = await payload.evaluate((el) => ({ client: el.clientHeight, scroll: el.scrollHeight }));
    assert.ok(box.scroll > box.client, `the payload box scrolls (${box.client} of ${box.scroll} px shown)`);
  }
});

test("the page reconnects by itself after the gateway restarts", async () => {
  const port = new URL(gw.url).port;
  await send("before restart", "UDP");
  await reply().getByText("BEFORE RESTART").waitFor({ timeout: WAIT });
  assert.equal(await stopGateway(gw), 0);
  await page.locator("#status", { hasText: "Reconnecting" }).waitFor({ timeout: WAIT });
  gw = await startGateway(`127.0.0.1:${port}`);
  await page.locator("#status", { hasText: "Connected" }).waitFor({ timeout: 20_000 });
  await send("back again", "UDP");
  await reply().getByText("BACK AGAIN").waitFor({ timeout: WAIT });
  // The restarted gateway is another instance: it never kept the first exchange, and the page
  // says so rather than asking it.
  await page.getByRole("button", { name: /before restart/ }).click();
  await reply().getByRole("button", { name: "Share" }).click();
  await reply().getByText("does not keep this exchange, so it cannot be shared").waitFor({ timeout: WAIT });
  // While the gateway was down Chromium itself reports each refused WebSocket attempt; the
  // page threw nothing. Only those browser network reports are excused, nothing else.
  problems = problems.filter((p) => !/^console: WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/api\/v1\/ws' failed/.test(p));
});

/** Starts a lesson-like Python server; resolves with its port and process once it is ready. */
function startPythonServer(script) {
  const child = spawn("python3", ["-u", path.join(here, "../peers", script), "0"], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line from ${script}`)), WAIT);
    child.on("error", reject);
    createInterface({ input: child.stdout }).once("line", (line) => {
      clearTimeout(timer);
      const m = line.match(/ready to receive on port (\d+)/);
      if (!m) return reject(new Error(`unexpected ready line: ${line}`));
      resolve({ port: Number(m[1]), child });
    });
  });
}

test("the tcp-handshake lab is completed with numbers read from the inspector", async () => {
  const labs = page.getByRole("region", { name: "Labs" });
  await labs.getByRole("button", { name: /The three-way handshake/ }).click();
  await labs.getByRole("button", { name: "Send over TCP" }).click();
  await reply().getByText("HELLO HANDSHAKE").waitFor({ timeout: WAIT });
  // Read the numbers the way a student does: select the SYN, then the SYN-ACK, in the diagram.
  const absolute = async (label, field) => {
    await page.locator(`svg.diagram g.row[data-label='${label}']`).first().click();
    const text = await page.locator("#inspector").textContent();
    const m = text.match(new RegExp(`${field}(\\d+) \\(relative\\), (\\d+) \\(absolute\\)`));
    assert.ok(m, `${label}: ${field} in ${text}`);
    return m[2];
  };
  const seq = await absolute("SYN", "Sequence number");
  const ack = await absolute("SYN-ACK", "Acknowledgment number");
  assert.equal(BigInt(ack), (BigInt(seq) + 1n) % (1n << 32n), "the SYN-ACK acknowledges the SYN");

  // Off by one: the check fails, says why, and shows the step to look at.
  const synBox = labs.getByLabel("What is the SYN's absolute sequence number?");
  await synBox.fill(String((BigInt(seq) + 1n) % (1n << 32n)));
  await labs.getByLabel("What is the SYN-ACK's absolute acknowledgement number?").fill(ack);
  await labs.getByRole("button", { name: "Check", exact: true }).click();
  await labs.locator(".lab-verdict.failed").waitFor({ timeout: WAIT });
  const why = await labs.locator(".lab-checks li[data-id=syn_seq]").textContent();
  assert.match(why, /sequence number/, why);
  assert.doesNotMatch(why, new RegExp(seq), "never the expected value");
  await page.locator("h1").click();
  await labs.getByRole("button", { name: "Show that step" }).click();
  assert.equal(await currentRow().getAttribute("data-label"), "SYN", "the step the check names is selected");

  // The right numbers, typed and checked by keyboard.
  await synBox.fill(seq);
  await synBox.press("Enter");
  await labs.locator(".lab-verdict.passed").waitFor({ timeout: WAIT });
  assert.match(await labs.locator(".lab-pct").textContent(), /^50% done$/);
  assert.match(await labs.locator("button[aria-current=step]").textContent(), /✓/);

  // Progress survives a reload; Reset starts again.
  await page.reload();
  await page.locator("#status", { hasText: "Connected" }).waitFor({ timeout: WAIT });
  await labs.getByRole("button", { name: /The three-way handshake 50% done/ }).waitFor({ timeout: WAIT });
  await labs.getByRole("button", { name: /The three-way handshake/ }).click();
  await labs.getByRole("button", { name: "Reset" }).click();
  await labs.locator(".lab-pct", { hasText: "0% done" }).waitFor({ timeout: WAIT });
  // The lab follows the page's language.
  await page.locator("#lang").click();
  await page.locator("#labs h3", { hasText: "三次握手" }).waitFor({ timeout: WAIT });
  assert.equal(await page.locator("#labs-h").textContent(), "实验");
  assert.match(await page.locator("#labs .lab-pct").textContent(), /已完成 0%/);
});

test("Check my program grades a listed server, and each item opens its timeline", async () => {
  const server = await startPythonServer("udp_server.py");
  const dir = mkdtempSync(path.join(tmpdir(), "socketlab-check-"));
  const config = path.join(dir, "socketlab.toml");
  writeFileSync(config, `[targets]\nmy-server = "127.0.0.1:${server.port}"\n`);
  const checked = await startGateway("127.0.0.1:0", ["--config", config]);
  const view = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  view.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console: ${msg.text()}`);
  });
  view.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  try {
    await view.goto(checked.url + "/");
    await view.locator("#status", { hasText: "Connected" }).waitFor({ timeout: WAIT });
    const panel = view.getByRole("region", { name: "Check my program" });
    // The listed target, by name and with the address the student's server must use.
    const options = await panel.locator("#check-target option").allTextContents();
    assert.deepEqual(options, [`my-server (127.0.0.1:${server.port})`]);
    await panel.getByLabel("Program").selectOption("udp-server");
    await panel.getByRole("button", { name: "Run the check" }).click();
    await panel.locator(".check-summary.passed").waitFor({ timeout: 30_000 });
    const items = await panel.locator("li.check-item").evaluateAll((ls) => ls.map((l) => [l.dataset.id, l.className]));
    assert.deepEqual(items.map(([id]) => id),
      ["answers", "ascii", "unicode", "own-reply", "whole-2048", "truncated-3000", "invalid-utf8"]);
    assert.ok(items.find(([id]) => id === "invalid-utf8")[1].includes("fail"), "the lesson's server dies there");
    assert.match(await panel.locator("li[data-id=invalid-utf8]").textContent(), /the server died/);
    // An item opens its timeline in the diagram.
    await panel.locator("li[data-id=ascii] button").click();
    await view.locator("svg.diagram").first().waitFor({ timeout: WAIT });
    assert.match(await view.locator(".diagram-wrap figcaption").first().textContent(), /ascii/);
    const labels = await view.locator("svg.diagram g.row[data-kind=packet]").evaluateAll((rows) => rows.map((r) => r.dataset.label));
    assert.ok(labels.length >= 2, `the item's datagrams are drawn: ${labels}`);
    // And in Chinese.
    await view.locator("#lang").click();
    await view.locator("#check-h", { hasText: "检查我的程序" }).waitFor({ timeout: WAIT });
    assert.match(await view.locator("#check-items .check-summary").textContent(), /通过/);
    await view.screenshot({ path: path.join(artifacts, "check-my-program.png"), fullPage: true });
  } finally {
    await view.close();
    await stopGateway(checked);
    server.child.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A page of its own (beside the test's), whose console errors land in `problems` too. */
async function otherPage(excused = []) {
  const p = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const sockets = [];
  p.on("websocket", (ws) => sockets.push(ws.url()));
  p.on("console", (msg) => {
    if (msg.type() === "error" && !excused.some((re) => re.test(msg.text()))) problems.push(`other page: ${msg.text()}`);
  });
  p.on("pageerror", (err) => problems.push(`other page: ${err.message}`));
  return { p, sockets };
}

/** Every step of the timeline on `p`: the rows' labels, and at each step what the inspector
 * says and the line the code panel highlights. */
async function walk(p) {
  const total = Number((await p.locator("#step-label").textContent()).match(/^Step 1 of (\d+)$/)[1]);
  const labels = await p.locator("svg.diagram g.row").evaluateAll((rows) => rows.map((r) => r.dataset.label));
  const inspected = [];
  for (let i = 0; i < total; i++) {
    await p.locator(`svg.diagram g.row.current[data-step="${i}"]`).waitFor({ timeout: WAIT });
    inspected.push([await p.locator("#inspector").textContent(), await p.locator("#code li.hl").allTextContents()]);
    await p.getByRole("button", { name: "Step", exact: true }).click();
  }
  return { total, labels, inspected };
}

const linkShape = () => new RegExp(`^${gw.url.replace(/[.]/g, "\\.")}/x/[A-Za-z0-9]{16}$`);

test("Share copies a link whose page shows the same timeline read-only", async () => {
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: gw.url });
  await send("share me", "TCP");
  await reply().getByText("SHARE ME").waitFor({ timeout: WAIT });
  await reply().getByRole("button", { name: "Share" }).click();
  await reply().getByText("Link copied").waitFor({ timeout: WAIT });
  const link = await page.locator("#share-link").inputValue();
  assert.match(link, linkShape());
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), link, "the clipboard holds the link");
  const live = await walk(page);
  assert.ok(live.total >= 10 && live.labels.includes("PSH, ACK Len=8"), live.labels.join(" | "));
  assert.ok(live.inspected.some(([, line]) => /client\.send\(sentence/.test(line.join())), "code lines are walked");

  const { p, sockets } = await otherPage();
  try {
    await p.goto(link);
    await p.getByText("Saved exchange, read-only").waitFor({ timeout: WAIT });
    assert.equal(await p.locator("#status").textContent(), "Read-only");
    const saved = await walk(p);
    assert.deepEqual(saved, live, "the same steps, labels and payloads");
    assert.equal(await p.getByRole("link", { name: "Open the live playground" }).getAttribute("href"), "/");
    for (const control of ["#controls", "#check-form", "#labs", "#history", "#share-btn"]) {
      assert.equal(await p.locator(control).isVisible(), false, `${control} is hidden`);
    }
    assert.match(await p.getByRole("region", { name: "Reply" }).textContent(), /SHARE ME/);
    assert.deepEqual(sockets, [], "the read-only page opens no WebSocket");
    await p.screenshot({ path: path.join(artifacts, "saved-read-only.png"), fullPage: true });
  } finally {
    await p.close();
  }
});

test("where the clipboard is refused the link is left selected, and an unknown link says so", async () => {
  const refusals = [
    // A browser that refuses the write (no permission).
    () => Object.defineProperty(navigator, "clipboard", {
      value: { writeText: () => Promise.reject(new DOMException("denied", "NotAllowedError")) },
    }),
    // No Clipboard API at all (an insecure context).
    () => Object.defineProperty(navigator, "clipboard", { value: undefined }),
  ];
  for (const refuse of refusals) {
    const { p } = await otherPage();
    try {
      await p.addInitScript(refuse);
      await p.goto(gw.url + "/");
      await p.locator("#status", { hasText: "Connected" }).waitFor({ timeout: WAIT });
      await p.getByLabel("Message").fill("copy by hand");
      await p.getByRole("button", { name: "Send", exact: true }).click();
      await p.locator("output.reply-text", { hasText: "COPY BY HAND" }).waitFor({ timeout: WAIT });
      await p.getByRole("button", { name: "Share" }).click();
      await p.getByText("Copy this link:").waitFor({ timeout: WAIT });
      const field = p.locator("#share-link");
      assert.match(await field.inputValue(), linkShape());
      assert.equal(await field.getAttribute("readonly"), "");
      const selection = await field.evaluate((el) => [document.activeElement === el, el.selectionStart, el.selectionEnd, el.value.length]);
      assert.deepEqual(selection, [true, 0, selection[3], selection[3]], "focused, all of it selected");
    } finally {
      await p.close();
    }
  }

  const { p, sockets } = await otherPage([/Failed to load resource: the server responded with a status of 404/]);
  try {
    await p.goto(gw.url + "/x/AAAAAAAAAAAAAAAA");
    await p.getByText("No saved exchange has this link: it is mistyped, or it has expired.").waitFor({ timeout: WAIT });
    assert.equal(await p.locator("svg.diagram").count(), 0, "no timeline");
    assert.equal(await p.locator("#controls").isVisible(), false);
    assert.deepEqual(sockets, []);
  } finally {
    await p.close();
  }
});
