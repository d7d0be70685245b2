// The service against hostile clients, over real HTTP on 127.0.0.1: no path-traversal spelling (plain,
// percent-encoded, double-encoded, absolute, backslashed, overlong UTF-8, through a symlink) reaches a
// file outside the static root; an upload whose header claims a huge image is refused with 413 before
// any pixel is decoded, as is one with too many bytes; a client that sends headers and then stalls is
// disconnected after the idle timeout, and one that trickles its body gets 408 after the request
// timeout, while other clients are served; `diffusion serve` with a running job exits 0 on SIGTERM,
// cancelling the job (or finishing it with --finish-jobs).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { encodePng } from '../../src/io/images.js';
import { savePipeline } from '../../src/models/pipeline-folder.js';
import { decodedLength, headerSize } from '../../src/server/uploads.js';
import { Random } from '../../src/util/random.js';
import {
  mlpNetwork,
  parseEvents,
  pollJob,
  postJson,
  request,
  savedPipeline,
  serve,
  unetNetwork,
  type Served,
} from './harness.js';

const SECRET = 'SECRET-7f3a';

/** GET `path` exactly as written (no client-side normalisation); status and body (status 0: closed unanswered). */
function rawGet(url: string, path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path, method: 'GET', timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    // A connection the server closes without an answer (e.g. for an absolute-form target) leaks nothing.
    req.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNRESET' ? resolve({ status: 0, body: '' }) : reject(error),
    );
    req.end();
  });
}

describe('static files', () => {
  let root = '';
  let served: Served;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'static-'));
    const site = join(root, 'site');
    mkdirSync(join(site, 'sub'), { recursive: true });
    writeFileSync(join(site, 'index.html'), '<h1>playground</h1>');
    writeFileSync(join(site, 'app.js'), 'console.log(1);');
    writeFileSync(join(site, 'sub', 'index.html'), 'sub page');
    writeFileSync(join(site, '.env'), SECRET);
    writeFileSync(join(root, 'package.json'), `{"secret": "${SECRET}"}`);
    writeFileSync(join(root, 'secret.txt'), SECRET);
    symlinkSync(join(root, 'secret.txt'), join(site, 'link.txt'));
    symlinkSync(root, join(site, 'up'));
    served = await serve({ pipeline: savedPipeline(unetNetwork()), staticDir: site });
  });
  after(async () => {
    await served.app.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('serves the files under the root with their media types; API routes still answer', async () => {
    const index = await request(`${served.url}/`);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(await index.text(), '<h1>playground</h1>');
    const script = await request(`${served.url}/app.js`);
    assert.equal(script.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(await script.text(), 'console.log(1);');
    assert.equal(await (await request(`${served.url}/sub/`)).text(), 'sub page');
    assert.equal((await request(`${served.url}/health`)).status, 200);
    const missing = await request(`${served.url}/nothing.js`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'not-found');
  });

  const attempts = [
    '/../package.json',
    '/../secret.txt',
    '/sub/../../secret.txt',
    '/%2e%2e/secret.txt',
    '/%2e%2e%2fsecret.txt',
    '/%2E%2E%2Fpackage.json',
    '/..%2fsecret.txt',
    '/%252e%252e%252fsecret.txt',
    '/%25%32%65%25%32%65/secret.txt',
    '/..\\secret.txt',
    '/%5c..%5csecret.txt',
    '/sub\\..\\..\\secret.txt',
    '/%c0%ae%c0%ae/secret.txt',
    `/${root}/secret.txt`,
    `/${encodeURIComponent(join(root, 'secret.txt'))}`,
    `//${root.slice(1)}/secret.txt`,
    '/link.txt',
    '/up/secret.txt',
    '/.env',
    '/%2eenv',
    '/secret.txt%00.html',
    '../secret.txt',
    'http://127.0.0.1/../secret.txt',
  ];
  it(`refuses ${attempts.length} path-traversal spellings without leaking a byte`, async () => {
    for (const path of attempts) {
      const { status, body } = await rawGet(served.url, path);
      assert.ok([0, 400, 404].includes(status), `${path} answered ${status}`);
      assert.ok(!body.includes(SECRET), `${path} leaked the secret`);
    }
    assert.equal((await request(`${served.url}/app.js`)).status, 200);
  });
});

/** A PNG whose IHDR claims `width`×`height`, followed by no image data at all. */
function claimedPng(width: number, height: number): Buffer {
  const header = Buffer.alloc(33);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(header, 0);
  header.writeUInt32BE(13, 8);
  header.write('IHDR', 12, 'latin1');
  header.writeUInt32BE(width, 16);
  header.writeUInt32BE(height, 20);
  header[24] = 8; // bit depth; colour type, compression, filter, interlace 0; CRC left zero
  return header;
}

/** A JPEG whose start-of-frame claims `width`×`height` after an APP0 segment, with no scan data. */
function claimedJpeg(width: number, height: number): Buffer {
  const app0 = Buffer.from([0xff, 0xe0, 0x00, 0x10, ...Buffer.from('JFIF\0'), 1, 1, 0, 0, 1, 0, 1, 0, 0]);
  const sof = Buffer.from([
    0xff,
    0xc0,
    0x00,
    0x0b,
    8,
    height >> 8,
    height & 255,
    width >> 8,
    width & 255,
    1,
    1,
    0x11,
    0,
  ]);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), app0, sof, Buffer.from([0xff, 0xd9])]);
}

describe('uploads', () => {
  let served: Served;
  before(async () => {
    served = await serve({
      pipeline: savedPipeline(unetNetwork()),
      uploads: { maxBytes: 2000, maxPixels: 4096, bodyLimit: 8000 },
    });
  });
  after(() => served.app.close());

  it('reads the size from PNG and JPEG headers, and the byte count from base64 length', () => {
    const image = { width: 37, height: 5, data: new Uint8Array(37 * 5 * 4).fill(200) };
    assert.deepEqual(headerSize(encodePng(image)), { width: 37, height: 5 });
    const encoded = jpeg.encode({ ...image, data: Buffer.from(image.data) }, 90).data;
    assert.deepEqual(headerSize(new Uint8Array(encoded)), { width: 37, height: 5 });
    assert.deepEqual(headerSize(claimedJpeg(1234, 567)), { width: 1234, height: 567 });
    for (const length of [0, 1, 2, 3, 4, 100, 101]) {
      const text = Buffer.alloc(length, 7).toString('base64');
      assert.equal(decodedLength(text), length);
    }
  });

  it('413 for a PNG or JPEG claiming a huge size, before decoding (the pixels are not even there)', async () => {
    for (const [kind, bytes] of [
      ['png', claimedPng(100_000, 100_000)],
      ['jpeg', claimedJpeg(65_000, 65_000)],
    ] as const) {
      const response = await postJson(`${served.url}/v1/edit`, {
        image: bytes.toString('base64'),
        strength: 0.5,
      });
      assert.equal(response.status, 413, kind);
      const { error } = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(error.code, 'upload-too-large');
      assert.match(error.message, /'image' is \d+×\d+ \(\d+ pixels\).*4096 pixels/);
    }
    // The same truncated file claiming the model's 8×8 passes the size checks and fails only at decoding.
    const small = await postJson(`${served.url}/v1/edit`, {
      image: claimedPng(8, 8).toString('base64'),
      strength: 0.5,
    });
    assert.equal(small.status, 400);
  });

  it('413 for an image over the byte limit, and for a body over the route limit', async () => {
    const heavy = Buffer.alloc(3000, 1).toString('base64');
    const response = await postJson(`${served.url}/v1/edit`, { image: heavy, strength: 0.5 });
    assert.equal(response.status, 413);
    assert.match(
      ((await response.json()) as { error: { message: string } }).error.message,
      /3000 bytes.*2000 bytes/,
    );
    const body = await postJson(`${served.url}/v1/inpaint`, { image: heavy, mask: heavy, strength: 0.5 });
    assert.equal(body.status, 413);
    assert.equal(
      ((await body.json()) as { error: { code: string } }).error.code,
      'FST_ERR_CTP_BODY_TOO_LARGE',
    );
  });
});

/** Opens a raw connection, writes `head`, and resolves with what came back and when the server closed. */
function stalledClient(
  url: string,
  head: string,
  trickle?: { everyMs: number },
): Promise<{ received: string; closedAfterMs: number }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const socket = connect(Number(port), hostname, () => socket.write(head));
    let received = '';
    const timer = trickle ? setInterval(() => socket.write(' '), trickle.everyMs) : undefined;
    const guard = setTimeout(() => {
      socket.destroy();
      reject(new Error('the server never closed the stalled connection'));
    }, 15_000);
    socket.on('data', (chunk) => (received += chunk.toString()));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(timer);
      clearTimeout(guard);
      resolve({ received, closedAfterMs: Date.now() - start });
    });
  });
}

const STALLED_HEAD =
  'POST /v1/generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{';

describe('slow clients', () => {
  it('a client that stalls after its headers is disconnected after the idle timeout', async () => {
    const served = await serve({ pipeline: savedPipeline(mlpNetwork()), timeouts: { idleMs: 300 } });
    try {
      const stalled = stalledClient(served.url, STALLED_HEAD);
      // Meanwhile the server answers others.
      assert.equal((await request(`${served.url}/health`)).status, 200);
      const { received, closedAfterMs } = await stalled;
      assert.equal(received, '');
      assert.ok(closedAfterMs >= 250 && closedAfterMs < 5000, `closed after ${closedAfterMs} ms`);
    } finally {
      await served.app.close();
    }
  });

  it('a client that trickles its body gets 408 after the request timeout', async () => {
    const served = await serve({
      pipeline: savedPipeline(mlpNetwork()),
      timeouts: { requestMs: 500, idleMs: 10_000 },
    });
    try {
      const { received, closedAfterMs } = await stalledClient(served.url, STALLED_HEAD, { everyMs: 50 });
      assert.match(received, /^HTTP\/1\.1 408/);
      assert.ok(closedAfterMs >= 450 && closedAfterMs < 5000, `closed after ${closedAfterMs} ms`);
    } finally {
      await served.app.close();
    }
  });
});

describe('diffusion serve: shutdown with a running job', () => {
  const bin = new URL('../../bin/diffusion.js', import.meta.url).pathname;
  let root = '';
  let modelDir = '';
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'serve-shutdown-'));
    modelDir = join(root, 'pipeline');
    const network = mlpNetwork();
    savePipeline(modelDir, {
      network,
      params: network.init(new Random(1)),
      scheduler: schedulerConfig('DDIMScheduler', {}),
    });
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  /**
   * Starts the service, runs a job of `num` 2-D samples × 1000 DDIM steps (seconds of work), sends
   * SIGTERM once it has taken a step; the exit code and the job's events.
   */
  async function stopDuringJob(
    num: number,
    extra: string[],
  ): Promise<{ code: number | null; events: string[] }> {
    const args = [bin, 'serve', '--model', modelDir, '--port', '0', '--max-num', '10000', ...extra];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let text = '';
        const timer = setTimeout(() => reject(new Error(`no address within 30 s: ${text}`)), 30_000);
        child.stdout!.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          const match = text.match(/on (http:\/\/127\.0\.0\.1:\d+)/);
          if (match) {
            clearTimeout(timer);
            resolve(match[1]);
          }
        });
      });
      const accepted = await postJson(`${url}/v1/jobs`, {
        num,
        steps: 1000,
        sampler: 'ddim',
        format: 'json',
      });
      const { links } = (await accepted.json()) as { links: { self: string; events: string } };
      await pollJob(`${url}${links.self}`, (s) => (s.progress?.step ?? 0) >= 1);
      const stream = (await request(`${url}${links.events}`)).text();
      child.kill('SIGTERM');
      const events = parseEvents(await stream).map((e) => e.event);
      const code = await Promise.race([
        exited,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no exit within 20 s')), 20_000)),
      ]);
      return { code, events };
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }

  it('SIGTERM cancels the running job between steps and the process exits 0', async () => {
    const { code, events } = await stopDuringJob(10_000, []);
    assert.equal(code, 0);
    assert.equal(events.at(-1), 'cancelled');
    assert.ok(events.filter((e) => e === 'progress').length < 1000);
  });

  it('with --finish-jobs the running job completes and then the process exits 0', async () => {
    const { code, events } = await stopDuringJob(5000, ['--finish-jobs']);
    assert.equal(code, 0);
    assert.equal(events.at(-1), 'done');
    assert.equal(events.filter((e) => e === 'progress').length, 1000);
  });
});
