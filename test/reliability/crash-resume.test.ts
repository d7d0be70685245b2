// No data lost: a training run in a child process is killed with SIGKILL five times at seeded random
// moments (a random number of steps after the last resume, plus a random delay of up to 15 ms, so kills
// land inside checkpoint writes too). After every kill the last checkpoint loads — the pipeline folder
// through loadPipeline and training_state/ through loadTrainingState — at a step no older than the last
// completed checkpoint; resuming continues from it, and the run that finishes after five kills ends
// with parameters bit-identical to a run that was never killed. A run folder that cannot be created
// or written is a DiffusionError before the first step.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveDataset } from '../../src/data/dataset.js';
import { loadPipeline } from '../../src/models/pipeline-folder.js';
import type { Params } from '../../src/models/types.js';
import { loadTrainingState } from '../../src/training/checkpoint.js';
import { train } from '../../src/training/trainer.js';
import { DiffusionError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';
import { CRASH_RUN_CONFIG, crashRun, crashRunNetwork } from './fixtures/train-run.js';

const SCRIPT = fileURLToPath(new URL('./fixtures/train-run.ts', import.meta.url));
const KILLS = 5;
const EVERY = CRASH_RUN_CONFIG.checkpointEvery;
const names = Object.keys(crashRunNetwork().paramTypes());

interface ChildRun {
  /** The last `step N` line read before the child ended. */
  lastStep: number;
  finished: boolean;
}

/**
 * Runs the fixture on `runDir`; once it reports step `killAfter` (or later), waits `delayMs` and sends
 * SIGKILL. `killAfter` null lets it finish. Bounded by a 60 s watchdog.
 */
function runChild(runDir: string, killAfter: number | null, delayMs: number): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, runDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let lastStep = 0;
    let finished = false;
    let killing = false;
    let stderr = '';
    let pending = '';
    const watchdog = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const [word, n] = line.split(' ');
        if (word === 'step') lastStep = Number(n);
        if (word === 'done') finished = true;
      }
      if (killAfter !== null && !killing && lastStep >= killAfter) {
        killing = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(watchdog);
      if (killAfter === null && code !== 0) reject(new Error(`training child failed (${code}): ${stderr}`));
      else if (killAfter !== null && signal !== 'SIGKILL' && !finished)
        reject(new Error(`training child ended by ${signal ?? code} before the kill: ${stderr}`));
      else resolve({ lastStep, finished });
    });
  });
}

function assertBitEqual(a: Params, b: Params, what: string): void {
  for (const name of names) {
    assert.deepEqual(
      Array.from(a[name].data as Float32Array),
      Array.from(b[name].data as Float32Array),
      `${what}: ${name}`,
    );
  }
}

const finiteParams = (p: Params) =>
  Object.values(p).every((t) => (t.data as Float32Array).every((v) => Number.isFinite(v)));

describe('training survives kill -9', () => {
  it(`${KILLS} kills at random moments: the last checkpoint loads and resume finishes bit-identically`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crash-'));
    try {
      const runDir = join(dir, 'killed');
      const random = new Random(2024);
      let saved = 0;
      const kills: { at: number; delayMs: number; checkpoint: number }[] = [];
      for (let k = 0; k < KILLS; k++) {
        const killAfter = saved + 1 + random.int(40);
        const delayMs = random.int(16);
        const child = await runChild(runDir, killAfter, delayMs);
        assert.ok(!child.finished, `kill ${k + 1} came after the run finished; lower the kill steps`);
        const state = loadTrainingState(runDir, names);
        // The checkpoint written before the last reported step is complete; a later one may be too.
        const lastComplete = Math.floor((child.lastStep - 1) / EVERY) * EVERY;
        assert.equal(state.step % EVERY, 0, `kill ${k + 1}: checkpoint step ${state.step}`);
        assert.ok(state.step >= Math.max(lastComplete, saved), `kill ${k + 1}: checkpoint went back`);
        assert.ok(finiteParams(state.state.params));
        const pipeline = loadPipeline(join(runDir, 'pipeline'));
        assert.equal(pipeline.network.className, 'MLPDenoiser');
        assert.ok(finiteParams(pipeline.params));
        kills.push({ at: child.lastStep, delayMs, checkpoint: state.step });
        saved = state.step;
      }
      const last = await runChild(runDir, null, 0);
      assert.ok(last.finished);
      assert.equal(last.lastStep, CRASH_RUN_CONFIG.steps);

      const reference = await crashRun(join(dir, 'whole'));
      const resumed = loadTrainingState(runDir, names);
      assert.equal(resumed.step, CRASH_RUN_CONFIG.steps);
      assertBitEqual(resumed.state.params, reference.state.params, 'params');
      assertBitEqual(resumed.state.ema!, reference.state.ema!, 'ema');
      assertBitEqual(resumed.state.opt.v, reference.state.opt.v, 'adam v');
      assertBitEqual(loadPipeline(join(runDir, 'pipeline')).params, reference.state.ema!, 'pipeline');
      // Five kills leave at most a handful of temporary folders next to the checkpoints, never more.
      const leftovers = readdirSync(runDir).filter((name) => name.includes('.tmp-'));
      assert.ok(leftovers.length <= 2 * KILLS, `${leftovers.length} temporary folders left`);
      console.log(`kills (step seen, delay ms, checkpoint loaded): ${JSON.stringify(kills)}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('unwritable run folders', () => {
  async function stepsBeforeFailure(runDir: string): Promise<{ error: unknown; steps: number }> {
    let steps = 0;
    const dataset = await resolveDataset('moons', { size: 100 });
    try {
      await train({
        config: CRASH_RUN_CONFIG,
        network: crashRunNetwork(),
        dataset,
        runDir,
        onStep: () => steps++,
      });
      return { error: null, steps };
    } catch (error) {
      return { error, steps };
    }
  }

  it('a folder that cannot be created is a DiffusionError before the first step', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crash-'));
    try {
      writeFileSync(join(dir, 'file'), 'not a folder');
      const { error, steps } = await stepsBeforeFailure(join(dir, 'file', 'run'));
      assert.ok(error instanceof DiffusionError, `got ${String(error)}`);
      assert.equal(error.code, 'io');
      assert.match(error.message, /file.run/);
      assert.equal(steps, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a folder on a read-only file system is a DiffusionError before the first step', async (t) => {
    // sysfs is mounted read-only for everyone, root included (a chmod'ed folder does not stop root).
    if (!existsSync('/sys/kernel')) return t.skip('no /sys on this system');
    const { error, steps } = await stepsBeforeFailure('/sys/kernel/diffusion-run');
    assert.ok(error instanceof DiffusionError, `got ${String(error)}`);
    assert.equal(error.code, 'io');
    assert.equal(steps, 0);
  });
});
