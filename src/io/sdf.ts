/**
 * SDF (MDL CTfile V2000 structure-data files) read and write for small molecules. A record is a
 * three-line header (name, program, comment), the counts line `aaabbblllfffcccsssxxxrrrpppiiimmmvvvvvv`
 * (fixed-width 3-character fields, version `V2000` in the last six), the atom block (x, y, z as
 * %10.4f, a space, the element symbol left-aligned in 3 characters, then the per-atom fields), the
 * bond block (`111222tttsss…`: first atom, second atom (1-based), bond type), property lines up to
 * `M  END`, optional data items, and `$$$$`. The reader parses the fixed columns strictly and refuses
 * V3000 records, elements outside the caller's element set and every malformed line with a
 * FormatError naming the record and line; the writer writes exact widths atomically. Molecules come
 * back in the same shape as the XYZ reader's (elements, positions [atoms × 3] in Å, comment) plus
 * their bonds.
 *
 * This module must not know about networks, diffusion or how bonds are inferred; the caller passes the
 * element set and, when writing, the bonds.
 */
import { readFileSync } from 'node:fs';
import { FormatError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';

/** One bond: 0-based atom indices and the CTfile bond type (1 single, 2 double, 3 triple, 4 aromatic, 5–8 query types). */
export interface SdfBond {
  readonly i: number;
  readonly j: number;
  readonly order: number;
}

/** One molecule: element per atom, coordinates [atoms × 3] in Å, the record's name line and its bonds. */
export interface SdfMolecule<E extends string = string> {
  readonly elements: readonly E[];
  readonly positions: Float64Array;
  readonly comment?: string;
  readonly bonds: readonly SdfBond[];
}

/** The largest count a 3-character field holds. */
const MAX_COUNT = 999;
/** The largest magnitude a %10.4f field holds ('-9999.9999'). */
const MAX_COORDINATE = 9999.99995;
const RECORD_END = '$$$$';
const PROPERTIES_END = 'M  END';

/** Where a problem is: file, record number and name, line number (1-based). */
interface Place {
  readonly source: string;
  readonly record: number;
  readonly name: string;
}

function where(place: Place, line: number): string {
  const name = place.name === '' ? '' : ` '${place.name}'`;
  return `${place.source} record ${place.record}${name} line ${line + 1}`;
}

/** A non-negative integer in a fixed-width field, or null when the field is not one. */
function countField(field: string): number | null {
  return /^\s*\d+$/.test(field) ? Number(field) : null;
}

/** A finite number in a fixed-width field, or null. */
function numberField(field: string): number | null {
  const text = field.trim();
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return null;
  return Number(text);
}

/** Atom and bond counts from the counts line; V3000 and other versions are refused. */
function parseCounts(line: string, place: Place, lineNo: number): { atoms: number; bonds: number } {
  const version = line.slice(33).trim();
  if (version.toUpperCase() === 'V3000') {
    throw new FormatError(`${where(place, lineNo)}: V3000 records are not supported`, {
      hint: 'write the file as V2000 (RDKit and Open Babel do by default for molecules under 1000 atoms)',
    });
  }
  if (version !== '' && version.toUpperCase() !== 'V2000') {
    throw new FormatError(`${where(place, lineNo)}: unknown CTfile version '${version}' (expected V2000)`);
  }
  const atoms = countField(line.slice(0, 3));
  const bonds = countField(line.slice(3, 6));
  if (line.length < 6 || atoms === null || bonds === null) {
    throw new FormatError(
      `${where(place, lineNo)}: expected a counts line 'aaabbb…V2000' (3-character atom and bond counts)`,
      { hint: `got '${line}'` },
    );
  }
  if (atoms === 0) throw new FormatError(`${where(place, lineNo)}: the record has no atoms`);
  return { atoms, bonds };
}

/** One atom line: coordinates from columns 1–30, the symbol from columns 32–34. */
function parseAtom<E extends string>(
  line: string,
  elements: readonly E[],
  place: Place,
  lineNo: number,
): { element: E; xyz: number[] } {
  const xyz = [0, 10, 20].map((start) => numberField(line.slice(start, start + 10)));
  const symbol = line.slice(31, 34).trim();
  if (line.length < 32 || xyz.some((v) => v === null) || symbol === '' || /\s/.test(symbol)) {
    throw new FormatError(
      `${where(place, lineNo)}: expected an atom line 'xxxxx.xxxxyyyyy.yyyyzzzzz.zzzz aaa…' (x, y, z %10.4f, symbol)`,
      { hint: `got '${line}'` },
    );
  }
  if (!(elements as readonly string[]).includes(symbol)) {
    throw new FormatError(
      `${where(place, lineNo)}: element '${symbol}' is not in the model's element set ${elements.join('/')}`,
    );
  }
  return { element: symbol as E, xyz: xyz as number[] };
}

/** One bond line: 1-based atom numbers in columns 1–6, the bond type in 7–9. */
function parseBond(line: string, atoms: number, place: Place, lineNo: number): SdfBond {
  const [first, second, order] = [0, 3, 6].map((start) => countField(line.slice(start, start + 3)));
  if (line.length < 9 || first === null || second === null || order === null) {
    throw new FormatError(
      `${where(place, lineNo)}: expected a bond line '111222ttt…' (3-character atom numbers and type)`,
      { hint: `got '${line}'` },
    );
  }
  for (const atom of [first, second]) {
    if (atom < 1 || atom > atoms) {
      throw new FormatError(
        `${where(place, lineNo)}: bond to atom ${atom}, but the record has atoms 1–${atoms}`,
      );
    }
  }
  if (first === second) throw new FormatError(`${where(place, lineNo)}: bond from atom ${first} to itself`);
  if (order < 1 || order > 8) {
    throw new FormatError(`${where(place, lineNo)}: bond type ${order} is not a V2000 bond type (1–8)`);
  }
  return { i: first - 1, j: second - 1, order };
}

/** The index of the first line in [from, to) equal to `marker` (trailing spaces ignored), or -1. */
function findLine(lines: readonly string[], from: number, to: number, marker: string): number {
  for (let k = from; k < to; k++) if (lines[k].trimEnd() === marker) return k;
  return -1;
}

/** One record starting at line `start`; returns the molecule and the line after its `$$$$`. */
function parseRecord<E extends string>(
  lines: readonly string[],
  start: number,
  elements: readonly E[],
  source: string,
  record: number,
): { molecule: SdfMolecule<E>; next: number } {
  const name = lines[start].trim();
  const place: Place = { source, record, name };
  const countsLine = start + 3;
  if (countsLine >= lines.length) {
    throw new FormatError(`${where(place, lines.length - 1)}: the record ends before its counts line`);
  }
  const { atoms, bonds } = parseCounts(lines[countsLine], place, countsLine);
  const atomStart = countsLine + 1;
  const bondStart = atomStart + atoms;
  const blockEnd = bondStart + bonds;
  const endOfRecord = findLine(lines, start, lines.length, RECORD_END);
  const limit = endOfRecord === -1 ? lines.length : endOfRecord;
  // Errors about a short record point at its '$$$$' line, or at the file's last line without one.
  const lastLine = Math.min(limit, lines.length - 1);
  if (blockEnd > limit) {
    throw new FormatError(
      `${where(place, lastLine)}: the counts line promises ${atoms} atoms and ${bonds} bonds, but the record ends first`,
    );
  }
  const symbols: E[] = [];
  const positions = new Float64Array(3 * atoms);
  for (let a = 0; a < atoms; a++) {
    const { element, xyz } = parseAtom(lines[atomStart + a], elements, place, atomStart + a);
    symbols.push(element);
    positions.set(xyz, 3 * a);
  }
  const bondList: SdfBond[] = [];
  for (let b = 0; b < bonds; b++) bondList.push(parseBond(lines[bondStart + b], atoms, place, bondStart + b));
  const end = findLine(lines, blockEnd, limit, PROPERTIES_END);
  if (end === -1) {
    throw new FormatError(`${where(place, lastLine)}: the record has no '${PROPERTIES_END}' line`);
  }
  const molecule: SdfMolecule<E> = { elements: symbols, positions, comment: name, bonds: bondList };
  return { molecule, next: limit + 1 };
}

/**
 * Parses an SDF text of one or more V2000 records; every atom must be in `elements`. Property lines
 * (`M  CHG`, …) and data items are read past, not kept. FormatError names the record and line.
 */
export function parseSdf<E extends string>(
  text: string,
  elements: readonly E[],
  source = 'SDF',
): SdfMolecule<E>[] {
  const lines = text.split(/\r?\n/);
  const out: SdfMolecule<E>[] = [];
  // Blank lines after the last record are not another record.
  let contentEnd = lines.length;
  while (contentEnd > 0 && lines[contentEnd - 1].trim() === '') contentEnd--;
  let start = 0;
  while (start < contentEnd) {
    const { molecule, next } = parseRecord(lines, start, elements, source, out.length + 1);
    out.push(molecule);
    start = next;
  }
  if (out.length === 0) throw new FormatError(`${source}: no SDF records`);
  return out;
}

export function readSdf<E extends string>(path: string, elements: readonly E[]): SdfMolecule<E>[] {
  return parseSdf(readFileSync(path, 'utf8'), elements, path);
}

const field3 = (value: number): string => String(value).padStart(3);
const coordinate = (value: number): string => value.toFixed(4).padStart(10);

/** Throws when a molecule cannot be written in V2000's fixed widths. */
function assertWritable(m: SdfMolecule, index: number): void {
  const what = `molecule ${index + 1}`;
  const atoms = m.elements.length;
  if (atoms < 1 || atoms > MAX_COUNT || m.bonds.length > MAX_COUNT) {
    throw new FormatError(
      `${what}: ${atoms} atoms and ${m.bonds.length} bonds do not fit V2000 (1–${MAX_COUNT} atoms, ≤ ${MAX_COUNT} bonds)`,
    );
  }
  if (m.positions.length !== 3 * atoms) {
    throw new FormatError(
      `${what}: ${m.positions.length} coordinates for ${atoms} atoms (expected ${3 * atoms})`,
    );
  }
  if (!m.positions.every((v) => Number.isFinite(v) && Math.abs(v) < MAX_COORDINATE)) {
    throw new FormatError(`${what}: coordinates must be finite and within ±9999.9999 Å to fit %10.4f`);
  }
  const badSymbol = m.elements.find((e) => !/^[A-Za-z][A-Za-z0-9*]{0,2}$/.test(e));
  if (badSymbol !== undefined) throw new FormatError(`${what}: '${badSymbol}' is not a 1–3 character symbol`);
  for (const { i, j, order } of m.bonds) {
    const inRange = (k: number) => Number.isInteger(k) && k >= 0 && k < atoms;
    if (!inRange(i) || !inRange(j) || i === j || !Number.isInteger(order) || order < 1 || order > 8) {
      throw new FormatError(`${what}: bond ${i}–${j} of type ${order} is not a valid bond of ${atoms} atoms`);
    }
  }
}

/** The header's name line: the comment on one line, at most 80 characters (CTfile limit). */
function nameLine(m: SdfMolecule): string {
  return (m.comment ?? '').replace(/[\r\n]+/g, ' ').slice(0, 80);
}

/** One V2000 record, ending with `$$$$`. */
function recordText(m: SdfMolecule): string {
  const atoms = m.elements.map((e, a) => {
    const [x, y, z] = [0, 1, 2].map((k) => coordinate(m.positions[3 * a + k]));
    // Then mass difference (2 chars) and charge, stereo, H count, … (3 chars each), all zero.
    return `${x}${y}${z} ${e.padEnd(3)} 0${'  0'.repeat(11)}`;
  });
  const bonds = m.bonds.map(
    ({ i, j, order }) => `${field3(i + 1)}${field3(j + 1)}${field3(order)}  0  0  0  0`,
  );
  const counts = `${field3(m.elements.length)}${field3(m.bonds.length)}${'  0'.repeat(8)}999 V2000`;
  // Program line: 2-char user initials, 8-char program name, 10-char date (left blank so output is reproducible), '3D'.
  const program = `  diffusts${' '.repeat(10)}3D`;
  return [nameLine(m), program, '', counts, ...atoms, ...bonds, PROPERTIES_END, RECORD_END].join('\n');
}

/** SDF text of the molecules, one V2000 record each; FormatError when one does not fit V2000. */
export function toSdf(molecules: readonly SdfMolecule[]): string {
  molecules.forEach(assertWritable);
  return molecules.map(recordText).join('\n').concat('\n');
}

/** Writes the molecules as an SDF file, atomically. */
export function writeSdf(path: string, molecules: readonly SdfMolecule[]): void {
  writeFileAtomic(path, toSdf(molecules));
}
