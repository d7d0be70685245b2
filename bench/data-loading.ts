/**
 * How fast the built-in image datasets load and serve batches: load (parse/decode) time, then batches
 * per second of a shuffling `BatchIterator` at batch size 32 (gathering and converting bytes to
 * float32 in [−1, 1], with the random horizontal flip where the dataset has one). Run with
 * `npx tsx bench/data-loading.ts`; it prints one line per dataset. No assertions: numbers only.
 */
import { BatchIterator, resolveDataset, type Dataset, type DatasetOptions } from '../src/data/dataset.js';
import { Random } from '../src/util/random.js';

const BATCH_SIZE = 32;
const SECONDS = 2;

async function measure(name: string, options: DatasetOptions): Promise<void> {
  const loadStart = performance.now();
  const dataset: Dataset = await resolveDataset(name, options);
  const loadMs = performance.now() - loadStart;
  const iterator = new BatchIterator(dataset, { batchSize: BATCH_SIZE, random: new Random(0) });
  let batches = 0;
  let checksum = 0;
  const start = performance.now();
  while (performance.now() - start < SECONDS * 1000) {
    const batch = iterator.next()!;
    checksum += batch.x[0];
    batches++;
  }
  const seconds = (performance.now() - start) / 1000;
  const rate = batches / seconds;
  const label = `${name} ${JSON.stringify(options)}`;
  console.log(
    `${label.padEnd(46)} shape [${dataset.shape}] size ${dataset.size}: load ${loadMs.toFixed(0)} ms, ` +
      `${rate.toFixed(0)} batches/s of ${BATCH_SIZE} (${((rate * BATCH_SIZE) / 1000).toFixed(1)}k examples/s)` +
      ` [checksum ${checksum.toFixed(1)}]`,
  );
}

await measure('mnist', {});
await measure('mnist', { imageSize: 32 });
await measure('emoji', {});
await measure('emoji', { imageSize: 64 });
await measure('moons', { size: 10_000 });
