/**
 * The pipelines in one import: unconditional/class-conditional generation with a trained network
 * (`generate`, `compiledDenoiser`) and the editing pipelines that run on any `ModelFn` plus a scheduler
 * config — image-to-image, inpainting (replacement and RePaint), restoration, trajectories and
 * forward-process illustrations, imputation of 1-D series, writing 1-D samples as CSV/WAV, and latent
 * diffusion around an AutoencoderKL (encode a dataset, decode samples, VAE folders), and ControlNet
 * conditions and edge agreement, and Diffuser-style planning in a 2-D maze.
 * Re-exports only; no logic lives here.
 */
export * from './generate.js';
export * from './img2img.js';
export * from './inpaint.js';
export * from './edit-inputs.js';
export * from './restore.js';
export * from './trajectory.js';
export * from './forward-illustration.js';
export * from './impute.js';
export * from './forecast.js';
export * from './plan.js';
export * from './signals.js';
export * from './classifier-guidance.js';
export * from './latent.js';
export * from './control.js';
