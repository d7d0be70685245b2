/**
 * The trajectory strip of an image sampling run: every few sampler steps it keeps one frame of the
 * first sample — the state x_t (top row) and the model's estimate of the clean image x̂₀ (bottom row) —
 * and draws the frames left to right, 2 pixels apart, so noise turning into an image can be seen at a
 * glance. σ-space samplers (Euler, Heun, LMS) carry x = x₀ + σ·ε, whose values grow with σ; a state
 * frame shows x / max(1, RMS(x)). For x = x₀ + σ·ε, RMS(x) ≈ √(E[x₀²] + σ²), so this is close to the
 * variance-preserving x/√(1 + σ²) (Karras et al. 2022, eq. 4 with s(t) = 1/√(1 + σ²)), and it leaves the
 * states of variance-preserving samplers (DDPM, DDIM, DPM-Solver), whose RMS stays near 1, as they are.
 *
 * This module must not sample; it only keeps and draws the frames it is given.
 */
import type { StepInfo } from '../../src/diffusion/samplers/types.js';
import { toRgba } from './images.js';
import { drawImage } from './plot.js';

/** Frames the strip aims for, whatever the step count. */
export const TRAJECTORY_FRAMES = 8;
const GAP = 2;

/** 1-based step numbers at which a run of `numSteps` steps keeps a frame: evenly spaced, the last included. */
export function frameSteps(numSteps: number, frames = TRAJECTORY_FRAMES): number[] {
  const every = Math.max(1, Math.ceil(numSteps / frames));
  const steps: number[] = [];
  for (let s = every; s < numSteps; s += every) steps.push(s);
  steps.push(numSteps);
  return steps;
}

/** Values clamped to [−1, 1], the range the image is drawn in. */
const clamped = (values: Float32Array) => values.map((v) => Math.max(-1, Math.min(1, v)));

export class TrajectoryStrip {
  /** 1-based steps of the frames kept so far. */
  readonly steps: number[] = [];
  private readonly states: Float32Array[] = [];
  private readonly estimates: Float32Array[] = [];
  /** Steps to keep, fixed by the sampler's own step count at its first step. */
  private keep: Set<number> | null = null;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly shape: readonly [number, number, number],
  ) {
    canvas.width = 0;
    canvas.height = 0;
  }

  /** Keeps a frame of the first sample when `info` is one of the strip's steps, and redraws. */
  observe(info: StepInfo): void {
    const step = info.step + 1;
    this.keep ??= new Set(frameSteps(info.numSteps));
    if (!this.keep.has(step)) return;
    const size = this.shape[0] * this.shape[1] * this.shape[2];
    const state = info.sample.slice(0, size);
    const rms = Math.sqrt(state.reduce((s, v) => s + v * v, 0) / size);
    this.steps.push(step);
    this.states.push(clamped(state.map((v) => v / Math.max(1, rms))));
    this.estimates.push(clamped(info.predictedOriginal.slice(0, size)));
    this.draw();
  }

  /** Two rows (x_t above x̂₀), one column per kept frame. */
  private draw(): void {
    const [channels, height, width] = this.shape;
    const count = this.steps.length;
    const total = count * width + (count - 1) * GAP;
    const rows = 2 * height + GAP;
    const rgba = new Uint8ClampedArray(total * rows * 4).fill(255);
    const image = { channels: channels === 1 ? (1 as const) : (3 as const), width, height };
    for (let n = 0; n < count; n++) {
      for (const [row, frames] of [this.states, this.estimates].entries()) {
        const one = toRgba(frames[n], image);
        for (let y = 0; y < height; y++) {
          const at = ((row * (height + GAP) + y) * total + n * (width + GAP)) * 4;
          rgba.set(one.subarray(y * width * 4, (y + 1) * width * 4), at);
        }
      }
    }
    drawImage(this.canvas, rgba, total, rows);
  }
}
