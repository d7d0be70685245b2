/**
 * The pipelines in one import: unconditional/class-conditional generation with a trained network
 * (`generate`, `compiledDenoiser`) and the editing pipelines that run on any `ModelFn` plus a scheduler
 * config — image-to-image, inpainting (replacement and RePaint), restoration, trajectories and
 * forward-process illustrations. Re-exports only; no logic lives here.
 */
export * from './generate.js';
export * from './img2img.js';
export * from './inpaint.js';
export * from './restore.js';
export * from './trajectory.js';
export * from './forward-illustration.js';
