/**
 * Numeric CSV reading for tables of numbers (time series, 2-D point sets, metrics). Fields follow
 * RFC 4180 (quotes, doubled quotes, CRLF); a header row is optional and by default recognised by
 * holding a cell that is not a number. Every other cell must be a number — decimal or exponent form,
 * or `nan`/`inf`/`-inf` as NumPy and pandas write them — and a cell that is not gives a FormatError
 * naming its line, row and column. Blank lines and lines starting with `#` are skipped. Values come
 * back row-major in one Float64Array; what the columns mean is the caller's business.
 */
import { readFileSync } from 'node:fs';
import { FormatError, NotFoundError, UsageError } from '../util/errors.js';

export interface NumericTable {
  /** Column names from the header row, or null when the file has none. */
  header: string[] | null;
  rows: number;
  columns: number;
  /** rows·columns values, row-major. */
  values: Float64Array;
}

export interface CsvOptions {
  /** true: the first row is a header; false: it is data; 'auto' (default): a header if any cell is not a number. */
  header?: boolean | 'auto';
  /** Field separator, one character (default ','). */
  delimiter?: string;
}

/** One parsed record and the line it starts on (1-based), for error messages. */
interface CsvRecord {
  line: number;
  cells: string[];
}

/** Parses CSV text of numbers; `what` names the source in errors. */
export function parseNumericCsv(text: string, what: string, options: CsvOptions = {}): NumericTable {
  const delimiter = options.delimiter ?? ',';
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new UsageError(
      `CSV delimiter must be one character other than a quote or newline, got '${delimiter}'`,
    );
  }
  const records = splitRecords(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, delimiter, what);
  if (records.length === 0) throw new FormatError(`${what} holds no rows`);
  const first = records[0];
  const hasHeader =
    options.header === 'auto' || options.header === undefined
      ? first.cells.some((cell) => parseNumber(cell) === undefined)
      : options.header;
  const header = hasHeader ? first.cells.map((cell) => cell.trim()) : null;
  const data = hasHeader ? records.slice(1) : records;
  const columns = first.cells.length;
  const values = new Float64Array(data.length * columns);
  data.forEach((record, r) => {
    if (record.cells.length !== columns) {
      throw new FormatError(
        `${what}: line ${record.line} has ${record.cells.length} cells, expected ${columns} like line ${first.line}`,
      );
    }
    record.cells.forEach((cell, c) => {
      const value = parseNumber(cell);
      if (value === undefined) {
        const name = header ? ` '${header[c]}'` : '';
        throw new FormatError(
          `${what}: line ${record.line} (data row ${r + 1}), column ${c + 1}${name}: ${JSON.stringify(cell)} is not a number`,
        );
      }
      values[r * columns + c] = value;
    });
  });
  return { header, rows: data.length, columns, values };
}

/** Reads a CSV file of numbers. */
export function readNumericCsv(path: string, options: CsvOptions = {}): NumericTable {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new NotFoundError(`cannot read CSV file '${path}'${code ? ` (${code})` : ''}`, { cause: error });
  }
  return parseNumericCsv(text, `'${path}'`, options);
}

/** One column of a table, by header name or 0-based index. */
export function tableColumn(table: NumericTable, column: string | number): Float64Array {
  const index = typeof column === 'number' ? column : (table.header?.indexOf(column) ?? -1);
  if (!Number.isInteger(index) || index < 0 || index >= table.columns) {
    const valid = table.header ? table.header.join(', ') : `indices 0–${table.columns - 1}`;
    throw new UsageError(`CSV has no column ${JSON.stringify(column)}`, { hint: `columns: ${valid}` });
  }
  return Float64Array.from({ length: table.rows }, (_, r) => table.values[r * table.columns + index]);
}

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const SPECIAL: Record<string, number> = {
  nan: NaN,
  '+nan': NaN,
  '-nan': NaN,
  inf: Infinity,
  '+inf': Infinity,
  infinity: Infinity,
  '+infinity': Infinity,
  '-inf': -Infinity,
  '-infinity': -Infinity,
};

/** The number a cell holds, or undefined. Number('') is 0 and Number('0x1') is 1, hence the pattern. */
function parseNumber(cell: string): number | undefined {
  const trimmed = cell.trim();
  if (DECIMAL.test(trimmed)) return Number(trimmed);
  return SPECIAL[trimmed.toLowerCase()];
}

/** RFC 4180 records, skipping blank lines and `#` comment lines. */
function splitRecords(text: string, delimiter: string, what: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const start = line;
    const lineEnd = text.indexOf('\n', i);
    const rawLine = text.slice(i, lineEnd < 0 ? text.length : lineEnd).replace(/\r$/, '');
    if (rawLine.trim() === '' || rawLine.startsWith('#')) {
      i = lineEnd < 0 ? text.length : lineEnd + 1;
      line++;
      continue;
    }
    const cells: string[] = [];
    let cell = '';
    let quoted = false;
    for (; i < text.length; i++) {
      const ch = text[i];
      if (quoted) {
        if (ch === '"' && text[i + 1] === '"') {
          cell += '"';
          i++;
        } else if (ch === '"') quoted = false;
        else {
          if (ch === '\n') line++;
          cell += ch;
        }
      } else if (ch === '"' && cell.trim() === '') {
        quoted = true;
        cell = '';
      } else if (ch === delimiter) {
        cells.push(cell);
        cell = '';
      } else if (ch === '\n') {
        break;
      } else if (ch !== '\r' || text[i + 1] !== '\n') {
        cell += ch;
      }
    }
    if (quoted) throw new FormatError(`${what}: line ${start} opens a quoted field that never closes`);
    cells.push(cell);
    records.push({ line: start, cells });
    i++; // past the newline
    line++;
  }
  return records;
}
