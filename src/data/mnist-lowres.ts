/**
 * MNIST at reduced resolution for the base and middle stages of a super-resolution cascade: the
 * 28×28 digits area-pooled (each factor × factor block averaged, rounded to a byte) to 14×14 or 7×7,
 * same splits and labels as `mnist`. The super-resolution stages pool their own inputs from the
 * full-size images; this dataset is what a low-resolution base model (or a 7→14 stage) trains on.
 *
 * This module must not resample anything but the MNIST bytes it is given.
 */
import { z } from 'zod';
import { ByteImageDataset, parseOptions } from './dataset.js';
import { MNIST_SIDE, mnistDataset } from './mnist.js';

const lowResOptions = z
  .object({
    split: z.enum(['train', 'test', 'all']).default('train'),
  })
  .strict();

/** MNIST digits pooled to side × side (side 14 or 7), labels 0–9. */
export function mnistLowResDataset(side: 14 | 7, options: Record<string, unknown> = {}): ByteImageDataset {
  const { split } = parseOptions(`mnist-${side}`, lowResOptions, options);
  const full = mnistDataset({ split, imageSize: 28 });
  const factor = MNIST_SIDE / side;
  const count = full.size;
  const pixels = new Uint8Array(count * side * side);
  for (let i = 0; i < count; i++)
    for (let y = 0; y < side; y++)
      for (let x = 0; x < side; x++) {
        let sum = 0;
        for (let dy = 0; dy < factor; dy++)
          for (let dx = 0; dx < factor; dx++)
            sum +=
              full.pixels[i * MNIST_SIDE * MNIST_SIDE + (y * factor + dy) * MNIST_SIDE + x * factor + dx];
        pixels[i * side * side + y * side + x] = Math.round(sum / (factor * factor));
      }
  return new ByteImageDataset({
    name: split === 'train' ? `mnist-${side}` : `mnist-${side}:${split}`,
    shape: [1, side, side],
    pixels,
    labels: full.labels,
    numClasses: 10,
    classNames: full.classNames,
    description: `MNIST digits area-pooled to 1x${side}x${side}, ink +1 on background -1`,
  });
}
