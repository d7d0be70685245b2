// The molecule data: the shipped XYZ set is what the documented generator writes, every molecule in
// it is valence-stable with standard bond lengths, XYZ round-trips, padding centres the molecules,
// and the point clouds lie on their surfaces.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  atomCountDistribution,
  generateMolecules,
  loadShippedMolecules,
  padMolecules,
  parseXyz,
  pointClouds,
  toXyz,
} from '../../src/data/molecules.js';
import { bondLengths, stability } from '../../src/metrics/molecules.js';

describe('molecule data', () => {
  const shipped = loadShippedMolecules();

  it('ships the 300 molecules generateMolecules(300, 0) writes, all stable, C–H bonds 1.09 Å', () => {
    assert.equal(shipped.length, 300);
    assert.equal(toXyz(generateMolecules(300, 0)), toXyz(shipped));
    assert.deepEqual(stability(shipped), { atomStability: 1, moleculeStability: 1 });
    const ch = bondLengths(shipped).get('C-H')!;
    assert.ok(ch.every((d) => Math.abs(d - 1.09) < 1e-3));
    const p = atomCountDistribution(shipped);
    assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-9 && p.length === 15);
  });

  it('round-trips XYZ text and rejects a malformed line', () => {
    const text = toXyz(shipped.slice(0, 5));
    assert.equal(toXyz(parseXyz(text)), text);
    assert.throws(() => parseXyz('2\nbad\nC 0 0 0\nX 1 2\n'), /line 4/);
  });

  it('pads to max atoms with a mask and zero centre of mass', () => {
    const padded = padMolecules(shipped.slice(0, 3), 14);
    for (let b = 0; b < 3; b++) {
      const count = padded.mask.subarray(b * 14, (b + 1) * 14).reduce((a, v) => a + v, 0);
      assert.equal(count, shipped[b].elements.length);
      for (let k = 0; k < 3; k++) {
        let c = 0;
        for (let i = 0; i < 14; i++) c += padded.positions[(b * 14 + i) * 3 + k];
        assert.ok(Math.abs(c) < 1e-5);
      }
    }
    assert.throws(() => padMolecules(shipped, 3), /max_atoms/);
  });

  it('puts sphere points at radius 1 and rejects an unknown shape', () => {
    const [sphere] = pointClouds('sphere', 1, 50, 1);
    for (let i = 0; i < 50; i++) {
      const r = Math.hypot(sphere.positions[3 * i], sphere.positions[3 * i + 1], sphere.positions[3 * i + 2]);
      assert.ok(Math.abs(r - 1) < 1e-9);
    }
    assert.throws(() => pointClouds('cone', 1, 5, 0), /unknown point-cloud shape 'cone'/);
  });
});
