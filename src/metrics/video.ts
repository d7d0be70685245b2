/**
 * Frame-consistency scores for single-digit videos [count, 1, F, S, S] in [−1, 1] (moving MNIST), to
 * compare generated videos with real ones. Values are clipped to [−1, 1] first, as a picture shows them.
 * Two plain numbers:
 *
 * - `frameChange`: the mean absolute difference between consecutive frames, mean |x_{f+1} − x_f| over
 *   pixels, pairs and videos. Static videos score 0, independent frames of noise about 1.13; a model's
 *   value is read against the data's (their ratio is 1 when motion has the data's amount).
 * - digit consistency: each frame is cropped to the 14×14 window centred on its ink's centre of mass
 *   (ink weight (x + 1)/2), upsampled ×2 (nearest) to 28×28 — moving MNIST draws each digit as its
 *   28×28 MNIST image halved — and read by the shipped MNIST classifier. `sameDigitRate` is the share of
 *   videos whose F frames all get one label; `majorityAgreement` the mean share of frames that agree
 *   with their video's most frequent label; `confidence` is the classifier's mean top probability.
 *   Consistency alone does not mean legible digits (a classifier may read every noise crop as one
 *   digit): read it beside the frame change and the confidence.
 *
 * This module must not generate videos; the classifier is passed in (see classifier.ts).
 */
import { ShapeError } from '../util/errors.js';
import type { MnistClassifier } from './classifier.js';

export interface VideoShape {
  count: number;
  frames: number;
  side: number;
}

export interface DigitConsistency {
  sameDigitRate: number;
  majorityAgreement: number;
  /** Mean over frames of the classifier's top class probability. */
  confidence: number;
  /** Classifier labels [count, F]. */
  labels: Int32Array;
}

/** The [count, 1, F, S, S] layout of `videos`, or a ShapeError naming what was expected. */
export function videoShape(videos: Float32Array, shape: readonly number[]): VideoShape {
  const [count, c, f, h, w] = shape;
  const valid =
    shape.length === 5 && c === 1 && h === w && f >= 2 && videos.length === count * f * h * w && count > 0;
  if (!valid) {
    throw new ShapeError(
      `frame scores take single-channel square videos [count, 1, F ≥ 2, S, S]; got shape [${shape.join(', ')}] with ${videos.length} values`,
    );
  }
  return { count, frames: f, side: h };
}

/** x clipped to [−1, 1]. */
const clipped = (x: number): number => Math.min(1, Math.max(-1, x));

/** Mean |x_{f+1} − x_f| over pixels, consecutive frame pairs and videos. */
export function frameChange(videos: Float32Array, shape: readonly number[]): number {
  const { count, frames, side } = videoShape(videos, shape);
  const plane = side * side;
  let total = 0;
  for (let v = 0; v < count; v++) {
    for (let f = 0; f + 1 < frames; f++) {
      const a = (v * frames + f) * plane;
      for (let i = 0; i < plane; i++)
        total += Math.abs(clipped(videos[a + plane + i]) - clipped(videos[a + i]));
    }
  }
  return total / (count * (frames - 1) * plane);
}

/**
 * One 28×28 image per frame ([count·F, 1, 28, 28]): the 14×14 window around the frame's ink centre of
 * mass (clamped inside the frame; the frame centre when there is no ink), each pixel repeated 2×2.
 */
export function digitCrops(videos: Float32Array, shape: readonly number[]): Float32Array {
  const { count, frames, side } = videoShape(videos, shape);
  const window = 14;
  if (side < window) throw new ShapeError(`frames of ${side} px are smaller than a 14 px digit window`);
  const plane = side * side;
  const out = new Float32Array(count * frames * 28 * 28);
  for (let k = 0; k < count * frames; k++) {
    const frame = videos.subarray(k * plane, (k + 1) * plane);
    let mass = 0;
    let rowSum = 0;
    let colSum = 0;
    for (let i = 0; i < plane; i++) {
      const ink = (clipped(frame[i]) + 1) / 2;
      mass += ink;
      rowSum += ink * Math.floor(i / side);
      colSum += ink * (i % side);
    }
    const centre = (sum: number) => (mass > 1e-6 ? sum / mass : (side - 1) / 2);
    const clampCorner = (c: number) => Math.min(side - window, Math.max(0, Math.round(c - (window - 1) / 2)));
    const top = clampCorner(centre(rowSum));
    const left = clampCorner(centre(colSum));
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        out[k * 784 + y * 28 + x] = clipped(frame[(top + (y >> 1)) * side + left + (x >> 1)]);
      }
    }
  }
  return out;
}

/** Same-digit rate and majority agreement of the classifier's per-frame labels (see the module header). */
export function labelConsistency(
  labels: Int32Array,
  count: number,
  frames: number,
): Omit<DigitConsistency, 'labels' | 'confidence'> {
  if (labels.length !== count * frames) {
    throw new ShapeError(`${labels.length} labels are not ${count} videos × ${frames} frames`);
  }
  let same = 0;
  let agreeing = 0;
  for (let v = 0; v < count; v++) {
    const votes = new Map<number, number>();
    for (let f = 0; f < frames; f++) {
      const label = labels[v * frames + f];
      votes.set(label, (votes.get(label) ?? 0) + 1);
    }
    const top = Math.max(...votes.values());
    if (top === frames) same++;
    agreeing += top / frames;
  }
  return { sameDigitRate: same / count, majorityAgreement: agreeing / count };
}

/** Digit consistency of `videos` under `classifier` (a 28×28 MNIST classifier). */
export async function digitConsistency(
  videos: Float32Array,
  shape: readonly number[],
  classifier: Pick<MnistClassifier, 'classify'>,
): Promise<DigitConsistency> {
  const { count, frames } = videoShape(videos, shape);
  const { labels, probabilities } = await classifier.classify(digitCrops(videos, shape));
  const k = probabilities.length / labels.length;
  let top = 0;
  for (let i = 0; i < labels.length; i++) top += probabilities[i * k + labels[i]];
  return { ...labelConsistency(labels, count, frames), confidence: top / labels.length, labels };
}
