// 1-D signals through bin/diffusion.js: `sample` writes a WAV at the model's recorded sample rate (clips
// separated by silence) and a CSV with one column per sample, de-normalised with the recorded statistics;
// `impute` fills missing stretches of a CSV or WAV and leaves every known value exactly as given; bad
// inputs give one-line errors, exit 2, and no output file. The models are tiny UNet1Ds whose output layer
// is zero under x₀-prediction, so every generated or filled value is exactly 0 in standard units — the
// stored mean in the data's units — which makes the de-normalisation checkable to the digit.
// Also: the signal helpers' CSV layout and WAV concatenation on known numbers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AudioFolderDataset } from '../../src/data/audio-folder.js';
import { timeSeriesFromTable } from '../../src/data/timeseries.js';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { readWav, writeWav } from '../../src/io/audio.js';
import { parseNumericCsv, readNumericCsv } from '../../src/io/csv.js';
import { savePipeline } from '../../src/models/pipeline-folder.js';
import { UNet1DModel } from '../../src/models/unet1d.js';
import {
  concatenatedClips,
  readSignalInfo,
  samplesCsv,
  SIGNAL_INFO_NAME,
  signalInfoFor,
  signalInfoText,
  type SignalInfo,
} from '../../src/pipelines/signals.js';
import { Random } from '../../src/util/random.js';

const bin = new URL('../../bin/diffusion.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

const RATE = 8000;
const L = 64;
const SERIES_INFO: SignalInfo = {
  sampleRate: null,
  normalization: { columns: ['value'], mean: [10], std: [2] },
};
const AUDIO_INFO: SignalInfo = { sampleRate: RATE, normalization: null };

/** A pipeline folder with a UNet1D whose output is 0 everywhere, read as x₀-prediction. */
function savedModel(dir: string, info: SignalInfo): void {
  const network = new UNet1DModel({ sample_size: L, block_out_channels: [8, 16], norm_num_groups: 4 });
  const params = network.init(new Random(0));
  for (const name of ['conv_out.weight', 'conv_out.bias']) (params[name].data as Float32Array).fill(0);
  const scheduler = schedulerConfig('DDPMScheduler', { predictionType: 'sample', clipSample: false });
  savePipeline(dir, { network, params, scheduler, extra: { [SIGNAL_INFO_NAME]: signalInfoText(info) } });
}

/** Runs a command that must fail with exit 2, one stderr line matching `pattern`, and no `out` file. */
function assertRefused(args: string[], pattern: RegExp, out: string): void {
  const result = run(...args);
  assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
  assert.match(result.stderr, pattern);
  assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  assert.ok(!existsSync(out), `${out} must not be written`);
}

describe('diffusion sample / impute on 1-D signals', () => {
  let dir = '';
  let seriesModel = '';
  let audioModel = '';
  let seriesCsv = '';
  let clipWav = '';
  const seriesValues = Array.from({ length: 200 }, (_, t) => 10 + 2 * Math.sin(t / 5) + t / 1000);
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-signals-'));
    seriesModel = join(dir, 'series-model');
    audioModel = join(dir, 'audio-model');
    savedModel(seriesModel, SERIES_INFO);
    savedModel(audioModel, AUDIO_INFO);
    seriesCsv = join(dir, 'series.csv');
    const rows = seriesValues.map((v, t) => `${t},${t >= 50 && t < 70 ? 'nan' : v}`);
    writeFileSync(seriesCsv, `time,value\n${rows.join('\n')}\n`);
    clipWav = join(dir, 'clip.wav');
    writeWav(
      clipWav,
      Float32Array.from({ length: 300 }, (_, i) => 0.5 * Math.sin(i / 7)),
      RATE,
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('sample writes a WAV at the model rate (clips + 0.25 s gaps) and a CSV of one column per sample', () => {
    const wav = join(dir, 'clips.wav');
    const result = run('sample', '--model', audioModel, '--steps', '3', '--num', '3', '--out', wav);
    assert.equal(result.status, 0, result.stderr);
    const audio = readWav(wav);
    assert.equal(audio.sampleRate, RATE);
    assert.equal(audio.channels.length, 1);
    assert.equal(audio.channels[0].length, 3 * L + 2 * 0.25 * RATE);
    const csv = join(dir, 'series-samples.csv');
    assert.equal(run('sample', '--model', seriesModel, '--steps', '3', '--num', '4', '--out', csv).status, 0);
    const table = readNumericCsv(csv);
    assert.deepEqual(table.header, ['sample_0', 'sample_1', 'sample_2', 'sample_3']);
    assert.equal(table.rows, L);
    // x̂₀ = 0 in standard units is the stored mean, 10, in the series' units.
    for (const v of table.values) assert.ok(Math.abs(v - 10) < 1e-4, `${v}`);
  });

  it('impute fills a CSV column and leaves every known cell (and other columns) exactly as given', () => {
    const out = join(dir, 'filled.csv');
    const args = ['impute', '--model', seriesModel, '--input', seriesCsv, '--missing', '50:70,150:190'];
    const result = run(...args, '--steps', '4', '--resamplings', '2', '--jump-length', '2', '--out', out);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /60 of 200 steps filled/);
    const table = readNumericCsv(out);
    assert.deepEqual(table.header, ['time', 'value']);
    assert.equal(table.rows, 200);
    for (let t = 0; t < 200; t++) {
      assert.equal(table.values[2 * t], t);
      const missing = (t >= 50 && t < 70) || (t >= 150 && t < 190);
      if (missing) assert.ok(Math.abs(table.values[2 * t + 1] - 10) < 1e-4, `row ${t}`);
      else assert.equal(table.values[2 * t + 1], seriesValues[t]);
    }
  });

  it('impute fills a WAV at the model rate; known samples are exact', () => {
    const out = join(dir, 'filled.wav');
    const args = ['impute', '--model', audioModel, '--input', clipWav, '--missing', '100:140'];
    assert.equal(run(...args, '--steps', '4', '--method', 'replace', '--out', out).status, 0);
    const given = readWav(clipWav).channels[0];
    const filled = readWav(out);
    assert.equal(filled.sampleRate, RATE);
    assert.equal(filled.channels[0].length, 300);
    for (let i = 0; i < 300; i++) {
      if (i >= 100 && i < 140) assert.ok(Math.abs(filled.channels[0][i]) < 1e-4, `sample ${i}`);
      else assert.equal(filled.channels[0][i], given[i]);
    }
  });

  it('bad inputs: one-line errors, exit 2, no output file', () => {
    const out = join(dir, 'bad.csv');
    const outWav = join(dir, 'bad.wav');
    const impute = (model: string, input: string, missing: string, to: string) => [
      'impute',
      '--model',
      model,
      '--input',
      input,
      '--missing',
      missing,
      '--out',
      to,
    ];
    assertRefused(
      impute(seriesModel, seriesCsv, '150:260', out),
      /150:260 lies outside the series of 200 steps/,
      out,
    );
    assertRefused(impute(seriesModel, seriesCsv, '10:5', out), /empty/, out);
    assertRefused(
      impute(seriesModel, seriesCsv, '20:30', out),
      /NaN at step 50, which is not marked missing/,
      out,
    );
    const wrongRate = join(dir, 'fast.wav');
    writeWav(wrongRate, new Float32Array(300), 16000);
    assertRefused(
      impute(audioModel, wrongRate, '10:20', outWav),
      /sampled at 16000 Hz, expected 8000 Hz/,
      outWav,
    );
    const text = join(dir, 'text.csv');
    writeFileSync(text, `value\n${seriesValues.slice(0, 99).join('\n')}\nabc\n`);
    assertRefused(impute(seriesModel, text, '10:20', out), /"abc" is not a number/, out);
    assertRefused(impute(seriesModel, seriesCsv, '60:65', outWav), /--out .* must end in \.csv/, outWav);
    assertRefused(impute(seriesModel, clipWav, '10:20', outWav), /records no sample rate/, outWav);
    assertRefused(
      ['sample', '--model', seriesModel, '--steps', '2', '--out', outWav],
      /records no sample rate/,
      outWav,
    );
  });

  it('signal helpers: CSV columns per sample and channel, clips joined by silence, record round trip', () => {
    const info: SignalInfo = {
      sampleRate: 4,
      normalization: { columns: ['a', 'b'], mean: [1, -1], std: [2, 10] },
    };
    // Two samples of [2 channels, 3 steps]: sample n, channel c, step t holds n·100 + c·10 + t.
    const samples = Float32Array.from(
      { length: 12 },
      (_, k) => Math.floor(k / 6) * 100 + (Math.floor(k / 3) % 2) * 10 + (k % 3),
    );
    const table = parseNumericCsv(samplesCsv(samples, [2, 3], info), 'csv');
    assert.deepEqual(table.header, ['sample_0_a', 'sample_0_b', 'sample_1_a', 'sample_1_b']);
    assert.deepEqual(Array.from(table.values.subarray(0, 4)), [
      0 * 2 + 1,
      10 * 10 - 1,
      100 * 2 + 1,
      110 * 10 - 1,
    ]);
    const clips = concatenatedClips(samples, [2, 3], { ...info, normalization: null }, 4);
    assert.deepEqual(Array.from(clips[0]), [0, 1, 2, 0, 100, 101, 102]); // one silent sample: 0.25 s at 4 Hz
    assert.deepEqual(Array.from(clips[1]), [10, 11, 12, 0, 110, 111, 112]);
    const folder = join(dir, 'record');
    savedModel(folder, info);
    assert.deepEqual(readSignalInfo(folder), info);
    assert.deepEqual(readSignalInfo(dir), { sampleRate: null, normalization: null });
  });

  it('the record of a training dataset: a series keeps its statistics, an audio folder its rate', () => {
    const table = parseNumericCsv('v\n1\n3\n1\n3\n', 'csv');
    const series = timeSeriesFromTable(table, { windowLength: 2 });
    assert.deepEqual(signalInfoFor(series), {
      sampleRate: null,
      normalization: { columns: ['v'], mean: [2], std: [1] },
    });
    const audio = new AudioFolderDataset({
      root: 'clips',
      files: ['a.wav'],
      clips: [new Float32Array(8)],
      sampleRate: 22050,
      length: 4,
      crop: 'start',
      classes: null,
    });
    assert.deepEqual(signalInfoFor(audio), { sampleRate: 22050, normalization: null });
  });
});
