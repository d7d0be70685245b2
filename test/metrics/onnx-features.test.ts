// Features from a user's ONNX network: a tiny conv net traced and emitted by the engine (weights frozen)
// is saved as a file; its pooled-features value, exposed by name, equals the engine's own computation of
// the same sub-network on the preprocessed input, FID of identical sets is 0, bilinear resizing matches
// hand values, and a missing file, a non-ONNX file, an unknown layer and a rank-3 input are refused.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Tensor } from '../../src/engine/graph.js';
import { avgPool2d, conv2d, linear, reshape, silu } from '../../src/engine/index.js';
import { emitOnnx } from '../../src/engine/onnx/emit.js';
import { ModelProto } from '../../src/engine/onnx/proto.js';
import { ReferenceRuntime } from '../../src/engine/runtime/reference.js';
import { trace } from '../../src/engine/trace.js';
import { fid } from '../../src/metrics/fid.js';
import {
  loadFeatureNetwork,
  preprocessImages,
  resizeBilinear,
  withLayerOutput,
} from '../../src/metrics/onnx-features.js';
import { FormatError, NotFoundError, ShapeError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });
const BATCH = 4;
const rng = new Random(3);
const weights = { w: rng.normals(4 * 3 * 9), b: rng.normals(4), head: rng.normals(5 * 64) };
type Params = { w: Tensor; b: Tensor; head: Tensor };

/** Conv 3→4 (3×3, padding 1), SiLU, 2×2 average pool, flatten: the 64-d features. */
const features = (p: Params, x: Tensor) =>
  reshape(avgPool2d(silu(conv2d(x, p.w, p.b, { padding: 1 })), 2), [BATCH, 64]);
const paramTypes = { w: f32([4, 3, 3, 3]), b: f32([4]), head: f32([5, 64]) };

/** ONNX bytes of the classifier (features then a linear head), its weights frozen as initializers. */
function classifierOnnx(inputShape: number[]): Uint8Array {
  const traced = trace(
    ({ params, x }: { params: Params; x: Tensor }) => linear(features(params, x), params.head),
    { params: paramTypes, x: f32(inputShape) },
  );
  const frozen = new Map(
    Object.entries(weights).map(([k, data]) => [`params.${k}`, { data, dtype: 'float32' as const }]),
  );
  return emitOnnx(traced.inputList, traced.outputList, { frozen }).bytes;
}

/** The name of the value the head's MatMul reads: the 64-d features. */
function featureValueName(bytes: Uint8Array): string {
  const model = ModelProto.toObject(ModelProto.decode(bytes)) as {
    graph: { node: { opType: string; input: string[] }[] };
  };
  const matmul = model.graph.node.find((n) => n.opType === 'MatMul' || n.opType === 'Gemm');
  assert.ok(matmul, 'the head is a MatMul');
  return matmul.input[0];
}

describe('ONNX feature networks', () => {
  let dir = '';
  let modelPath = '';
  let layer = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'onnx-features-'));
    modelPath = join(dir, 'net.onnx');
    const bytes = classifierOnnx([BATCH, 3, 8, 8]);
    writeFileSync(modelPath, bytes);
    layer = featureValueName(bytes);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('resize bilinearly with half-pixel centres (torch align_corners=False)', () => {
    // 2 → 4 along a row: source positions −0.25, 0.25, 0.75, 1.25 → clamped/interpolated.
    assert.deepEqual([...resizeBilinear(Float32Array.of(0, 1), 1, 2, 1, 4)], [0, 0.25, 0.75, 1]);
    // 4 → 2: centres at 0.5 and 2.5 average the pairs.
    assert.deepEqual([...resizeBilinear(Float32Array.of(0, 2, 4, 6), 1, 4, 1, 2)], [1, 5]);
  });

  it('expose a named value whose features equal the engine computing the same sub-network', async () => {
    const net = await loadFeatureNetwork(modelPath, layer, { range: 'minus-one-one' });
    try {
      assert.deepEqual(net.input, { name: 'x', channels: 3, height: 8, width: 8 });
      // Ten grey 6×6 images: repeated to 3 channels and resized to 8×8 before the network.
      const images = new Random(5).normals(10 * 36).map((v) => Math.tanh(v));
      const { data, dim } = await net.features(images, [1, 6, 6]);
      assert.equal(dim, 64);
      assert.equal(data.length, 10 * 64);
      const x = preprocessImages(images, [1, 6, 6], { channels: 3, height: 8, width: 8 }, 'minus-one-one');
      const direct = new ReferenceRuntime().compile(
        ({ params, x: input }: { params: Params; x: Tensor }) => features(params, input),
        { params: paramTypes, x: f32([BATCH, 3, 8, 8]) },
      );
      // The 10 images run as batches of 4, 4 and 2 (the last padded to the declared batch of 4).
      for (let start = 0; start < 10; start += BATCH) {
        const count = Math.min(BATCH, 10 - start);
        const chunk = new Float32Array(BATCH * 192);
        chunk.set(x.subarray(start * 192, (start + count) * 192));
        const expected = (await direct.run({ params: weights, x: chunk })).data as Float32Array;
        for (let i = 0; i < count * 64; i++) {
          assert.ok(Math.abs(data[start * 64 + i] - expected[i]) < 1e-5, `feature ${start * 64 + i}`);
        }
      }
      await direct.dispose();
      // FID of a set with itself is 0; of a shifted set it is not.
      assert.ok(Math.abs(fid(data, data, dim)) < 1e-6);
      const shifted = await net.features(
        images.map((v) => v * 0.5),
        [1, 6, 6],
      );
      assert.ok(fid(data, shifted.data, dim) > 1e-3);
    } finally {
      await net.dispose();
    }
  });

  it('keep the model otherwise intact: the appended output is the only change', () => {
    const bytes = classifierOnnx([BATCH, 3, 8, 8]);
    const extended = withLayerOutput(bytes, layer);
    assert.ok(Buffer.from(extended.subarray(0, bytes.length)).equals(Buffer.from(bytes)));
    const graph = (
      ModelProto.toObject(ModelProto.decode(extended)) as { graph: { output: { name: string }[] } }
    ).graph;
    assert.equal(graph.output.length, 2);
    assert.equal(graph.output[1].name, layer);
    // A layer that already is an output is not added twice.
    assert.equal(withLayerOutput(extended, layer), extended);
  });

  it('refuse a missing file, a non-ONNX file, an unknown layer and a rank-3 input', async () => {
    await assert.rejects(loadFeatureNetwork(join(dir, 'absent.onnx'), layer), NotFoundError);
    const text = join(dir, 'text.onnx');
    writeFileSync(text, 'this is not a protobuf');
    await assert.rejects(loadFeatureNetwork(text, layer), FormatError);
    await assert.rejects(loadFeatureNetwork(modelPath, 'no_such_value'), (error: Error) => {
      assert.ok(error instanceof NotFoundError);
      assert.match(error.message, /no value named 'no_such_value'/);
      assert.match(String((error as NotFoundError).hint), new RegExp(layer));
      return true;
    });
    const rank3 = join(dir, 'rank3.onnx');
    const t = trace(({ x }: { x: Tensor }) => ({ y: silu(x) }), { x: f32([2, 8, 8]) });
    writeFileSync(rank3, emitOnnx(t.inputList, t.outputList).bytes);
    await assert.rejects(loadFeatureNetwork(rank3, 'y'), (error: Error) => {
      assert.ok(error instanceof ShapeError);
      assert.match(error.message, /rank 3/);
      return true;
    });
  });
});
