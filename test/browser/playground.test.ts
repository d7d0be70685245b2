/**
 * The playground in a real browser: the page is built with Vite (from the library's own src/ modules),
 * served on loopback and driven in Debian's Chromium, headless, through playwright-core; any request
 * leaving the page's own server is refused and fails the run. Checks read numbers back from the page,
 * never only that an element exists: the forward explorer's canvas pixels (t = 0 is the MNIST digit byte
 * for byte; noise grows with t; ᾱ_t matches the library's schedule), a 2-D MLP trained in the tab (its
 * loss falls; its samples end up far closer to the data than the noise they start from), and the shipped
 * MNIST pipeline picked as a folder and sampled (the rendered panels, read back pixel by pixel, are
 * classified as the asked digit by the shipped classifier). Screenshots go to the test's temporary
 * output folder, named in the diagnostics.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';
import { alphasCumprod, betaSchedule } from '../../src/diffusion/schedules.js';
import { classAccuracy, loadClassifier } from '../../src/metrics/classifier.js';
import type { ForwardView } from '../../web/src/forward-explorer.js';
import type { ToyReport } from '../../web/src/toy-playground.js';
import { bundledDigits, playgroundConfig } from '../../web/vite.config.js';

const CHROMIUM = '/usr/bin/chromium';
/** The shipped class-conditional MNIST pipeline folder. */
const MNIST_UNET = new URL('../../models/mnist-unet', import.meta.url).pathname;

let outputDir = '';
let server: PreviewServer | undefined;
let browser: Browser | undefined;
let page: Page;
const consoleErrors: string[] = [];
const foreignRequests: string[] = [];

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} not found: the browser tests drive Debian's Chromium (apt-get install -y chromium)`,
    );
  }
  outputDir = mkdtempSync(join(tmpdir(), 'playground-'));
  mkdirSync(join(outputDir, 'screenshots'));
  const config = {
    ...playgroundConfig(join(outputDir, 'dist')),
    configFile: false as const,
    logLevel: 'error' as const,
  };
  await build(config);
  server = await preview({ ...config, preview: { host: '127.0.0.1', port: 4300, strictPort: false } });
  const url = server.resolvedUrls?.local[0];
  assert.ok(url, 'the preview server reports its address');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu'],
  });
  page = await browser.newPage({ viewport: { width: 1100, height: 1300 } });
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(error.message));
  // Everything, onnxruntime-web's WebAssembly included, must come from the playground's own server.
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
  await server?.close();
  // The build (tens of MB of WebAssembly) goes; the screenshots stay for inspection.
  if (outputDir) rmSync(join(outputDir, 'dist'), { recursive: true, force: true });
});

const shot = (name: string) =>
  page.screenshot({ path: join(outputDir, 'screenshots', name), fullPage: true });

async function showForward(
  imageId: string,
  schedule: string,
  t: number,
): Promise<{ pixels: number[]; view: ForwardView }> {
  return page.evaluate(
    ([imageId, schedule, t]) => {
      // No helper functions in here: the page runs this code as text, without the test's module scope.
      const changes: [string, string, string][] = [
        ['fwd-image', imageId, 'change'],
        ['fwd-schedule', schedule, 'change'],
        ['fwd-t', String(t), 'input'],
      ];
      for (const [id, value, event] of changes) {
        const el = document.getElementById(id) as HTMLInputElement | HTMLSelectElement;
        el.value = value;
        el.dispatchEvent(new Event(event, { bubbles: true }));
      }
      const canvas = document.getElementById('fwd-canvas') as HTMLCanvasElement;
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      return { pixels: Array.from(data), view: window.playground.forward as ForwardView };
    },
    [imageId, schedule, t] as const,
  );
}

/** Mean |a − b| over the red channel of two RGBA buffers. */
function meanAbsDiff(a: number[], b: number[]): number {
  let total = 0;
  for (let i = 0; i < a.length; i += 4) total += Math.abs(a[i] - b[i]);
  return total / (a.length / 4);
}

function correlation(a: number[], b: number[]): number {
  const xs = a.filter((_, i) => i % 4 === 0);
  const ys = b.filter((_, i) => i % 4 === 0);
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  const mx = mean(xs);
  const my = mean(ys);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  xs.forEach((x, i) => {
    sxy += (x - mx) * (ys[i] - my);
    sxx += (x - mx) ** 2;
    syy += (ys[i] - my) ** 2;
  });
  return sxy / Math.sqrt(sxx * syy);
}

test('the page loads and draws without console errors', async () => {
  const title = await page.title();
  assert.equal(title, 'diffusion-ts playground');
  const options = await page.$$eval('#fwd-image option', (els) =>
    els.map((e) => (e as HTMLOptionElement).value),
  );
  assert.deepEqual(options, [...Array.from({ length: 10 }, (_, d) => `mnist-${d}`), 'pattern']);
  assert.deepEqual(consoleErrors, []);
  await shot('loaded.png');
});

test('forward explorer: x_0 is the digit byte for byte, noise grows with t, ᾱ_t is the schedule', async (t) => {
  const digit = bundledDigits()[3];
  const clean = await showForward('mnist-3', 'linear', 0);
  assert.equal(clean.pixels.length, 28 * 28 * 4);
  const expected = Array.from(digit.pixels).flatMap((b) => [b, b, b, 255]);
  assert.deepEqual(clean.pixels, expected, 'at t = 0 the canvas holds the MNIST image exactly');
  assert.equal(clean.view.alphaBar, 1);

  const linear = alphasCumprod(
    betaSchedule({ betaSchedule: 'linear', numTrainTimesteps: 1000, betaStart: 1e-4, betaEnd: 0.02 }),
  );
  const diffs: number[] = [];
  for (const step of [50, 300, 1000]) {
    const noisy = await showForward('mnist-3', 'linear', step);
    assert.equal(noisy.view.t, step);
    assert.equal(
      noisy.view.alphaBar,
      linear[step - 1],
      `ᾱ after ${step} steps is the library's table entry ${step - 1}`,
    );
    diffs.push(meanAbsDiff(noisy.pixels, expected));
    if (step === 300) await shot('forward-t300.png');
    if (step === 1000) {
      const r = correlation(noisy.pixels, expected);
      t.diagnostic(`correlation of x_1000 with x_0: ${r.toFixed(4)}`);
      assert.ok(Math.abs(r) < 0.1, `x_T is nearly pure noise (correlation ${r})`);
    }
  }
  t.diagnostic(
    `mean |x_t − x_0| in bytes at t = 50, 300, 1000: ${diffs.map((d) => d.toFixed(1)).join(', ')}`,
  );
  assert.ok(diffs[0] > 5 && diffs[0] < diffs[1] && diffs[1] < diffs[2], `noise grows with t: ${diffs}`);

  // Another schedule at the same t keeps more signal (cosine) and reports its own ᾱ.
  const cosine = alphasCumprod(
    betaSchedule({
      betaSchedule: 'squaredcos_cap_v2',
      numTrainTimesteps: 1000,
      betaStart: 1e-4,
      betaEnd: 0.02,
    }),
  );
  const cos300 = await showForward('mnist-3', 'squaredcos_cap_v2', 300);
  assert.equal(cos300.view.alphaBar, cosine[299]);
  assert.ok(
    meanAbsDiff(cos300.pixels, expected) < diffs[1],
    'the cosine schedule destroys less at t = 300 than linear',
  );
  assert.deepEqual(consoleErrors, []);
});

test(
  '2-D playground: an MLP trains in the tab and its samples move onto the data',
  { timeout: 240_000 },
  async (t) => {
    const settings: Record<string, string> = {
      'toy-train-steps': '600',
      'toy-batch': '256',
      'toy-hidden': '64',
      'toy-samples': '500',
      'toy-sampler-steps-0': '50',
      'toy-sampler-steps-1': '10',
    };
    for (const [id, value] of Object.entries(settings)) await page.fill(`#${id}`, value);
    await page.selectOption('#toy-data', 'moons');
    await page.selectOption('#toy-sampler-0', 'ddpm');
    await page.selectOption('#toy-sampler-1', 'dpmpp_2m');
    await page.click('#toy-train');
    await page.waitForFunction(() => ['done', 'error'].includes(window.playground.toy?.phase ?? ''), null, {
      timeout: 220_000,
      polling: 250,
    });
    await shot('toy-moons.png');
    const report = (await page.evaluate(() => window.playground.toy)) as ToyReport;
    assert.equal(report.error, undefined);
    assert.equal(report.phase, 'done');
    assert.equal(report.runtime, 'ort-web/wasm', 'headless Chromium without a GPU trains on WebAssembly');
    assert.equal(report.losses.length, 600);

    const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
    const first = mean(report.losses.slice(0, 50));
    const last = mean(report.losses.slice(-100));
    const noise = report.noiseDistance!;
    const untrained = report.untrainedDistance!;
    const floor = report.dataDistance!;
    t.diagnostic(
      `${report.step} steps in ${report.trainSeconds.toFixed(1)} s; loss ${first.toFixed(4)} → ${last.toFixed(4)}`,
    );
    t.diagnostic(
      `mean distance to data: initial noise ${noise.toFixed(3)}, untrained network ${untrained.toPrecision(3)}, ` +
        `data itself ${floor.toFixed(3)}, ` +
        report.samplers
          .map((s) => `${s.name}/${s.steps} ${s.nnDistance.toFixed(3)} (${s.seconds.toFixed(1)} s)`)
          .join(', '),
    );
    assert.ok(last < 0.75 * first, `the loss falls by a quarter or more: ${first} → ${last}`);
    assert.deepEqual(
      report.samplers.map((s) => [s.name, s.steps]),
      [
        ['ddpm', 50],
        ['dpmpp_2m', 10],
      ],
    );
    for (const sampler of report.samplers) {
      const d = sampler.nnDistance;
      assert.ok(d < noise / 4, `${sampler.name}: ${d}, a quarter of its starting noise's ${noise} or less`);
      assert.ok(
        d < untrained / 4,
        `${sampler.name}: ${d}, far better than the untrained network's ${untrained}`,
      );
      assert.ok(d < 3 * floor, `${sampler.name}: ${d}, within 3× of the data's own ${floor}`);
    }
    // The scatter canvases hold drawn samples: blue pixels, not a blank frame.
    const blue = await page.evaluate(() => {
      const canvas = document.getElementById('toy-canvas-1') as HTMLCanvasElement;
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let count = 0;
      for (let i = 0; i < data.length; i += 4) if (data[i + 2] > 150 && data[i] < 100) count++;
      return count;
    });
    assert.ok(blue > 200, `sampler B's canvas shows its samples (${blue} sample-coloured pixels)`);
    assert.deepEqual(consoleErrors, []);
    t.diagnostic(`screenshots in ${join(outputDir, 'screenshots')}`);
  },
);

test(
  'image model: a pipeline folder picked in the page samples digits of the asked class',
  { timeout: 240_000 },
  async (t) => {
    await page.setInputFiles('#img-folder', MNIST_UNET);
    await page.waitForFunction(
      () => ['loaded', 'error'].includes(window.playground.image?.phase ?? ''),
      null,
      {
        timeout: 60_000,
      },
    );
    const loaded = await page.evaluate(() => window.playground.image);
    assert.equal(loaded?.error, undefined);
    assert.equal(loaded?.model, 'mnist-unet');
    const label = 7;
    const count = 8;
    await page.selectOption('#img-sampler', 'dpmpp_2m');
    await page.selectOption('#img-class', String(label));
    await page.fill('#img-steps', '15');
    await page.fill('#img-guidance', '2');
    await page.fill('#img-samples', String(count));
    await page.click('#img-sample');
    await page.waitForFunction(() => ['done', 'error'].includes(window.playground.image?.phase ?? ''), null, {
      timeout: 200_000,
      polling: 250,
    });
    await shot('image-model.png');
    const report = await page.evaluate(() => window.playground.image);
    assert.equal(report?.error, undefined);
    assert.equal(report?.phase, 'done');
    assert.deepEqual(report?.shape, [count, 1, 28, 28]);
    t.diagnostic(`${count} samples × 15 steps (guidance 2) in ${report!.seconds.toFixed(1)} s`);

    // The rendered grid, read back pixel by pixel: eight 28×28 panels 2 px apart.
    const grid = await page.evaluate(() => {
      const canvas = document.getElementById('img-canvas') as HTMLCanvasElement;
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      return { width: canvas.width, height: canvas.height, data: Array.from(data) };
    });
    assert.equal(grid.width, count * 28 + (count - 1) * 2);
    assert.equal(grid.height, 28);
    const images = new Float32Array(count * 28 * 28);
    for (let n = 0; n < count; n++) {
      for (let y = 0; y < 28; y++) {
        for (let x = 0; x < 28; x++) {
          const byte = grid.data[(y * grid.width + n * 30 + x) * 4];
          images[n * 784 + y * 28 + x] = (2 * byte) / 255 - 1;
        }
      }
    }
    // Digits, not noise or blanks: a dark background with some ink.
    const ink = images.filter((v) => v > 0).length / images.length;
    t.diagnostic(`ink fraction ${ink.toFixed(3)}`);
    assert.ok(ink > 0.05 && ink < 0.4, `the panels look like MNIST digits (ink fraction ${ink})`);
    const accuracy = await classAccuracy(images, new Array(count).fill(label), loadClassifier());
    t.diagnostic(
      `the shipped MNIST classifier reads ${(accuracy * 100).toFixed(0)}% of the rendered panels as ${label}`,
    );
    assert.ok(accuracy >= 0.75, `rendered samples are recognisably the asked digit (accuracy ${accuracy})`);
    assert.deepEqual(consoleErrors, []);
    assert.deepEqual(foreignRequests, [], 'nothing was fetched from outside the playground');
    t.diagnostic(`screenshots in ${join(outputDir, 'screenshots')}`);
  },
);
