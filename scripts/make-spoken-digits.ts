/**
 * Writes the spoken-digits audio data set: the words "zero" … "nine" synthesised by espeak-ng (Debian:
 * `apt-get install -y espeak-ng`) in several voices, speeds and pitches, as 8 kHz mono 16-bit WAV clips
 * of 4096 samples (0.512 s) in one sub-folder per digit, so that `audio-folder` / `spoken-digits` label
 * them by digit. Usage: `node --import tsx scripts/make-spoken-digits.ts --out data/spoken-digits`.
 *
 * Each utterance (espeak-ng writes 22,050 Hz) is trimmed of leading and trailing silence (|x| below 2 %
 * of its peak), resampled to 8 kHz by a Hann-windowed sinc low-pass at 0.45 × 8 kHz (band-limited, so
 * no aliasing), scaled to peak 0.9, and centred in the clip (cropped evenly when longer). Voices ×
 * speeds × pitches = 6 × 3 × 3 = 9 variants per voice; the middle speed and pitch of every voice is
 * the held-out split (`test/`, 60 clips), the rest is `train/` (480 clips). The output is a pure
 * function of the espeak-ng version: no randomness.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { mixToMono, readWav, writeWav } from '../src/io/audio.js';

const WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
const VOICES = ['en', 'en-us', 'en-gb-scotland', 'en-029', 'en+f3', 'en-us+m3'];
const SPEEDS = [130, 160, 190];
const PITCHES = [35, 50, 65];
const RATE = 8000;
const LENGTH = 4096;

const { values } = parseArgs({ options: { out: { type: 'string', default: 'data/spoken-digits' } } });
const out = values.out!;

/** The utterance between the first and last sample above 2 % of the peak. */
function trimmed(x: Float32Array): Float32Array {
  let peak = 0;
  for (const v of x) peak = Math.max(peak, Math.abs(v));
  const threshold = 0.02 * peak;
  let start = 0;
  let end = x.length;
  while (start < end && Math.abs(x[start]) < threshold) start++;
  while (end > start && Math.abs(x[end - 1]) < threshold) end--;
  return x.subarray(start, end);
}

/** x at `to` Hz from `from` Hz: y[n] = Σ_k x[k]·h(n·from/to − k), h a Hann-windowed sinc at 0.45·to. */
function resampled(x: Float32Array, from: number, to: number): Float32Array {
  const cutoff = (0.45 * to) / from; // cycles per input sample
  const half = Math.ceil(8 / cutoff);
  const y = new Float32Array(Math.floor((x.length * to) / from));
  for (let n = 0; n < y.length; n++) {
    const t = (n * from) / to;
    const centre = Math.floor(t);
    let sum = 0;
    for (let k = centre - half; k <= centre + half; k++) {
      if (k < 0 || k >= x.length) continue;
      const d = t - k;
      const sinc = d === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * d) / (Math.PI * d);
      const window = 0.5 + 0.5 * Math.cos((Math.PI * d) / (half + 1));
      sum += x[k] * sinc * window;
    }
    y[n] = sum;
  }
  return y;
}

/** The utterance scaled to peak 0.9 and centred in a clip of LENGTH samples. */
function clipOf(x: Float32Array): Float32Array {
  let peak = 0;
  for (const v of x) peak = Math.max(peak, Math.abs(v));
  const clip = new Float32Array(LENGTH);
  const start = Math.max(0, Math.floor((x.length - LENGTH) / 2));
  const used = x.subarray(start, start + LENGTH);
  const offset = Math.floor((LENGTH - used.length) / 2);
  for (let i = 0; i < used.length; i++) clip[offset + i] = (0.9 * used[i]) / (peak || 1);
  return clip;
}

const scratchDir = mkdtempSync(join(tmpdir(), 'spoken-digits-'));
const scratch = join(scratchDir, 'utterance.wav');
let written = 0;
WORDS.forEach((word, digit) => {
  for (const voice of VOICES) {
    SPEEDS.forEach((speed, s) => {
      PITCHES.forEach((pitch, p) => {
        // A file, not --stdout: streamed WAV headers carry placeholder sizes.
        execFileSync('espeak-ng', ['-v', voice, '-s', `${speed}`, '-p', `${pitch}`, '-w', scratch, word]);
        const audio = readWav(scratch);
        const clip = clipOf(resampled(trimmed(mixToMono(audio.channels)), audio.sampleRate, RATE));
        const split = s === 1 && p === 1 ? 'test' : 'train';
        const dir = join(out, split, `${digit}`);
        mkdirSync(dir, { recursive: true });
        writeWav(join(dir, `${voice.replace(/\+/g, '_')}-s${speed}-p${pitch}.wav`), clip, RATE);
        written++;
      });
    });
  }
});
rmSync(scratchDir, { recursive: true, force: true });
process.stdout.write(`wrote ${written} clips of ${LENGTH} samples at ${RATE} Hz under ${out}/{train,test}\n`);
