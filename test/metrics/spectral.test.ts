import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logMelSpectrogram, logSpectralDistance, spectralScores } from '../../src/metrics/spectral.js';
import { Random } from '../../src/util/random.js';

const RATE = 8000;
const LENGTH = 1024;

/** `count` clips of tones at `hz` (one per phase), [count, LENGTH]. */
function tones(hz: readonly number[], phase = 0, amplitude = 0.5): Float32Array {
  const out = new Float32Array(hz.length * LENGTH);
  hz.forEach((f, i) => {
    for (let n = 0; n < LENGTH; n++)
      out[i * LENGTH + n] = amplitude * Math.sin((2 * Math.PI * f * n) / RATE + phase + i);
  });
  return out;
}

test('identical sets score 0 on both distances', () => {
  const clips = tones([300, 520, 880, 1400]);
  const scores = spectralScores(clips, clips, LENGTH, { sampleRate: RATE });
  assert.ok(Math.abs(scores.frechet) < 1e-6, `frechet ${scores.frechet}`);
  assert.equal(scores.nearestLsd, 0);
});

test('a pure tone and the same tone shifted in phase are spectrally (almost) identical', () => {
  const options = { sampleRate: RATE };
  const a = logMelSpectrogram(tones([440]), options);
  const shifted = logMelSpectrogram(tones([440], 1.3), options);
  const other = logMelSpectrogram(tones([1200]), options);
  const same = logSpectralDistance(a, shifted);
  const different = logSpectralDistance(a, other);
  assert.ok(same < 0.05 * different, `phase shift ${same} dB vs another pitch ${different} dB`);
  assert.ok(same < 1, `phase shift moves the spectrogram by ${same} dB`);
});

test('nearest distance ranks a close set below a far one, and noise far above both', () => {
  const reference = tones([300, 500, 700, 900, 1100]);
  const near = tones([310, 505, 690, 910, 1090]);
  const far = tones([2000, 2500, 3000, 3300, 3600]);
  const random = new Random(3);
  const noise = Float32Array.from({ length: 5 * LENGTH }, () => 0.35 * random.normal());
  const options = { sampleRate: RATE };
  const sNear = spectralScores(near, reference, LENGTH, options);
  const sFar = spectralScores(far, reference, LENGTH, options);
  const sNoise = spectralScores(noise, reference, LENGTH, options);
  assert.ok(sNear.nearestLsd < sFar.nearestLsd, `${sNear.nearestLsd} < ${sFar.nearestLsd}`);
  assert.ok(sNear.frechet < sFar.frechet, `${sNear.frechet} < ${sFar.frechet}`);
  assert.ok(sNear.nearestLsd < sNoise.nearestLsd);
});

test('a tone lands in the mel band that holds its frequency', () => {
  const s = logMelSpectrogram(tones([1000]), { sampleRate: RATE, melBands: 16 });
  assert.equal(s.frames, 1 + Math.floor((LENGTH - 256) / 128));
  const mel = (f: number) => 2595 * Math.log10(1 + f / 700);
  // Centre of band b is at mel (b + 1)·top/(bands + 1): the closest centre to 1000 Hz wins.
  const expected = Math.round((mel(1000) / mel(RATE / 2)) * 17) - 1;
  const row = s.values.subarray(0, s.bands);
  const loudest = row.indexOf(Math.max(...row));
  assert.equal(loudest, expected);
});

test('bad options and short clips are shape errors', () => {
  assert.throws(
    () => logMelSpectrogram(new Float32Array(100), { sampleRate: RATE }),
    /shorter than one frame/,
  );
  assert.throws(
    () => logMelSpectrogram(new Float32Array(512), { sampleRate: RATE, melBands: 500 }),
    /invalid/,
  );
  assert.throws(
    () => spectralScores(tones([300]), tones([300, 400]), LENGTH, { sampleRate: RATE }),
    /at least two/,
  );
  assert.throws(
    () => spectralScores(new Float32Array(1000), tones([300, 400]), LENGTH, { sampleRate: RATE }),
    /do not split/,
  );
});
