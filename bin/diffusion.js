#!/usr/bin/env node
// Entry point of the `diffusion` command. In a source checkout it runs the TypeScript sources through
// tsx; in an installed package it runs the compiled files in dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const sourceMain = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
if (existsSync(sourceMain)) {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('../src/cli/main.ts');
  await main(process.argv);
} else {
  const { main } = await import('../dist/cli/main.js');
  await main(process.argv);
}
