// `diffusion export`: a saved class-conditional MLP pipeline exported through the CLI runs in
// onnxruntime-node directly (no engine involved) and gives the engine's output; weights are inside the
// model by default and graph inputs on request; bad flags are one-line errors.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Tensor } from '../../src/engine/index.js';
import { OrtNodeRuntime } from '../../src/engine/index.js';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { MLPDenoiser } from '../../src/models/mlp.js';
import { savePipeline } from '../../src/models/pipeline-folder.js';
import { Random } from '../../src/util/random.js';

const bin = new URL('../../bin/diffusion.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

const network = new MLPDenoiser({ hidden_size: 16, num_layers: 2, num_class_embeds: 3 });
const params = network.init(new Random(8));
const batch = 4;
const rng = new Random(9);
const sample = Float32Array.from({ length: batch * 2 }, () => rng.normal());
const timestep = Float32Array.from([0, 17.5, 500, 999]);
const labels = BigInt64Array.from([0n, 1n, 2n, 1n]);

let root = '';
let modelDir = '';
before(() => {
  root = mkdtempSync(join(tmpdir(), 'export-cli-'));
  modelDir = join(root, 'pipeline');
  savePipeline(modelDir, { network, params, scheduler: schedulerConfig('DDPMScheduler', {}) });
});
after(() => rmSync(root, { recursive: true, force: true }));

async function engineOutput(): Promise<Float32Array> {
  const compiled = new OrtNodeRuntime().compile(
    (x: { params: Record<string, Tensor>; sample: Tensor; timestep: Tensor; classLabels: Tensor }) =>
      network.apply(x.params, x),
    {
      params: network.paramTypes(),
      sample: { shape: [batch, 2], dtype: 'float32' as const },
      timestep: { shape: [batch], dtype: 'float32' as const },
      classLabels: { shape: [batch], dtype: 'int64' as const },
    },
  );
  try {
    const out = (await compiled.run({
      params,
      sample,
      timestep,
      classLabels: labels,
    } as never)) as unknown as {
      data: Float32Array;
    };
    return out.data;
  } finally {
    await compiled.dispose();
  }
}

function feeds(withWeights: boolean): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {
    sample: new ort.Tensor('float32', sample, [batch, 2]),
    timestep: new ort.Tensor('float32', timestep, [batch]),
    class_labels: new ort.Tensor('int64', labels, [batch]),
  };
  if (withWeights) {
    for (const [name, p] of Object.entries(params))
      out[name] = new ort.Tensor('float32', p.data as Float32Array, [...p.shape]);
  }
  return out;
}

describe('diffusion export --onnx', () => {
  it('writes a model onnxruntime runs directly with the engine’s output (weights inside)', async () => {
    const file = join(root, 'mlp.onnx');
    const result = run('export', '--onnx', file, '--model', modelDir, '--batch', String(batch));
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /wrote .*mlp\.onnx \(MLPDenoiser, batch 4, weights inside/);
    const session = await ort.InferenceSession.create(file);
    try {
      assert.deepEqual([...session.inputNames].sort(), ['class_labels', 'sample', 'timestep']);
      assert.deepEqual(session.outputNames, ['out_sample']);
      const got = (await session.run(feeds(false))).out_sample.data as Float32Array;
      const expected = await engineOutput();
      assert.equal(got.length, expected.length);
      const worst = got.reduce((m, v, i) => Math.max(m, Math.abs(v - expected[i])), 0);
      assert.ok(worst < 1e-5, `max |onnx − engine| = ${worst}`);
    } finally {
      await session.release();
    }
  });

  it('keeps weights as graph inputs with --weights-as-inputs, fed by their diffusers names', async () => {
    const file = join(root, 'mlp-inputs.onnx');
    const result = run(
      'export',
      '--onnx',
      file,
      '--model',
      modelDir,
      '--batch',
      String(batch),
      '--weights-as-inputs',
    );
    assert.equal(result.status, 0, result.stderr);
    const session = await ort.InferenceSession.create(file);
    try {
      assert.ok(session.inputNames.includes('time_embedding.linear_1.weight'));
      const got = (await session.run(feeds(true))).out_sample.data as Float32Array;
      const expected = await engineOutput();
      assert.ok(got.every((v, i) => Math.abs(v - expected[i]) < 1e-5));
    } finally {
      await session.release();
    }
  });

  it('bad flags and a missing model are one-line errors with no file written', () => {
    const file = join(root, 'bad.onnx');
    const cases: [string[], number, RegExp][] = [
      [['export', '--onnx', file], 2, /required option '--model <dir>'/],
      [
        ['export', '--onnx', file, '--model', modelDir, '--batch', '0'],
        2,
        /--batch must be a positive integer, got '0'/,
      ],
      [['export', '--onnx', join(root, 'x.txt'), '--model', modelDir], 2, /--onnx must name a \.onnx file/],
      [['export', '--onnx', file, '--model', modelDir, '--opset', '30'], 2, /opset 30 is not supported/],
      [
        ['export', '--onnx', file, '--model', join(root, 'missing')],
        1,
        /pipeline folder .*missing.* does not exist/,
      ],
    ];
    for (const [args, status, message] of cases) {
      const result = run(...args);
      assert.equal(result.status, status, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /^error: /);
      assert.match(result.stderr, message);
      assert.doesNotMatch(result.stderr, /\n\s+at /);
    }
    assert.ok(!existsSync(file));
  });
});
