/**
 * Small molecules and 3-D point clouds for E(n)-equivariant diffusion. The molecule set is built here
 * by a documented, seeded method (no download): a random tree of 1–4 heavy atoms (C, N, O) joined by
 * single bonds, every free valence filled with hydrogen (C 4, N 3, O 2), and 3-D coordinates from an
 * ideal-geometry construction — standard single-bond lengths (C–H 1.09 Å, C–C 1.54 Å, …), tetrahedral
 * angles (109.47°) at every heavy atom and a random torsion about each heavy–heavy bond — with any
 * conformer whose non-bonded atoms come closer than a clash distance rejected. `data/molecules/
 * sp3-organics.xyz` holds the shipped set, written by `generateMolecules(300, 0)`. Also: XYZ read and
 * write, padding to a fixed atom count with a node mask, and synthetic point clouds (points on a
 * sphere, torus or cube surface, randomly rotated).
 *
 * This module must not know about networks or diffusion; it produces and parses coordinates and types.
 */
import { readFileSync } from 'node:fs';
import { FormatError, UsageError, unknownChoice } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { Random } from '../util/random.js';

/** The elements the molecule set uses, in one-hot order. */
export const ELEMENTS = ['H', 'C', 'N', 'O'] as const;
export type Element = (typeof ELEMENTS)[number];
/** Valence (number of single bonds) of each element. */
export const VALENCE: Readonly<Record<Element, number>> = { H: 1, C: 4, N: 3, O: 2 };

/** Standard single-bond lengths in Å (Allen et al. 1987 averages, rounded). */
const BOND_LENGTH: Readonly<Record<string, number>> = {
  'H-H': 0.74,
  'C-H': 1.09,
  'H-N': 1.01,
  'H-O': 0.96,
  'C-C': 1.54,
  'C-N': 1.47,
  'C-O': 1.43,
  'N-N': 1.45,
  'N-O': 1.4,
  'O-O': 1.48,
};

/** One molecule: element per atom and coordinates [atoms × 3] in Å. */
export interface Molecule {
  readonly elements: readonly Element[];
  readonly positions: Float64Array;
  readonly comment?: string;
}

/** The canonical key of an element pair ('C-H', 'C-C', …). */
export function bondKey(a: Element, b: Element): string {
  return a < b ? `${a}-${b}` : `${b}-${a}`;
}

/** Standard single-bond length of an element pair, Å. */
export function standardBondLength(a: Element, b: Element): number {
  return BOND_LENGTH[bondKey(a, b)];
}

type Vec3 = [number, number, number];
const sub3 = (a: Vec3, b: Vec3): Vec3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const add3 = (a: Vec3, b: Vec3): Vec3 => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
const scale3 = (a: Vec3, s: number): Vec3 => [a[0] * s, a[1] * s, a[2] * s];
const dot3 = (a: Vec3, b: Vec3) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross3 = (a: Vec3, b: Vec3): Vec3 => [
  a[1] * b[2] - a[2] * b[1],
  a[2] * b[0] - a[0] * b[2],
  a[0] * b[1] - a[1] * b[0],
];
const unit3 = (a: Vec3): Vec3 => scale3(a, 1 / Math.sqrt(dot3(a, a)));

/** A unit vector perpendicular to `a`. */
function perpendicular(a: Vec3): Vec3 {
  const other: Vec3 = Math.abs(a[0]) < 0.9 ? [1, 0, 0] : [0, 1, 0];
  return unit3(cross3(a, other));
}

/**
 * The four tetrahedral directions around an atom whose first bond points along `first`, rotated by
 * `torsion` about it: the other three make 109.47° with `first` and 120° with each other.
 */
function tetrahedralDirections(first: Vec3, torsion: number): Vec3[] {
  const u = unit3(first);
  const p = perpendicular(u);
  const q = cross3(u, p);
  const cosT = -1 / 3;
  const sinT = Math.sqrt(1 - cosT * cosT);
  const others = [0, 1, 2].map((k) => {
    const phi = torsion + (2 * Math.PI * k) / 3;
    return add3(scale3(u, cosT), add3(scale3(p, sinT * Math.cos(phi)), scale3(q, sinT * Math.sin(phi))));
  });
  return [u, ...others];
}

/** A random tree over `heavy` heavy atoms whose degrees respect the valences; null if none was drawn. */
function randomHeavyTree(heavy: number, random: Random): { elements: Element[]; parent: number[] } | null {
  const heavyElements: Element[] = ['C', 'C', 'C', 'N', 'O'];
  const elements: Element[] = [heavyElements[random.int(heavyElements.length)]];
  const parent = [-1];
  const degree = [0];
  for (let i = 1; i < heavy; i++) {
    const element = heavyElements[random.int(heavyElements.length)];
    const open = elements.map((e, j) => j).filter((j) => degree[j] < VALENCE[elements[j]]);
    if (open.length === 0) return null;
    const p = open[random.int(open.length)];
    elements.push(element);
    parent.push(p);
    degree.push(1);
    degree[p]++;
  }
  // A heavy atom of valence 1 would have no room for its parent bond; O–O/N–O chains stay legal (single bonds).
  return elements.every((e, i) => degree[i] <= VALENCE[e]) ? { elements, parent } : null;
}

/** The closest approach of two atoms that are not bonded, Å; conformers below it are rejected. */
const CLASH_DISTANCE = 1.6;

/**
 * One molecule with ideal geometry: heavy atoms placed depth-first along tetrahedral directions of
 * their parent (random torsion per bond), hydrogens on the remaining tetrahedral directions. Null
 * when a random torsion made two non-bonded atoms clash.
 */
function buildMolecule(heavy: number, random: Random): Molecule | null {
  const tree = randomHeavyTree(heavy, random);
  if (!tree) return null;
  const elements: Element[] = [];
  const positions: Vec3[] = [];
  const bonded = new Set<string>();
  const index = new Map<number, number>();
  const children = tree.parent.map((_, i) => tree.parent.flatMap((p, j) => (p === i ? [j] : [])));
  const place = (heavyIndex: number, at: Vec3, towardParent: Vec3 | null, parentAtom: number) => {
    const element = tree.elements[heavyIndex];
    const self = elements.length;
    elements.push(element);
    positions.push(at);
    index.set(heavyIndex, self);
    if (parentAtom >= 0) bonded.add(`${parentAtom},${self}`);
    const first: Vec3 = towardParent ?? unit3([random.normal(), random.normal(), random.normal()]);
    const dirs = tetrahedralDirections(first, 2 * Math.PI * random.uniform());
    const free = towardParent ? dirs.slice(1) : dirs;
    const kids = children[heavyIndex];
    kids.forEach((kid, k) => {
      const length = standardBondLength(element, tree.elements[kid]);
      place(kid, add3(at, scale3(free[k], length)), scale3(free[k], -1), self);
    });
    const hydrogens = VALENCE[element] - kids.length - (towardParent ? 1 : 0);
    for (let k = 0; k < hydrogens; k++) {
      const h = elements.length;
      elements.push('H');
      positions.push(add3(at, scale3(free[kids.length + k], standardBondLength(element, 'H'))));
      bonded.add(`${self},${h}`);
    }
  };
  place(0, [0, 0, 0], null, -1);
  for (let i = 0; i < positions.length; i++) {
    for (let j = i + 1; j < positions.length; j++) {
      if (bonded.has(`${i},${j}`) || bonded.has(`${j},${i}`)) continue;
      const d = sub3(positions[i], positions[j]);
      // Geminal atoms (two bonds apart) sit ≥ 1.78 Å apart by construction; anything closer is a clash.
      if (Math.sqrt(dot3(d, d)) < CLASH_DISTANCE) return null;
    }
  }
  return { elements, positions: Float64Array.from(positions.flat()) };
}

/** `count` molecules with 1–4 heavy atoms, drawn with the seeded method in the module header. */
export function generateMolecules(count: number, seed: number): Molecule[] {
  const random = new Random(seed);
  const out: Molecule[] = [];
  while (out.length < count) {
    const molecule = buildMolecule(1 + random.int(4), random);
    if (molecule) out.push({ ...molecule, comment: formula(molecule.elements) });
  }
  return out;
}

/** Hill-order formula, e.g. 'C2H6O'. */
export function formula(elements: readonly Element[]): string {
  const counts = new Map<Element, number>();
  for (const e of elements) counts.set(e, (counts.get(e) ?? 0) + 1);
  const order: Element[] = ['C', 'H', 'N', 'O'];
  return order
    .filter((e) => counts.has(e))
    .map((e) => `${e}${counts.get(e) === 1 ? '' : counts.get(e)}`)
    .join('');
}

/** Multi-molecule XYZ text: per molecule an atom count line, a comment line and `El x y z` lines. */
export function toXyz(molecules: readonly Molecule[], digits = 4): string {
  return molecules
    .map((m) => {
      const lines = m.elements.map((e, i) => {
        const [x, y, z] = [0, 1, 2].map((k) => m.positions[3 * i + k].toFixed(digits));
        return `${e} ${x} ${y} ${z}`;
      });
      return [String(m.elements.length), m.comment ?? formula(m.elements), ...lines].join('\n');
    })
    .join('\n')
    .concat('\n');
}

/** Parses multi-molecule XYZ text; FormatError names the line that is wrong. */
export function parseXyz(text: string, source = 'XYZ'): Molecule[] {
  const lines = text.split(/\r?\n/);
  const out: Molecule[] = [];
  let i = 0;
  while (i < lines.length) {
    if (lines[i].trim() === '') {
      i++;
      continue;
    }
    const count = Number(lines[i].trim());
    if (!Number.isInteger(count) || count < 1) {
      throw new FormatError(`${source} line ${i + 1}: expected an atom count, got '${lines[i]}'`);
    }
    const comment = lines[i + 1] ?? '';
    const elements: Element[] = [];
    const positions = new Float64Array(3 * count);
    for (let a = 0; a < count; a++) {
      const lineNo = i + 2 + a;
      const parts = (lines[lineNo] ?? '').trim().split(/\s+/);
      const element = parts[0] as Element;
      const xyz = parts.slice(1, 4).map(Number);
      if (!ELEMENTS.includes(element) || xyz.length !== 3 || !xyz.every(Number.isFinite)) {
        throw new FormatError(
          `${source} line ${lineNo + 1}: expected 'El x y z' with El in ${ELEMENTS.join('/')}`,
          {
            hint: `got '${lines[lineNo] ?? ''}'`,
          },
        );
      }
      elements.push(element);
      positions.set(xyz, 3 * a);
    }
    out.push({ elements, positions, comment });
    i += 2 + count;
  }
  return out;
}

export function readXyz(path: string): Molecule[] {
  return parseXyz(readFileSync(path, 'utf8'), path);
}

export function writeXyz(path: string, molecules: readonly Molecule[]): void {
  writeFileAtomic(path, toXyz(molecules));
}

/** The shipped molecule set (data/molecules/sp3-organics.xyz). */
export function loadShippedMolecules(): Molecule[] {
  return readXyz(new URL('../../data/molecules/sp3-organics.xyz', import.meta.url).pathname);
}

/** Molecules padded to `maxAtoms`: coordinates [n, maxAtoms, 3], one-hot types [n, maxAtoms, K], mask [n, maxAtoms]. */
export interface PaddedMolecules {
  readonly count: number;
  readonly maxAtoms: number;
  readonly numTypes: number;
  readonly positions: Float32Array;
  readonly oneHot: Float32Array;
  readonly mask: Float32Array;
}

/** Pads molecules (centred to zero centre of mass of the real atoms) to a fixed atom count. */
export function padMolecules(molecules: readonly Molecule[], maxAtoms: number): PaddedMolecules {
  const K = ELEMENTS.length;
  const n = molecules.length;
  const positions = new Float32Array(n * maxAtoms * 3);
  const oneHot = new Float32Array(n * maxAtoms * K);
  const mask = new Float32Array(n * maxAtoms);
  molecules.forEach((m, b) => {
    const atoms = m.elements.length;
    if (atoms > maxAtoms) {
      throw new UsageError(`a molecule of ${atoms} atoms does not fit max_atoms ${maxAtoms}`);
    }
    const centre = [0, 1, 2].map(
      (k) => m.elements.reduce((s, _, i) => s + m.positions[3 * i + k], 0) / atoms,
    );
    m.elements.forEach((e, i) => {
      for (let k = 0; k < 3; k++) positions[(b * maxAtoms + i) * 3 + k] = m.positions[3 * i + k] - centre[k];
      oneHot[(b * maxAtoms + i) * K + ELEMENTS.indexOf(e)] = 1;
      mask[b * maxAtoms + i] = 1;
    });
  });
  return { count: n, maxAtoms, numTypes: K, positions, oneHot, mask };
}

/** Histogram of atom counts: `p[n]` is the fraction of molecules with n atoms (index 0..max). */
export function atomCountDistribution(molecules: readonly Molecule[]): number[] {
  const max = Math.max(...molecules.map((m) => m.elements.length));
  const p = new Array<number>(max + 1).fill(0);
  for (const m of molecules) p[m.elements.length] += 1 / molecules.length;
  return p;
}

export const POINT_CLOUD_SHAPES = ['sphere', 'torus', 'cube'] as const;
export type PointCloudShape = (typeof POINT_CLOUD_SHAPES)[number];

/** A uniformly random rotation matrix (row-major 3×3) from a random unit quaternion. */
export function randomRotation(random: Random): number[] {
  const q = unit4([random.normal(), random.normal(), random.normal(), random.normal()]);
  const [w, x, y, z] = q;
  return [
    1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
    2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
    2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
  ]; // prettier-ignore
}

function unit4(q: number[]): number[] {
  const n = Math.hypot(...q);
  return q.map((v) => v / n);
}

/** One point on the unit shape's surface. */
function surfacePoint(shape: PointCloudShape, random: Random): Vec3 {
  if (shape === 'sphere') return unit3([random.normal(), random.normal(), random.normal()]);
  if (shape === 'torus') {
    // Major radius 1, minor 0.35; angles uniform (not area-uniform, which is fine for a toy set).
    const [u, v] = [2 * Math.PI * random.uniform(), 2 * Math.PI * random.uniform()];
    const r = 1 + 0.35 * Math.cos(v);
    return [r * Math.cos(u), r * Math.sin(u), 0.35 * Math.sin(v)];
  }
  const face = random.int(6);
  const axis = face % 3;
  const p: Vec3 = [2 * random.uniform() - 1, 2 * random.uniform() - 1, 2 * random.uniform() - 1];
  p[axis] = face < 3 ? -1 : 1;
  return p;
}

/**
 * `count` point clouds of `points` points on a shape's surface, each randomly rotated and centred; every
 * point is element 'C' so the clouds fit the molecule containers (one type).
 */
export function pointClouds(shape: string, count: number, points: number, seed: number): Molecule[] {
  if (!(POINT_CLOUD_SHAPES as readonly string[]).includes(shape)) {
    throw unknownChoice('point-cloud shape', shape, POINT_CLOUD_SHAPES);
  }
  const random = new Random(seed);
  return Array.from({ length: count }, () => {
    const R = randomRotation(random);
    const positions = new Float64Array(points * 3);
    for (let i = 0; i < points; i++) {
      const p = surfacePoint(shape as PointCloudShape, random);
      for (let r = 0; r < 3; r++)
        positions[3 * i + r] = R[3 * r] * p[0] + R[3 * r + 1] * p[1] + R[3 * r + 2] * p[2];
    }
    return { elements: new Array<Element>(points).fill('C'), positions, comment: shape };
  });
}
