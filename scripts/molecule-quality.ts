/**
 * Quality of generated molecules against the shipped set and a random baseline (docs/molecules.md):
 * `npx tsx scripts/molecule-quality.ts samples/molecules.xyz` prints atom stability, molecule
 * stability and the bond-length W1 (mean and per bond type) for the generated file, for 100 molecules
 * of the shipped set itself, and for 100 molecules with the shipped compositions and random positions.
 *
 * This script must not train or sample; it scores XYZ files.
 */
import { loadShippedMolecules, readXyz } from '../src/data/molecules.js';
import { bondLengthDistance, stability } from '../src/metrics/molecules.js';
import { randomMolecules } from '../src/pipelines/molecules.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: npx tsx scripts/molecule-quality.ts GENERATED.xyz\n');
  process.exit(2);
}
const reference = loadShippedMolecules();
const sets = [
  ['generated', readXyz(file)],
  ['shipped set (last 100)', reference.slice(-100)],
  ['random positions', randomMolecules(reference, 100, 2)],
] as const;
for (const [name, molecules] of sets) {
  const { atomStability, moleculeStability } = stability(molecules);
  const bonds = bondLengthDistance(molecules, reference);
  const perType = Object.entries(bonds.perType)
    .map(([key, w]) => `${key} ${Number.isNaN(w) ? '—' : w.toFixed(3)}`)
    .join(', ');
  process.stdout.write(
    `${name}: ${molecules.length} molecules, atom stability ${(100 * atomStability).toFixed(1)}%, ` +
      `molecule stability ${(100 * moleculeStability).toFixed(1)}%, bond-length W1 ${bonds.mean.toFixed(3)} Å (${perType})\n`,
  );
}
