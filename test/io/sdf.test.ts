// SDF (V2000) read and write: a write → read round trip keeps coordinates to 1e-4 Å, elements and bonds
// with exact column widths; a hand-written two-record file (water, methane) parses to its atoms and
// bonds; malformed records give FormatErrors naming the record and line.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ELEMENTS, generateMolecules } from '../../src/data/molecules.js';
import { inferBonds } from '../../src/metrics/molecules.js';
import { parseSdf, readSdf, toSdf, writeSdf } from '../../src/io/sdf.js';
import { FormatError } from '../../src/util/errors.js';

const WATER_METHANE = [
  'water',
  '  handmade',
  '',
  '  3  2  0  0  0  0  0  0  0  0999 V2000',
  '    0.0000    0.0000    0.1173 O   0  0  0  0  0  0  0  0  0  0  0  0',
  '    0.0000    0.7572   -0.4692 H   0  0  0  0  0  0  0  0  0  0  0  0',
  '    0.0000   -0.7572   -0.4692 H   0  0  0  0  0  0  0  0  0  0  0  0',
  '  1  2  1  0  0  0  0',
  '  1  3  1  0  0  0  0',
  'M  END',
  '> <source>',
  'hand-written',
  '',
  '$$$$',
  'methane',
  '',
  'tetrahedral, C-H 1.09',
  '  5  4  0  0  0  0  0  0  0  0999 V2000',
  '    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0',
  '    0.6293    0.6293    0.6293 H   0  0  0  0  0  0  0  0  0  0  0  0',
  '   -0.6293   -0.6293    0.6293 H   0  0  0  0  0  0  0  0  0  0  0  0',
  '   -0.6293    0.6293   -0.6293 H   0  0  0  0  0  0  0  0  0  0  0  0',
  '    0.6293   -0.6293   -0.6293 H   0  0  0  0  0  0  0  0  0  0  0  0',
  '  1  2  1  0  0  0  0',
  '  1  3  1  0  0  0  0',
  '  1  4  1  0  0  0  0',
  '  1  5  1  0  0  0  0',
  'M  END',
  '$$$$',
  '',
];

/** The hand-written file with line `index` (0-based) replaced, or removed when `line` is null. */
function edited(index: number, line: string | null): string {
  const lines = [...WATER_METHANE];
  if (line === null) lines.splice(index, 1);
  else lines[index] = line;
  return lines.join('\n');
}

function assertFormatError(text: string, pattern: RegExp): void {
  assert.throws(
    () => parseSdf(text, ELEMENTS, 'in.sdf'),
    (error: unknown) => error instanceof FormatError && pattern.test(error.message),
  );
}

describe('SDF V2000', () => {
  it('round-trips molecules: coordinates to 1e-4 Å, elements, bonds and names', () => {
    const molecules = generateMolecules(20, 3).map((m) => ({
      ...m,
      bonds: inferBonds(m).map(({ i, j }) => ({ i, j, order: 1 })),
    }));
    const dir = mkdtempSync(join(tmpdir(), 'sdf-'));
    try {
      const file = join(dir, 'out.sdf');
      writeSdf(file, molecules);
      const back = readSdf(file, ELEMENTS);
      assert.equal(back.length, 20);
      let worst = 0;
      back.forEach((m, k) => {
        assert.deepEqual(m.elements, molecules[k].elements);
        assert.deepEqual(m.bonds, molecules[k].bonds);
        assert.equal(m.comment, molecules[k].comment);
        m.positions.forEach((v, c) => (worst = Math.max(worst, Math.abs(v - molecules[k].positions[c]))));
      });
      assert.ok(worst <= 5e-5 + 1e-12, `worst coordinate error ${worst}`);
      // Generated molecules are trees with every valence filled: heavy atoms − 1 + hydrogens bonds.
      assert.equal(back[0].bonds.length, back[0].elements.length - 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes exact V2000 column widths', () => {
    const text = toSdf([
      {
        elements: ['C', 'O'],
        positions: Float64Array.from([-1234.56789, 0.5, 9999.9999, 0, 0, -0.00004]),
        comment: 'two\nlines',
        bonds: [{ i: 0, j: 1, order: 2 }],
      },
    ]);
    const lines = text.split('\n');
    assert.equal(lines[0], 'two lines');
    assert.equal(lines[3], '  2  1  0  0  0  0  0  0  0  0999 V2000');
    assert.equal(lines[4], '-1234.5679    0.5000 9999.9999 C   0  0  0  0  0  0  0  0  0  0  0  0');
    assert.equal(lines[4].length, 69);
    assert.equal(lines[5].slice(0, 34), '    0.0000    0.0000   -0.0000 O  ');
    assert.equal(lines[6], '  1  2  2  0  0  0  0');
    assert.deepEqual(lines.slice(7), ['M  END', '$$$$', '']);
  });

  it('refuses to write what V2000 cannot hold', () => {
    const base = { elements: ['C'], positions: Float64Array.from([0, 0, 0]), bonds: [] };
    assert.throws(() => toSdf([{ ...base, positions: Float64Array.from([1e4, 0, 0]) }]), FormatError);
    assert.throws(() => toSdf([{ ...base, positions: Float64Array.from([Number.NaN, 0, 0]) }]), FormatError);
    assert.throws(() => toSdf([{ ...base, bonds: [{ i: 0, j: 1, order: 1 }] }]), /molecule 1: bond 0–1/);
  });

  it('parses a hand-written two-record file (water, methane)', () => {
    const [water, methane] = parseSdf(WATER_METHANE.join('\r\n'), ELEMENTS);
    assert.deepEqual(water.elements, ['O', 'H', 'H']);
    assert.equal(water.comment, 'water');
    assert.deepEqual([...water.positions], [0, 0, 0.1173, 0, 0.7572, -0.4692, 0, -0.7572, -0.4692]);
    assert.deepEqual(water.bonds, [
      { i: 0, j: 1, order: 1 },
      { i: 0, j: 2, order: 1 },
    ]);
    assert.deepEqual(methane.elements, ['C', 'H', 'H', 'H', 'H']);
    assert.deepEqual(
      methane.bonds.map(({ i, j }) => [i, j]),
      [
        [0, 1],
        [0, 2],
        [0, 3],
        [0, 4],
      ],
    );
    assert.deepEqual([...methane.positions.slice(3, 6)], [0.6293, 0.6293, 0.6293]);
    // The explicit bonds agree with the distance rule the stability metric uses.
    assert.deepEqual(
      inferBonds(methane).map(({ i, j }) => [i, j]),
      methane.bonds.map(({ i, j }) => [i, j]),
    );
  });

  it('names the record and line of malformed input', () => {
    // Line numbers are 1-based; methane's header starts at line 15, its counts line is line 18.
    assertFormatError(edited(17, '  5'), /in\.sdf record 2 'methane' line 18: expected a counts line/);
    assertFormatError(edited(17, '  x  4  0  0  0  0  0  0  0  0999 V2000'), /record 2 'methane' line 18/);
    assertFormatError(
      edited(3, '  0  0  0  0  0  0  0  0  0  0999 V2000'),
      /record 1 'water' line 4: .*no atoms/,
    );
    // Two atoms promised, three present: the third atom line is read as a bond line.
    assertFormatError(
      edited(3, '  2  2  0  0  0  0  0  0  0  0999 V2000'),
      /record 1 'water' line 7: expected a bond line/,
    );
    // Six atoms promised, five present: the first bond line is read as an atom line.
    assertFormatError(
      edited(17, '  6  4  0  0  0  0  0  0  0  0999 V2000'),
      /record 2 'methane' line 24: expected an atom line/,
    );
    assertFormatError(
      edited(17, '  0  0  0     0  0            999 V3000'),
      /record 2 'methane' line 18: V3000 records are not supported/,
    );
    assertFormatError(
      edited(5, '    0.0000    0.7572   -0.4692 Cl  0  0  0  0  0  0  0  0  0  0  0  0'),
      /record 1 'water' line 6: element 'Cl' is not in the model's element set H\/C\/N\/O/,
    );
    assertFormatError(
      edited(8, '  1  4  1  0  0  0  0'),
      /record 1 'water' line 9: bond to atom 4, but the record has atoms 1–3/,
    );
    assertFormatError(
      edited(4, '    0.0000    abc       0.1173 O   0'),
      /record 1 'water' line 5: expected an atom line/,
    );
    assertFormatError(edited(9, null), /record 1 'water' line 13: the record has no 'M {2}END' line/);
    assertFormatError(
      WATER_METHANE.slice(0, 2).join('\n'),
      /record 1 'water' line 2: the record ends before its counts line/,
    );
    assertFormatError('', /in\.sdf: no SDF records/);
  });
});
