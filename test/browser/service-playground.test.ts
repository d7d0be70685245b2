/**
 * The playground served by the service itself: the page is built with Vite, a real `diffusion serve
 * --model models/mnist-unet --static DIST` child process serves it on loopback, and Debian's Chromium
 * (headless, through playwright-core) drives it; any request leaving that server is refused and fails
 * the run. Checked as numbers read back from the page: the backend label says WebAssembly (this headless
 * Chromium has no GPU); "Load from service" fetches the served model and its samples equal the library's
 * own in Node on the same weights, seed and sampler; the trajectory strip holds one frame every two of
 * ten steps, none blank, the states moving from noise to the digit; and a mask drawn with pointer events
 * on the inpainting canvas is filled in the tab while every unmasked pixel keeps its byte exactly.
 * Screenshots go to the test's temporary output folder, named in the diagnostics.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build } from 'vite';
import { OrtNodeRuntime } from '../../src/engine/index.js';
import { loadPipeline } from '../../src/models/pipeline-folder.js';
import { generate } from '../../src/pipelines/generate.js';
import { bundledDigits, playgroundConfig } from '../../web/vite.config.js';

const CHROMIUM = '/usr/bin/chromium';
const MNIST_UNET = new URL('../../models/mnist-unet', import.meta.url).pathname;
const bin = new URL('../../bin/diffusion.js', import.meta.url).pathname;

let outputDir = '';
let service: ChildProcess | undefined;
let browser: Browser | undefined;
let page: Page;
let url = '';
const consoleErrors: string[] = [];
const foreignRequests: string[] = [];

/** The address `serve` prints once it listens. */
function servedAddress(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`serve printed no address in 60 s: ${text}`)), 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = text.match(/on (http:\/\/127\.0\.0\.1:\d+)/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${text}`)));
  });
}

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} not found: the browser tests drive Debian's Chromium (apt-get install -y chromium)`,
    );
  }
  outputDir = mkdtempSync(join(tmpdir(), 'service-playground-'));
  mkdirSync(join(outputDir, 'screenshots'));
  const dist = join(outputDir, 'dist');
  await build({ ...playgroundConfig(dist), configFile: false, logLevel: 'error' });
  service = spawn(process.execPath, [bin, 'serve', '--model', MNIST_UNET, '--port', '0', '--static', dist], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  url = `${await servedAddress(service)}/`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu'],
  });
  page = await browser.newPage({ viewport: { width: 1100, height: 1600 } });
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(error.message));
  await page.route('**/*', (route) => {
    const requested = route.request().url();
    if (requested.startsWith(url) || requested.startsWith('data:')) return route.continue();
    foreignRequests.push(requested);
    return route.abort();
  });
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
});

after(async () => {
  await browser?.close();
  if (service && service.exitCode === null) {
    const exited = new Promise((resolve) => service!.once('exit', resolve));
    service.kill('SIGTERM');
    await exited;
  }
  if (outputDir) rmSync(join(outputDir, 'dist'), { recursive: true, force: true });
});

const shot = (name: string) =>
  page.screenshot({ path: join(outputDir, 'screenshots', name), fullPage: true });

/** The canvas's RGBA bytes and size. */
const canvasPixels = (id: string) =>
  page.evaluate((id) => {
    const canvas = document.getElementById(id) as HTMLCanvasElement;
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    return { width: canvas.width, height: canvas.height, data: Array.from(data) };
  }, id);

/** The red channel of a w×h block of an RGBA canvas read-back, starting at (x0, y0). */
function block(
  pixels: { width: number; data: number[] },
  x0: number,
  y0: number,
  w: number,
  h: number,
): number[] {
  const out: number[] = [];
  for (let y = y0; y < y0 + h; y++)
    for (let x = x0; x < x0 + w; x++) out.push(pixels.data[(y * pixels.width + x) * 4]);
  return out;
}

const std = (v: number[]) => {
  const mean = v.reduce((s, x) => s + x, 0) / v.length;
  return Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
};
const meanAbsDiff = (a: number[], b: number[]) => a.reduce((s, x, i) => s + Math.abs(x - b[i]), 0) / a.length;

test('the backend label names WebAssembly: this headless Chromium has no GPU', async () => {
  const backend = await page.evaluate(() => window.playground.backend);
  assert.equal(backend?.provider, 'wasm');
  const label = await page.textContent('#backend-label');
  assert.equal(label, 'runs on WebAssembly (no WebGPU adapter in this browser)');
  assert.equal(backend?.label, label);
});

test(
  'load from service, sample with a trajectory strip: the samples are the library’s own',
  { timeout: 60_000 },
  async (t) => {
    await page.click('#img-load-service');
    await page.waitForFunction(
      () => ['loaded', 'error'].includes(window.playground.image?.phase ?? ''),
      null,
      {
        timeout: 30_000,
      },
    );
    const loaded = await page.evaluate(() => window.playground.image);
    assert.equal(loaded?.error, undefined);
    assert.equal(loaded?.model, 'served model');
    assert.match((await page.textContent('#img-model')) ?? '', /UNet2DModel \[1×28×28\], 10 classes/);

    const [label, count, steps, seed] = [3, 2, 10, 5];
    await page.selectOption('#img-sampler', 'dpmpp_2m');
    await page.selectOption('#img-class', String(label));
    await page.fill('#img-steps', String(steps));
    await page.fill('#img-guidance', '2');
    await page.fill('#img-samples', String(count));
    await page.fill('#img-seed', String(seed));
    await page.click('#img-sample');
    await page.waitForFunction(() => ['done', 'error'].includes(window.playground.image?.phase ?? ''), null, {
      timeout: 50_000,
      polling: 100,
    });
    await shot('service-sample.png');
    const report = (await page.evaluate(() => window.playground.image))!;
    assert.equal(report.error, undefined);
    assert.deepEqual(report.shape, [count, 1, 28, 28]);

    // The same request through the library in Node, on the folder the service loaded.
    const pipeline = loadPipeline(MNIST_UNET);
    const expected = await generate({
      network: pipeline.network,
      params: pipeline.params,
      schedulerConfig: pipeline.schedulerConfig,
      sampler: 'dpmpp_2m',
      numSteps: steps,
      numSamples: count,
      seed,
      guidance: 2,
      classLabels: label,
      runtime: new OrtNodeRuntime(),
    });
    const diff = meanAbsDiff(report.samples, Array.from(expected));
    t.diagnostic(`mean |browser − node| over the samples: ${diff.toExponential(2)}`);
    assert.ok(diff < 1e-3, `the served model samples as the library does (${diff})`);

    // One frame every two steps; each frame is a column of x_t above x̂₀, 28 px wide, 2 px apart.
    assert.deepEqual(report.trajectorySteps, [2, 4, 6, 8, 10]);
    const strip = await canvasPixels('img-trajectory');
    assert.deepEqual([strip.width, strip.height], [5 * 28 + 4 * 2, 2 * 28 + 2]);
    const states = report.trajectorySteps.map((_, n) => block(strip, n * 30, 0, 28, 28));
    const estimates = report.trajectorySteps.map((_, n) => block(strip, n * 30, 30, 28, 28));
    const spreads = [...states, ...estimates].map(std);
    t.diagnostic(`frame pixel spreads (x_t then x̂₀): ${spreads.map((s) => s.toFixed(0)).join(' ')}`);
    assert.ok(
      spreads.every((s) => s > 20),
      'no frame is blank',
    );
    const final = block(await canvasPixels('img-canvas'), 0, 0, 28, 28);
    const distances = states.map((frame) => meanAbsDiff(frame, final));
    t.diagnostic(
      `mean byte distance of each x_t frame to the final sample: ${distances.map((d) => d.toFixed(1)).join(' ')}`,
    );
    assert.ok(distances[0] > 20, 'the first frame is still mostly noise');
    assert.ok(distances.at(-1)! < 1, 'the last frame is the sample');
    assert.ok(
      distances.every((d, i) => i === 0 || d <= distances[i - 1] + 1),
      'the states approach the sample step by step',
    );
    assert.deepEqual(consoleErrors, []);
  },
);

test('inpaint a mask drawn with the pointer: only masked pixels change', { timeout: 60_000 }, async (t) => {
  const digit = 7;
  await page.selectOption('#inp-source', `mnist-${digit}`);
  await page.selectOption('#img-class', String(digit));
  await page.selectOption('#inp-method', 'replace');
  await page.fill('#inp-steps', '12');
  await page.fill('#inp-brush', '2');
  await page.dispatchEvent('#inp-brush', 'input');
  // A horizontal stroke through the middle of the 28×28 image (224 px on screen, 8 px per pixel).
  await page.locator('#inp-canvas').scrollIntoViewIfNeeded();
  const box = (await page.locator('#inp-canvas').boundingBox())!;
  const at = (x: number, y: number): [number, number] => [
    box.x + ((x + 0.5) / 28) * box.width,
    box.y + ((y + 0.5) / 28) * box.height,
  ];
  await page.mouse.move(...at(4, 14));
  await page.mouse.down();
  for (let x = 5; x <= 23; x++) await page.mouse.move(...at(x, 14));
  await page.mouse.up();
  await page.mouse.move(...at(27, 27)); // moving without a pressed button paints nothing
  const drawn = (await page.evaluate(() => window.playground.inpaint))!;
  t.diagnostic(`${drawn.filled} pixels marked with a radius-2 brush`);
  assert.ok(drawn.filled >= 60 && drawn.filled <= 120, `a stroke of about 20 × 4 pixels (${drawn.filled})`);

  await page.click('#inp-run');
  await page.waitForFunction(() => ['done', 'error'].includes(window.playground.inpaint?.phase ?? ''), null, {
    timeout: 50_000,
    polling: 100,
  });
  await shot('service-inpaint.png');
  const report = (await page.evaluate(() => window.playground.inpaint))!;
  assert.equal(report.error, undefined);
  assert.equal(report.source, `mnist-${digit}`);
  const mask = report.mask;
  assert.equal(mask.length, 28 * 28);
  assert.equal(
    mask.reduce((s, v) => s + v, 0),
    drawn.filled,
  );
  // The mask is the stroke: rows 12..16 only, and every pixel within 1.5 of row 14 from x = 5 to 22.
  for (let p = 0; p < 784; p++) {
    const [x, y] = [p % 28, Math.floor(p / 28)];
    if (mask[p]) assert.ok(Math.abs(y - 14) <= 2, `pixel (${x}, ${y}) is off the stroke`);
    if (x >= 5 && x <= 22 && Math.abs(y - 14) <= 1) assert.equal(mask[p], 1, `(${x}, ${y}) is on the stroke`);
  }

  const original = Array.from(bundledDigits()[digit].pixels);
  const result = block(await canvasPixels('inp-result'), 0, 0, 28, 28);
  let changed = 0;
  for (let p = 0; p < 784; p++) {
    if (mask[p]) changed += result[p] !== original[p] ? 1 : 0;
    else assert.equal(result[p], original[p], `unmasked pixel ${p} keeps its byte`);
  }
  for (let k = 0; k < 784; k++) if (!mask[k]) assert.equal(report.result[k], report.input[k]);
  t.diagnostic(`${changed} of ${drawn.filled} masked pixels changed; ${report.seconds.toFixed(1)} s`);
  assert.ok(changed > drawn.filled / 3, `the masked pixels are generated (${changed} changed)`);
  // The editing canvas shows the mask in red over the image.
  const shown = await canvasPixels('inp-canvas');
  for (let p = 0; p < 784; p++) {
    const [r, g] = [shown.data[4 * p], shown.data[4 * p + 1]];
    assert.equal(r > g, mask[p] === 1, `pixel ${p} is tinted exactly where masked`);
  }
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(foreignRequests, [], 'nothing was fetched from outside the service');
  t.diagnostic(`screenshots in ${join(outputDir, 'screenshots')}`);
});
