// Molecule metrics on hand-made molecules: water and methane are stable, a carbon with five hydrogens
// is not (nor are its atoms all stable), and the bond-length distance is 0 to itself and equals the
// stretch of every C–H bond for a uniformly stretched methane.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Element, Molecule } from '../../src/data/molecules.js';
import { atomStability, bondLengthDistance, inferBonds, stability } from '../../src/metrics/molecules.js';

function molecule(atoms: Array<[Element, number, number, number]>): Molecule {
  return {
    elements: atoms.map((a) => a[0]),
    positions: Float64Array.from(atoms.flatMap((a) => a.slice(1) as number[])),
  };
}

const half = (104.5 / 2) * (Math.PI / 180);
const water = molecule([
  ['O', 0, 0, 0],
  ['H', 0.96 * Math.sin(half), 0.96 * Math.cos(half), 0],
  ['H', -0.96 * Math.sin(half), 0.96 * Math.cos(half), 0],
]);
const t = 1.09 / Math.sqrt(3);
const methane = (scale = 1) =>
  molecule([
    ['C', 0, 0, 0],
    ['H', t * scale, t * scale, t * scale],
    ['H', -t * scale, -t * scale, t * scale],
    ['H', -t * scale, t * scale, -t * scale],
    ['H', t * scale, -t * scale, -t * scale],
  ]);
// Trigonal bipyramid CH5: two axial and three equatorial hydrogens at 1.09 Å.
const ch5 = molecule([
  ['C', 0, 0, 0],
  ['H', 0, 0, 1.09],
  ['H', 0, 0, -1.09],
  ...[0, 1, 2].map((k): [Element, number, number, number] => [
    'H',
    1.09 * Math.cos((2 * Math.PI * k) / 3),
    1.09 * Math.sin((2 * Math.PI * k) / 3),
    0,
  ]),
]);

describe('molecule stability', () => {
  it('finds 2 bonds in water and 4 in methane, all atoms stable', () => {
    assert.equal(inferBonds(water).length, 2);
    assert.equal(inferBonds(methane()).length, 4);
    assert.deepEqual(stability([water, methane()]), { atomStability: 1, moleculeStability: 1 });
  });

  it('marks a 5-valent carbon unstable and the molecule unstable', () => {
    assert.deepEqual(atomStability(ch5), [false, true, true, true, true, true]);
    const report = stability([water, ch5]);
    assert.equal(report.moleculeStability, 0.5);
    assert.equal(report.atomStability, 8 / 9);
  });

  it('marks atoms pulled apart as unbonded and unstable', () => {
    const far = molecule([
      ['O', 0, 0, 0],
      ['H', 3, 0, 0],
      ['H', -0.96, 0, 0],
    ]);
    assert.deepEqual(atomStability(far), [false, false, true]);
  });
});

describe('bond-length distance', () => {
  it('is 0 to itself and the C–H stretch for a stretched methane', () => {
    assert.equal(bondLengthDistance([water, methane()], [water, methane()]).mean, 0);
    const stretched = bondLengthDistance([methane(1.05)], [methane()]);
    assert.ok(Math.abs(stretched.perType['C-H'] - 0.05 * 1.09) < 1e-9, `${stretched.perType['C-H']}`);
    assert.ok(Number.isNaN(bondLengthDistance([methane()], [water]).perType['H-O']));
  });
});
