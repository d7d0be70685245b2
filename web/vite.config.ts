/**
 * Builds the playground (web/) with Vite into web/dist: the page imports the library's own modules
 * from src/, so the browser runs the same engine, models, schedules and samplers as Node. Two build
 * plugins: one turns the first MNIST test image of each digit into a small bundled module (read with
 * the project's MNIST loader at build time), one refuses any Node-only import of the project's code.
 * onnxruntime-web's WebAssembly binary is copied from node_modules into the build as an asset (Vite
 * follows the package's `new URL(file, import.meta.url)`), so the page never fetches it from elsewhere.
 * The only Node-only imports let through are lazy ones the page never takes (the onnxruntime-node
 * runtime, the file-backed dataset loaders); they stay external and are never loaded.
 *
 * Run it through tsx (`npm run build:web`): the config imports src/ TypeScript modules directly.
 * This module must not be imported by browser code.
 */
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type InlineConfig, type Plugin } from 'vite';
import { loadMnistBytes, MNIST_SIDE, mnistSplitIndices } from '../src/data/mnist.js';

export const WEB_ROOT = fileURLToPath(new URL('.', import.meta.url));
export const DEFAULT_OUT_DIR = join(WEB_ROOT, 'dist');

const MNIST_MODULE = 'virtual:mnist-digits';

export interface BundledDigit {
  label: number;
  /** Index of the image in the `mnist` package's order. */
  index: number;
  /** 28×28 bytes, row-major. */
  pixels: Uint8Array;
}

/** The first image of each digit in the held-out test split, as the playground bundles them. */
export function bundledDigits(): BundledDigit[] {
  const { pixels, labels } = loadMnistBytes();
  const test = mnistSplitIndices('test');
  const size = MNIST_SIDE * MNIST_SIDE;
  return Array.from({ length: 10 }, (_, label) => {
    const index = test.find((i) => labels[i] === label)!;
    return { label, index, pixels: pixels.slice(index * size, (index + 1) * size) };
  });
}

function mnistDigitsPlugin(): Plugin {
  const resolved = `\0${MNIST_MODULE}`;
  return {
    name: 'playground:mnist-digits',
    resolveId: (source) => (source === MNIST_MODULE ? resolved : null),
    load(id) {
      if (id !== resolved) return null;
      const digits = bundledDigits().map(({ label, index, pixels }) => ({
        label,
        index,
        pixels: Buffer.from(pixels).toString('base64'),
      }));
      return `export default ${JSON.stringify({ side: MNIST_SIDE, digits })};`;
    },
  };
}

/**
 * Lazy imports the page never takes, left out of the bundle: the onnxruntime-node runtime's package
 * and `node:os`, and `resolveDataset`'s file-backed loaders (MNIST, emoji, image, time-series and audio
 * folders, the captioned and forecasting datasets). Keyed by the importing module's path below the repository root.
 */
const LAZY_NODE_IMPORTS: Record<string, readonly string[]> = {
  'src/engine/runtime/ort-node.ts': ['onnxruntime-node', 'node:os'],
  'src/data/dataset.ts': [
    './mnist.js',
    './emoji.js',
    './image-folder.js',
    './timeseries.js',
    './audio-folder.js',
    './captions.js',
    './forecast-windows.js',
    './maze-trajectories.js',
    './mnist-lowres.js',
    './moving-mnist.js',
  ],
};

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE_BUILTINS = new Set(builtinModules);

/** Fails the build when the project's own code imports a Node-only module, except the lazy imports above. */
function browserOnlyPlugin(): Plugin {
  return {
    name: 'playground:browser-only',
    enforce: 'pre',
    resolveId(source, importer, options) {
      const from = importer ? relative(REPO_ROOT, importer).replaceAll('\\', '/') : '';
      const kind = (options as { kind?: string }).kind;
      if (kind === 'dynamic-import' && LAZY_NODE_IMPORTS[from]?.includes(source))
        return { id: source, external: true };
      // Packages map their own Node-only imports for browsers (package.json "browser" fields).
      if (from.startsWith('..') || from.includes('node_modules/')) return null;
      const nodeOnly =
        source.startsWith('node:') || NODE_BUILTINS.has(source) || source === 'onnxruntime-node';
      if (nodeOnly)
        this.error(
          `${from || 'the page'} imports '${source}': Node-only modules must stay out of the browser bundle`,
        );
      return null;
    },
  };
}

/** The full build config, writing to `outDir` (web/dist by default). */
export function playgroundConfig(outDir = DEFAULT_OUT_DIR): InlineConfig {
  return {
    root: WEB_ROOT,
    base: './',
    logLevel: 'warn',
    plugins: [browserOnlyPlugin(), mnistDigitsPlugin()],
    build: {
      outDir,
      emptyOutDir: true,
      target: 'es2022',
      chunkSizeWarningLimit: 4096,
      rolldownOptions: {
        onwarn(warning, warn) {
          // Expected: the page imports toy2d directly, which `resolveDataset` also loads lazily.
          if (warning.code === 'INEFFECTIVE_DYNAMIC_IMPORT') return;
          warn(warning);
        },
      },
    },
  };
}

export default defineConfig(playgroundConfig());
