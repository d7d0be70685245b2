/**
 * The seeded random generator used wherever randomness appears (initialisation, noise, batching,
 * dropout of labels, SDE noise). xoshiro128** (Blackman & Vigna) over four 32-bit words: fast in
 * JavaScript's 32-bit integer arithmetic, 2^128 − 1 period, state small enough to checkpoint.
 * Normals come from the Box–Muller transform with the second value of each pair kept.
 *
 * Same seed, same numbers; `split()` derives an independent stream (seeded through SplitMix32 from
 * this stream's output), so components can own their randomness without sharing one sequence.
 */
import { ConfigError } from './errors.js';

export interface RandomState {
  words: [number, number, number, number];
  spareNormal: number | null;
}

const TWO_PI = 2 * Math.PI;
const INV_2_53 = 1 / 9007199254740992;

function splitMix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

export class Random {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spare: number | null = null;

  /** `seed`: any safe integer (negative and > 2^32 values are folded in, not truncated). */
  constructor(seed: number = 0) {
    if (!Number.isSafeInteger(seed)) {
      throw new ConfigError(`random seed must be a safe integer, got ${seed}`, {
        hint: 'pass e.g. --seed 42',
      });
    }
    const low = seed >>> 0;
    const high = Math.floor(seed / 4294967296) >>> 0;
    const next = splitMix32(low ^ Math.imul(high, 0x27d4eb2d) ^ (seed < 0 ? 0x5bd1e995 : 0));
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  static fromState(state: RandomState): Random {
    const words = state?.words;
    if (!Array.isArray(words) || words.length !== 4 || !words.every((w) => Number.isInteger(w))) {
      throw new ConfigError('random state must hold four 32-bit integer words');
    }
    const random = new Random(0);
    [random.s0, random.s1, random.s2, random.s3] = words.map((w) => w >>> 0);
    random.spare = typeof state.spareNormal === 'number' ? state.spareNormal : null;
    return random;
  }

  /** A JSON-serialisable snapshot; `Random.fromState` continues the exact same sequence. */
  state(): RandomState {
    return { words: [this.s0, this.s1, this.s2, this.s3], spareNormal: this.spare };
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) * INV_2_53;
  }

  /** Standard normal N(0, 1). */
  normal(): number {
    if (this.spare !== null) {
      const value = this.spare;
      this.spare = null;
      return value;
    }
    let u = this.uniform();
    while (u === 0) u = this.uniform();
    const radius = Math.sqrt(-2 * Math.log(u));
    const angle = TWO_PI * this.uniform();
    this.spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }

  /** Integer uniform in [0, n), without modulo bias. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) {
      throw new ConfigError(`Random.int needs an integer 1 ≤ n ≤ 2^32, got ${n}`);
    }
    const limit = 4294967296 - (4294967296 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return x % n;
  }

  /** Fills `out` with N(mean, std²) values and returns it. */
  fillNormal<T extends Float32Array | Float64Array>(out: T, mean = 0, std = 1): T {
    for (let i = 0; i < out.length; i++) out[i] = mean + std * this.normal();
    return out;
  }

  /** Fills `out` with values uniform in [low, high) and returns it. */
  fillUniform<T extends Float32Array | Float64Array>(out: T, low = 0, high = 1): T {
    const width = high - low;
    for (let i = 0; i < out.length; i++) out[i] = low + width * this.uniform();
    return out;
  }

  normals(count: number, mean = 0, std = 1): Float32Array {
    return this.fillNormal(new Float32Array(count), mean, std);
  }

  /** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = out[i];
      out[i] = out[j];
      out[j] = tmp;
    }
    return out;
  }

  /** An independent generator derived from this one (advances this stream by four draws). */
  split(): Random {
    const child = new Random(0);
    const mix = splitMix32(this.nextUint32() ^ 0x6a09e667);
    const words = [this.nextUint32(), this.nextUint32(), this.nextUint32(), this.nextUint32()];
    [child.s0, child.s1, child.s2, child.s3] = words.map((w) => (w ^ mix()) >>> 0);
    if ((child.s0 | child.s1 | child.s2 | child.s3) === 0) child.s0 = 1;
    return child;
  }
}
