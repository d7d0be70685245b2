/**
 * Quality measures of generated molecules (as EDM, Hoogeboom et al. 2022, reports them): bonds are
 * inferred from interatomic distances (a pair is bonded when closer than its standard single-bond
 * length × `BOND_TOLERANCE`), an atom is stable when its bond count equals its valence (H 1, C 4, N 3,
 * O 2), a molecule when all its atoms are; and the distance of the bond-length distributions to a
 * reference set is the Wasserstein-1 distance per bond type (element pair), averaged with weights by
 * the reference's bond counts.
 *
 * This module must not know about networks or sampling; it scores coordinates and elements.
 */
import type { Element, Molecule } from '../data/molecules.js';
import { VALENCE, bondKey, standardBondLength } from '../data/molecules.js';
import { wasserstein1d } from './wasserstein.js';

/** A pair closer than standard length × this is bonded (thermal and generated spread around ideal). */
export const BOND_TOLERANCE = 1.15;

/** One inferred bond: atom indices and length, Å. */
export interface Bond {
  readonly i: number;
  readonly j: number;
  readonly length: number;
}

function distance(m: Molecule, i: number, j: number): number {
  const p = m.positions;
  return Math.hypot(p[3 * i] - p[3 * j], p[3 * i + 1] - p[3 * j + 1], p[3 * i + 2] - p[3 * j + 2]);
}

/** The bonds of a molecule inferred from distances. */
export function inferBonds(m: Molecule): Bond[] {
  const bonds: Bond[] = [];
  for (let i = 0; i < m.elements.length; i++) {
    for (let j = i + 1; j < m.elements.length; j++) {
      const length = distance(m, i, j);
      if (length < standardBondLength(m.elements[i], m.elements[j]) * BOND_TOLERANCE)
        bonds.push({ i, j, length });
    }
  }
  return bonds;
}

/** Per atom: whether its inferred bond count equals its valence. */
export function atomStability(m: Molecule): boolean[] {
  const degree = new Array<number>(m.elements.length).fill(0);
  for (const { i, j } of inferBonds(m)) {
    degree[i]++;
    degree[j]++;
  }
  return m.elements.map((e: Element, i) => degree[i] === VALENCE[e]);
}

export interface StabilityReport {
  /** Fraction of all atoms that are stable. */
  readonly atomStability: number;
  /** Fraction of molecules whose every atom is stable. */
  readonly moleculeStability: number;
}

export function stability(molecules: readonly Molecule[]): StabilityReport {
  let atoms = 0;
  let stableAtoms = 0;
  let stableMolecules = 0;
  for (const m of molecules) {
    const flags = atomStability(m);
    atoms += flags.length;
    stableAtoms += flags.filter(Boolean).length;
    if (flags.every(Boolean)) stableMolecules++;
  }
  return {
    atomStability: atoms === 0 ? 0 : stableAtoms / atoms,
    moleculeStability: molecules.length === 0 ? 0 : stableMolecules / molecules.length,
  };
}

/** Bond lengths grouped by bond type ('C-H', …). */
export function bondLengths(molecules: readonly Molecule[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const m of molecules) {
    for (const { i, j, length } of inferBonds(m)) {
      const key = bondKey(m.elements[i], m.elements[j]);
      if (!out.has(key)) out.set(key, []);
      out.get(key)!.push(length);
    }
  }
  return out;
}

export interface BondLengthDistance {
  /** Reference-count-weighted mean of the per-type W1 distances, Å. */
  readonly mean: number;
  /** W1 per bond type present in the reference, Å (NaN where the generated set has no such bond). */
  readonly perType: Readonly<Record<string, number>>;
}

/**
 * W1 between generated and reference bond-length distributions per bond type; a type the generated set
 * lacks is reported as NaN and left out of the mean, so the mean covers only types both sets have.
 */
export function bondLengthDistance(
  generated: readonly Molecule[],
  reference: readonly Molecule[],
): BondLengthDistance {
  const gen = bondLengths(generated);
  const ref = bondLengths(reference);
  const perType: Record<string, number> = {};
  let weighted = 0;
  let weight = 0;
  for (const [key, lengths] of [...ref].sort(([a], [b]) => a.localeCompare(b))) {
    const g = gen.get(key);
    perType[key] = g ? wasserstein1d(g, lengths) : Number.NaN;
    if (g) {
      weighted += perType[key] * lengths.length;
      weight += lengths.length;
    }
  }
  return { mean: weight === 0 ? Number.NaN : weighted / weight, perType };
}
