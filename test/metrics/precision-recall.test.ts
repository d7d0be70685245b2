// Improved precision/recall (Kynkäänniemi et al. 2019) on sets whose k-NN manifolds can be worked out by hand.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { kthNeighbourRadii, precisionRecall } from '../../src/metrics/precision-recall.js';
import { DiffusionError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

describe('precision and recall', () => {
  it('are 1 for identical sets and 0 for far-apart ones', () => {
    const random = new Random(2);
    const a = Float64Array.from({ length: 200 * 3 }, () => random.normal());
    assert.deepEqual(precisionRecall(a, a, 3), { precision: 1, recall: 1 });
    const far = a.map((v) => v + 100);
    assert.deepEqual(precisionRecall(a, far, 3), { precision: 0, recall: 0 });
  });

  it('match hand-computed values on a line with k = 1', () => {
    // Real {0, 1, 2, 3}: every radius 1. Generated {0.5, 10, 2.5, 20}: radii 2, 7.5, 2, 10.
    const real = [0, 1, 2, 3];
    const generated = [0.5, 10, 2.5, 20];
    assert.deepEqual([...kthNeighbourRadii(generated, 1, 1)], [4, 56.25, 4, 100]);
    // 0.5 and 2.5 lie in the real manifold, 10 and 20 do not; every real point lies within 2 of 0.5 or 2.5.
    assert.deepEqual(precisionRecall(real, generated, 1, { k: 1 }), { precision: 0.5, recall: 1 });
  });

  it('drop when the generated set covers only half the modes (recall) or adds a far mode (precision)', () => {
    const random = new Random(4);
    const blob = (cx: number, n: number) =>
      Array.from({ length: n }, () => [cx + 0.1 * random.normal(), 0.1 * random.normal()]).flat();
    const real = [...blob(0, 100), ...blob(5, 100)];
    const halfModes = [...blob(0, 200)];
    const extraMode = [...blob(0, 100), ...blob(5, 50), ...blob(-5, 50)];
    const dropped = precisionRecall(real, halfModes, 2);
    assert.ok(
      dropped.precision > 0.9 && dropped.recall > 0.4 && dropped.recall < 0.6,
      JSON.stringify(dropped),
    );
    const spurious = precisionRecall(real, extraMode, 2);
    assert.ok(spurious.precision > 0.65 && spurious.precision < 0.8, JSON.stringify(spurious));
  });

  it('rejects k that is not below the set size', () => {
    assert.throws(() => precisionRecall([0, 1, 2], [0, 1, 2], 1, { k: 3 }), DiffusionError);
  });
});
