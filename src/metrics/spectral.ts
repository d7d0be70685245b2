/**
 * Spectral distances between two sets of audio clips, for judging generated waveforms against held-out
 * recordings. Each clip becomes a log-mel spectrogram: Hann-windowed frames (length 256, hop 128 by
 * default), power spectrum |X_k|² by a direct DFT, a bank of triangular filters equally spaced on the HTK
 * mel scale m = 2595·log10(1 + f/700) from 0 Hz to Nyquist, and S = 10·log10(power + 1e-6) in dB.
 * Magnitudes only, so a change of phase leaves a clip's spectrogram (almost) unchanged. Two scores:
 *
 * - `frechet`: the Fréchet distance (as FID) between Gaussians fitted to one feature vector per clip —
 *   the per-band mean and standard deviation of S over time (2 × bands values);
 * - `nearestLsd`: for each clip of the first set, the log-spectral distance in dB, √(mean (S_a − S_b)²)
 *   over frames and bands, to its nearest clip of the second set, averaged over the first set.
 *
 * Identical sets score 0 on both. This module must not generate, load or resample audio.
 */
import { ShapeError } from '../util/errors.js';
import { frechetDistance, gaussianStatistics } from './fid.js';

export interface SpectrogramOptions {
  /** Samples per second of the clips (sets the mel filters' frequencies). */
  sampleRate: number;
  /** Samples per frame, a power of two (default 256). */
  frameLength?: number;
  /** Samples between frame starts (default frameLength / 2). */
  hop?: number;
  /** Mel bands (default 32). */
  melBands?: number;
}

/** A log-mel spectrogram: `values` is [frames, bands] row-major, in dB. */
export interface Spectrogram {
  frames: number;
  bands: number;
  values: Float32Array;
}

export interface SpectralScores {
  /** Fréchet distance between the per-clip log-mel mean/std features of the two sets. */
  frechet: number;
  /** Mean over the first set of the log-spectral distance (dB) to the nearest clip of the second set. */
  nearestLsd: number;
}

interface Analysis {
  frameLength: number;
  hop: number;
  bands: number;
  window: Float64Array;
  cos: Float64Array;
  sin: Float64Array;
  /** [bands, frameLength/2 + 1] triangular weights. */
  filters: Float64Array;
}

const hzToMel = (f: number): number => 2595 * Math.log10(1 + f / 700);
const melToHz = (m: number): number => 700 * (10 ** (m / 2595) - 1);

function analysisFor(options: SpectrogramOptions): Analysis {
  const { sampleRate, frameLength = 256, melBands = 32 } = options;
  const hop = options.hop ?? frameLength / 2;
  const valid =
    Number.isFinite(sampleRate) &&
    sampleRate > 0 &&
    Number.isInteger(frameLength) &&
    frameLength >= 8 &&
    Number.isInteger(hop) &&
    hop >= 1 &&
    Number.isInteger(melBands) &&
    melBands >= 1 &&
    melBands <= frameLength / 2;
  if (!valid) {
    throw new ShapeError(
      `spectrogram options are invalid (sampleRate ${sampleRate}, frameLength ${frameLength}, hop ${hop}, melBands ${melBands})`,
      { hint: 'use a positive sample rate, frameLength ≥ 8, hop ≥ 1 and 1 ≤ melBands ≤ frameLength/2' },
    );
  }
  const bins = frameLength / 2 + 1;
  const window = Float64Array.from(
    { length: frameLength },
    (_, n) => 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / frameLength),
  );
  const cos = new Float64Array(bins * frameLength);
  const sin = new Float64Array(bins * frameLength);
  for (let k = 0; k < bins; k++) {
    for (let n = 0; n < frameLength; n++) {
      const angle = (2 * Math.PI * k * n) / frameLength;
      cos[k * frameLength + n] = Math.cos(angle);
      sin[k * frameLength + n] = Math.sin(angle);
    }
  }
  return {
    frameLength,
    hop,
    bands: melBands,
    window,
    cos,
    sin,
    filters: melFilters(melBands, bins, sampleRate),
  };
}

/** Triangular filters with centres equally spaced in mel between 0 and Nyquist (HTK scale). */
function melFilters(bands: number, bins: number, sampleRate: number): Float64Array {
  const top = hzToMel(sampleRate / 2);
  const edges = Array.from({ length: bands + 2 }, (_, i) => melToHz((top * i) / (bands + 1)));
  const binHz = sampleRate / 2 / (bins - 1);
  const filters = new Float64Array(bands * bins);
  for (let b = 0; b < bands; b++) {
    const [lo, centre, hi] = [edges[b], edges[b + 1], edges[b + 2]];
    for (let k = 0; k < bins; k++) {
      const f = k * binHz;
      const weight = f <= centre ? (f - lo) / (centre - lo) : (hi - f) / (hi - centre);
      filters[b * bins + k] = Math.max(0, weight);
    }
  }
  return filters;
}

function spectrogramWith(clip: ArrayLike<number>, a: Analysis): Spectrogram {
  if (clip.length < a.frameLength) {
    throw new ShapeError(`a clip of ${clip.length} samples is shorter than one frame (${a.frameLength})`);
  }
  const frames = 1 + Math.floor((clip.length - a.frameLength) / a.hop);
  const bins = a.frameLength / 2 + 1;
  const values = new Float32Array(frames * a.bands);
  const framed = new Float64Array(a.frameLength);
  const power = new Float64Array(bins);
  for (let t = 0; t < frames; t++) {
    for (let n = 0; n < a.frameLength; n++) framed[n] = clip[t * a.hop + n] * a.window[n];
    for (let k = 0; k < bins; k++) {
      let re = 0;
      let im = 0;
      const row = k * a.frameLength;
      for (let n = 0; n < a.frameLength; n++) {
        re += framed[n] * a.cos[row + n];
        im -= framed[n] * a.sin[row + n];
      }
      power[k] = re * re + im * im;
    }
    for (let b = 0; b < a.bands; b++) {
      let sum = 0;
      for (let k = 0; k < bins; k++) sum += a.filters[b * bins + k] * power[k];
      values[t * a.bands + b] = 10 * Math.log10(sum + 1e-6);
    }
  }
  return { frames, bands: a.bands, values };
}

/** The log-mel spectrogram (dB) of one clip. */
export function logMelSpectrogram(clip: ArrayLike<number>, options: SpectrogramOptions): Spectrogram {
  return spectrogramWith(clip, analysisFor(options));
}

/** Spectrograms of `clips` ([count, length] row-major). */
function spectrograms(clips: Float32Array, length: number, a: Analysis, what: string): Spectrogram[] {
  if (!Number.isInteger(length) || length < 1 || clips.length === 0 || clips.length % length !== 0) {
    throw new ShapeError(`${what}: ${clips.length} samples do not split into clips of ${length}`);
  }
  return Array.from({ length: clips.length / length }, (_, i) =>
    spectrogramWith(clips.subarray(i * length, (i + 1) * length), a),
  );
}

/** One feature row per clip: each band's mean over time, then each band's standard deviation. */
function clipFeatures(spectra: readonly Spectrogram[]): Float64Array {
  const bands = spectra[0].bands;
  const features = new Float64Array(spectra.length * 2 * bands);
  spectra.forEach((s, i) => {
    for (let b = 0; b < bands; b++) {
      let sum = 0;
      let squares = 0;
      for (let t = 0; t < s.frames; t++) {
        const v = s.values[t * bands + b];
        sum += v;
        squares += v * v;
      }
      const mean = sum / s.frames;
      features[i * 2 * bands + b] = mean;
      features[i * 2 * bands + bands + b] = Math.sqrt(Math.max(0, squares / s.frames - mean * mean));
    }
  });
  return features;
}

/** √(mean (S_a − S_b)²) in dB over frames and bands of two equal-size spectrograms. */
export function logSpectralDistance(a: Spectrogram, b: Spectrogram): number {
  if (a.values.length !== b.values.length) {
    throw new ShapeError(`spectrograms differ in size: ${a.frames}×${a.bands} and ${b.frames}×${b.bands}`);
  }
  let sum = 0;
  for (let i = 0; i < a.values.length; i++) sum += (a.values[i] - b.values[i]) ** 2;
  return Math.sqrt(sum / a.values.length);
}

/**
 * Both scores of `clips` ([count, length]) against `reference` ([count', length]); see the module header.
 * The Fréchet distance needs at least two clips in each set.
 */
export function spectralScores(
  clips: Float32Array,
  reference: Float32Array,
  length: number,
  options: SpectrogramOptions,
): SpectralScores {
  const a = analysisFor(options);
  const generated = spectrograms(clips, length, a, 'clips');
  const held = spectrograms(reference, length, a, 'reference clips');
  if (generated.length < 2 || held.length < 2) {
    throw new ShapeError('spectral scores need at least two clips in each set (a covariance per set)');
  }
  const dim = 2 * a.bands;
  const frechet = frechetDistance(
    gaussianStatistics(clipFeatures(generated), dim),
    gaussianStatistics(clipFeatures(held), dim),
  );
  let total = 0;
  for (const g of generated) {
    let best = Infinity;
    for (const h of held) best = Math.min(best, logSpectralDistance(g, h));
    total += best;
  }
  return { frechet: Math.max(0, frechet), nearestLsd: total / generated.length };
}
