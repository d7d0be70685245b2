/**
 * A multivariate time series from a CSV file (one row per time step, one column per variable) as a
 * dataset of sliding windows for 1-D diffusion models. Each window is [C, L] channel-first — C chosen
 * columns, L consecutive rows — and windows start every `stride` rows, so a series of T rows gives
 * ⌊(T − L)/stride⌋ + 1 of them. Columns are standardised, x' = (x − mean)/std with the population std
 * (as scikit-learn's StandardScaler), and the mean and std are returned with the dataset so they can be
 * stored with the model and used to map its samples back (`denormalize`). A constant column is only
 * centred (its std is taken as 1). Held-out data is the chronologically last part of the series, and
 * the statistics come from the training part only, so nothing of the future leaks into training.
 * Missing values (empty cells, NaN, ±Inf) are refused with the row and column named.
 */
import { z } from 'zod';
import { ConfigError, FormatError, ShapeError, UsageError } from '../util/errors.js';
import { readNumericCsv, tableColumn, type NumericTable } from '../io/csv.js';
import { parseOptions, TensorDataset } from './dataset.js';

/** Per-column statistics, in the order of the dataset's channels; store them with the model. */
export interface SeriesNormalization {
  columns: string[];
  mean: number[];
  std: number[];
}

const timeSeriesOptions = z
  .object({
    /** The CSV file. */
    path: z.string().min(1),
    /** Columns to use, by header name or 0-based index (default: all). */
    columns: z
      .array(z.union([z.string(), z.number().int().nonnegative()]))
      .min(1)
      .optional(),
    /** Window length L in rows (default 64). */
    windowLength: z.number().int().min(1).default(64),
    /** Rows between window starts (default 1: every possible window). */
    stride: z.number().int().min(1).default(1),
    /** 'standard' (default): per-column mean 0, std 1; 'none': raw values. */
    normalize: z.enum(['standard', 'none']).default('standard'),
    /** Statistics to apply instead of computing them (e.g. those stored with a trained model). */
    normalization: z
      .object({ columns: z.array(z.string()), mean: z.array(z.number()), std: z.array(z.number()) })
      .strict()
      .optional(),
    /** 'all' (default), or the chronological 'train' / 'test' parts. */
    split: z.enum(['all', 'train', 'test']).default('all'),
    /** Fraction of rows, at the end, held out as the test part (default 0.1). */
    testFraction: z.number().gt(0).lt(1).default(0.1),
    /** CSV header: true, false or 'auto' (default). */
    header: z.union([z.boolean(), z.literal('auto')]).default('auto'),
    /** CSV field separator (default ','). */
    delimiter: z.string().length(1).default(','),
  })
  .strict();

export type TimeSeriesOptions = z.input<typeof timeSeriesOptions>;
type ParsedOptions = z.output<typeof timeSeriesOptions>;

/** The time-series dataset: windows [C, L] plus the statistics used to normalise them. */
export class TimeSeriesDataset extends TensorDataset {
  readonly normalization: SeriesNormalization;
  /** Row of the source series where each window starts. */
  readonly windowStarts: Int32Array;

  constructor(
    spec: ConstructorParameters<typeof TensorDataset>[0] & {
      normalization: SeriesNormalization;
      windowStarts: Int32Array;
    },
  ) {
    super(spec);
    this.normalization = spec.normalization;
    this.windowStarts = spec.windowStarts;
  }

  /** Maps normalised windows [N, C, L] (e.g. model samples) back to the series' units, in place. */
  denormalize(x: Float32Array): Float32Array {
    return applyNormalization(x, this.shape[0], this.shape[1], this.normalization, 'inverse');
  }
}

/** Reads the CSV and builds the windows (see the module header). */
export function timeSeriesDataset(options: TimeSeriesOptions | Record<string, unknown>): TimeSeriesDataset {
  const parsed = parseOptions('timeseries', timeSeriesOptions, options);
  const table = readNumericCsv(parsed.path, { header: parsed.header, delimiter: parsed.delimiter });
  return windowsFromTable(table, parsed, parsed.path);
}

/** The same from an already parsed table; `source` names it in errors. */
export function timeSeriesFromTable(
  table: NumericTable,
  options: Omit<TimeSeriesOptions, 'path'>,
  source = 'time series',
): TimeSeriesDataset {
  const parsed = parseOptions('timeseries', timeSeriesOptions, { ...options, path: source });
  return windowsFromTable(table, parsed, source);
}

function windowsFromTable(table: NumericTable, options: ParsedOptions, source: string): TimeSeriesDataset {
  const selected = options.columns ?? Array.from({ length: table.columns }, (_, c) => c);
  const names = selected.map((column) => columnName(table, column));
  const series = selected.map((column) => tableColumn(table, column));
  series.forEach((values, c) => checkFinite(values, names[c], source));
  const trainRows = Math.floor(table.rows * (1 - options.testFraction));
  const [from, to] = splitRows(options.split, table.rows, trainRows);
  const normalization = chosenNormalization(
    options,
    names,
    series,
    options.split === 'all' ? table.rows : trainRows,
  );
  const { windowLength, stride } = options;
  const rows = to - from;
  if (rows < windowLength) {
    throw new ConfigError(
      `${source} ${options.split === 'all' ? 'has' : `'${options.split}' part has`} ${rows} rows, ` +
        `fewer than the window length ${windowLength}`,
      { hint: 'use a shorter windowLength' },
    );
  }
  const starts = Int32Array.from(
    { length: Math.floor((rows - windowLength) / stride) + 1 },
    (_, i) => from + i * stride,
  );
  const data = slidingWindows(series, starts, windowLength);
  applyNormalization(data, series.length, windowLength, normalization, 'forward');
  return new TimeSeriesDataset({
    name: options.split === 'all' ? 'timeseries' : `timeseries:${options.split}`,
    shape: [series.length, windowLength],
    data,
    description:
      `windows of ${windowLength} rows of ${names.join(', ')} from ${source}` +
      (options.normalize === 'standard' || options.normalization ? ', standardised per column' : ''),
    normalization,
    windowStarts: starts,
  });
}

function columnName(table: NumericTable, column: string | number): string {
  if (typeof column === 'string') return column;
  return table.header?.[column] ?? `column ${column}`;
}

function checkFinite(values: Float64Array, name: string, source: string): void {
  const bad = values.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) {
    throw new FormatError(`${source}: column '${name}' is ${values[bad]} in data row ${bad + 1}`, {
      hint: 'fill or interpolate missing values before training',
    });
  }
}

/** [from, to) rows of the chosen part. */
function splitRows(split: 'all' | 'train' | 'test', rows: number, trainRows: number): [number, number] {
  if (split === 'train') return [0, trainRows];
  if (split === 'test') return [trainRows, rows];
  return [0, rows];
}

function chosenNormalization(
  options: ParsedOptions,
  names: string[],
  series: Float64Array[],
  statRows: number,
): SeriesNormalization {
  const given = options.normalization;
  if (given) {
    const fits = given.mean.length === names.length && given.std.length === names.length;
    if (!fits || given.columns.some((name, c) => name !== names[c])) {
      throw new UsageError(
        `stored normalisation is for columns [${given.columns.join(', ')}], the data has [${names.join(', ')}]`,
        { hint: 'select the same columns, in the same order, as when the statistics were computed' },
      );
    }
    if (!given.std.every((s) => Number.isFinite(s) && s > 0)) {
      throw new ConfigError(`stored normalisation stds must be positive, got [${given.std.join(', ')}]`);
    }
    return { columns: [...given.columns], mean: [...given.mean], std: [...given.std] };
  }
  if (options.normalize === 'none') {
    return { columns: names, mean: names.map(() => 0), std: names.map(() => 1) };
  }
  return { columns: names, ...columnStatistics(series, statRows) };
}

/** Mean and population std of each column over its first `rows` values; a constant column gets std 1. */
export function columnStatistics(
  series: readonly Float64Array[],
  rows: number,
): { mean: number[]; std: number[] } {
  const mean = series.map((values) => {
    let sum = 0;
    for (let r = 0; r < rows; r++) sum += values[r];
    return sum / rows;
  });
  const std = series.map((values, c) => {
    let sum = 0;
    for (let r = 0; r < rows; r++) sum += (values[r] - mean[c]) ** 2;
    const s = Math.sqrt(sum / rows);
    return s > 1e-12 * Math.max(1, Math.abs(mean[c])) ? s : 1;
  });
  return { mean, std };
}

/** Windows [N, C, L]: window n, channel c is series[c][starts[n] .. starts[n] + length). */
export function slidingWindows(
  series: readonly Float64Array[],
  starts: Int32Array,
  length: number,
): Float32Array {
  const channels = series.length;
  const out = new Float32Array(starts.length * channels * length);
  starts.forEach((start, n) => {
    series.forEach((values, c) =>
      out.set(values.subarray(start, start + length), (n * channels + c) * length),
    );
  });
  return out;
}

/** x ← (x − mean)/std per channel ('forward') or x ← x·std + mean ('inverse'), in place on [N, C, L]. */
function applyNormalization(
  x: Float32Array,
  channels: number,
  length: number,
  { mean, std }: SeriesNormalization,
  direction: 'forward' | 'inverse',
): Float32Array {
  if (x.length % (channels * length) !== 0) {
    throw new ShapeError(`${x.length} values do not split into windows of [${channels}, ${length}]`);
  }
  for (let base = 0; base < x.length; base += channels * length) {
    for (let c = 0; c < channels; c++) {
      const row = x.subarray(base + c * length, base + (c + 1) * length);
      for (let i = 0; i < length; i++) {
        row[i] = direction === 'forward' ? (row[i] - mean[c]) / std[c] : row[i] * std[c] + mean[c];
      }
    }
  }
  return x;
}
