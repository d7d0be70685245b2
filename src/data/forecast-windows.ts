/**
 * Forecasting data: a multivariate series split chronologically into a training part and a held-out
 * tail, the training windows (context + horizon steps, [C, L], standardised with statistics of the
 * training rows only) and the held-out (past, future) pairs whose futures lie wholly in the tail — the
 * past may reach back into the training rows, which is observed history, not leakage. The built-in
 * series is Seattle's daily weather 2012–2015 (1,461 days: temp_max, temp_min, precipitation, wind) from
 * the `vega-datasets` package, read from its shipped CSV (no network access). Plain CSV columns are
 * picked by header name, so a file may carry text columns (a date) beside the numeric ones.
 *
 * This module must not train, sample or score; it only reads and cuts series.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { parseNumericCsv, tableColumn, type NumericTable } from '../io/csv.js';
import { ConfigError, FormatError, NotFoundError, UsageError } from '../util/errors.js';
import { parseOptions } from './dataset.js';
import { timeSeriesFromTable, type SeriesNormalization, type TimeSeriesDataset } from './timeseries.js';

/** The weather columns used by default, in channel order. */
export const WEATHER_COLUMNS = ['temp_max', 'temp_min', 'precipitation', 'wind'] as const;

/** The path of a CSV file shipped in `vega-datasets` (e.g. 'seattle-weather.csv'). */
export function vegaDatasetPath(file: string): string {
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve('vega-datasets');
  } catch (error) {
    throw new NotFoundError('the vega-datasets package is not installed', {
      hint: 'npm install vega-datasets',
      cause: error,
    });
  }
  // The package's entry is build/index.js; the data files sit in data/ beside build/.
  return join(dirname(dirname(entry)), 'data', file);
}

/** Reads `text` (CSV with a header row) and keeps the named columns, which must hold numbers only. */
export function numericColumnsOfCsv(text: string, columns: readonly string[], what: string): NumericTable {
  const lines = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '');
  if (lines.length < 2) throw new FormatError(`${what} has no data rows under its header`);
  const header = lines[0].split(',').map((cell) => cell.trim());
  const indices = columns.map((name) => {
    const index = header.indexOf(name);
    if (index < 0) {
      throw new UsageError(`${what} has no column '${name}'`, { hint: `columns: ${header.join(', ')}` });
    }
    return index;
  });
  if (lines.some((line) => line.includes('"'))) {
    throw new FormatError(`${what}: quoted cells are not supported when picking columns by name`, {
      hint: 'write the numeric columns to a plain CSV without quotes',
    });
  }
  const picked = lines.map((line, i) => {
    const cells = line.split(',');
    if (cells.length !== header.length) {
      throw new FormatError(`${what}: line ${i + 1} has ${cells.length} cells, the header ${header.length}`);
    }
    return indices.map((c) => cells[c]).join(',');
  });
  return parseNumericCsv(picked.join('\n'), what, { header: true });
}

/** A CSV file's named columns as a numeric table (NotFoundError when unreadable). */
export function readCsvColumns(path: string, columns: readonly string[]): NumericTable {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new NotFoundError(`cannot read CSV file '${path}'${code ? ` (${code})` : ''}`, { cause: error });
  }
  return numericColumnsOfCsv(text, columns, `'${path}'`);
}

const forecastOptions = z
  .object({
    /** A CSV file with a header row; default: vega-datasets' seattle-weather.csv. */
    path: z.string().min(1).optional(),
    /** Columns by header name, in channel order (default: the four weather variables). */
    columns: z
      .array(z.string().min(1))
      .min(1)
      .default([...WEATHER_COLUMNS]),
    /** Window length L = context + horizon in rows (default 32). */
    windowLength: z.number().int().min(2).default(32),
    /** Rows between training window starts (default 1). */
    stride: z.number().int().min(1).default(1),
    /** Fraction of rows, at the end, held out (default 0.2). */
    testFraction: z.number().gt(0).lt(1).default(0.2),
  })
  .strict();

export type ForecastDataOptions = z.input<typeof forecastOptions>;

/** The series of the options' CSV (or the weather) as a table of the chosen columns. */
export function forecastTable(options: ForecastDataOptions | Record<string, unknown> = {}): NumericTable {
  const parsed = parseOptions('weather-forecast', forecastOptions, options);
  return readCsvColumns(parsed.path ?? vegaDatasetPath('seattle-weather.csv'), parsed.columns);
}

/** Training windows [C, L] from the training rows, standardised with their statistics (the dataset). */
export function forecastTrainingWindows(
  options: ForecastDataOptions | Record<string, unknown> = {},
): TimeSeriesDataset {
  const parsed = parseOptions('weather-forecast', forecastOptions, options);
  const table = forecastTable(parsed);
  return timeSeriesFromTable(
    table,
    {
      windowLength: parsed.windowLength,
      stride: parsed.stride,
      split: 'train',
      testFraction: parsed.testFraction,
    },
    parsed.path ?? 'seattle-weather.csv',
  );
}

/** Held-out forecasting problems: W windows of past P and future H steps, in the series' units. */
export interface HeldOutWindows {
  /** Row of the first forecast step of each window. */
  origins: Int32Array;
  /** [W, C, P] observed past, raw units. */
  past: Float64Array;
  /** [W, C, H] what happened, raw units. */
  future: Float64Array;
  channels: number;
  contextLength: number;
  horizon: number;
}

/** First row of the held-out tail, as the time-series dataset splits it. */
export const firstTestRow = (rows: number, testFraction: number): number =>
  Math.floor(rows * (1 - testFraction));

/**
 * The held-out windows: forecast origins from the first test row every `stride` rows while a whole
 * horizon fits, each with the P rows before it as its past.
 */
export function heldOutWindows(
  series: readonly Float64Array[],
  testFrom: number,
  contextLength: number,
  horizon: number,
  stride = 1,
): HeldOutWindows {
  const rows = series[0].length;
  const first = Math.max(testFrom, contextLength);
  if (first + horizon > rows) {
    throw new ConfigError(
      `no held-out window fits: the tail from row ${testFrom} of ${rows} is shorter than the horizon ${horizon}`,
      { hint: 'use a larger testFraction or a shorter horizon' },
    );
  }
  const origins = Int32Array.from(
    { length: Math.floor((rows - horizon - first) / stride) + 1 },
    (_, i) => first + i * stride,
  );
  return {
    origins,
    past: windowsOf(
      series,
      origins.map((o) => o - contextLength),
      contextLength,
    ),
    future: windowsOf(series, origins, horizon),
    channels: series.length,
    contextLength,
    horizon,
  };
}

/** Windows [N, C, length] in float64 (exact copies of the series' values). */
function windowsOf(series: readonly Float64Array[], starts: Int32Array, length: number): Float64Array {
  const out = new Float64Array(starts.length * series.length * length);
  starts.forEach((start, n) =>
    series.forEach((values, c) =>
      out.set(values.subarray(start, start + length), (n * series.length + c) * length),
    ),
  );
  return out;
}

/** The table's columns as separate series, for `heldOutWindows` and the baselines. */
export function tableSeries(table: NumericTable): Float64Array[] {
  return Array.from({ length: table.columns }, (_, c) => tableColumn(table, c));
}

export type { SeriesNormalization };
