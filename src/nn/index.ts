/**
 * The functional layer toolkit networks are built from: parameter specs and init, layers,
 * embeddings and attention. Networks import from here.
 *
 * This module must not define anything itself.
 */
export * from './params.js';
export * from './layers.js';
export * from './embeddings.js';
export * from './attention.js';
