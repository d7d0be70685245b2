// `diffusion serve` as a process: it loads a saved pipeline, prints the address it listens on
// (port 0 = any free port, on 127.0.0.1 by default), answers HTTP, and on SIGTERM shuts down and
// exits 0; a bad flag is a one-line usage error (exit 2). Every wait is bounded.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { savePipeline } from '../../src/models/pipeline-folder.js';
import { Random } from '../../src/util/random.js';
import { mlpNetwork, postJson, request } from './harness.js';

const bin = new URL('../../bin/diffusion.js', import.meta.url).pathname;

let root = '';
let modelDir = '';
before(() => {
  root = mkdtempSync(join(tmpdir(), 'serve-cli-'));
  modelDir = join(root, 'pipeline');
  const network = mlpNetwork();
  savePipeline(modelDir, {
    network,
    params: network.init(new Random(1)),
    scheduler: schedulerConfig('DDIMScheduler', {}),
  });
});
after(() => rmSync(root, { recursive: true, force: true }));

/** The first stdout text matching `pattern`, or a rejection after `ms`. */
function waitForOutput(
  child: ReturnType<typeof spawn>,
  pattern: RegExp,
  ms: number,
): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`no '${pattern}' within ${ms} ms; got: ${text}`)), ms);
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = text.match(pattern);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    });
  });
}

describe('diffusion serve', () => {
  it('serves on loopback and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [bin, 'serve', '--model', modelDir, '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const [, url] = await waitForOutput(child, /on (http:\/\/127\.0\.0\.1:\d+)/, 30_000);
      const health = await request(`${url}/health`);
      assert.equal(health.status, 200);
      const generated = await postJson(`${url}/v1/generate`, { num: 3, steps: 2, format: 'json' });
      assert.equal(((await generated.json()) as { samples: number[] }).samples.length, 6);
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('refuses a bad port with a one-line usage error', () => {
    const run = spawnSync(process.execPath, [bin, 'serve', '--model', modelDir, '--port', '70000'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(run.status, 2);
    assert.match(run.stderr, /--port must be an integer from 0 to 65535, got '70000'/);
  });
});
