// Browser check of `lumen serve`: opens the page in Debian's headless Chromium, uploads an image
// through the file input, waits for the prediction and compares the label; saves a screenshot.
// Usage: node upload.mjs <base-url> <image> <expected-label> <screenshot.png>
import { chromium } from "playwright-core";

const [baseUrl, image, expected, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  await page.goto(baseUrl, { waitUntil: "networkidle" });
  await page.waitForFunction(() => !document.getElementById("model").textContent.startsWith("Loading"));
  await page.setInputFiles("#file", image);
  await page.waitForSelector("#label", { timeout: 30000 });
  const label = (await page.textContent("#label")).trim();
  const bars = await page.locator(".bar").count();
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ label, bars }));
  if (label !== expected) { console.error(`expected label ${expected}, page shows ${label}`); process.exit(1); }
  if (bars < 2) { console.error(`expected a probability bar per class, found ${bars}`); process.exit(1); }
} finally {
  await browser.close();
}
