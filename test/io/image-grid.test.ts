import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blankImage, gridCellOrigin, imageGrid, imageStrip, type Rgba } from '../../src/io/images.js';
import { ShapeError } from '../../src/util/errors.js';

const colors: Rgba[] = [
  [255, 0, 0, 255],
  [0, 255, 0, 255],
  [0, 0, 255, 255],
  [255, 255, 0, 255],
  [0, 255, 255, 255],
];

test("grid layout is torchvision's make_grid: size and every pixel's owner", () => {
  // Five 3×2 images, nrow 2, padding 2: 2 columns, 3 rows → (2·5 + 2) × (3·4 + 2) = 12 × 14.
  const images = colors.map((c) => blankImage(3, 2, c));
  const grid = imageGrid(images, { nrow: 2, padding: 2 });
  assert.deepEqual([grid.width, grid.height], [12, 14]);
  const owner = (x: number, y: number): number => {
    for (let k = 0; k < images.length; k++) {
      const o = gridCellOrigin(k, { width: 3, height: 2 }, { nrow: 2, padding: 2 });
      if (x >= o.x && x < o.x + 3 && y >= o.y && y < o.y + 2) return k;
    }
    return -1;
  };
  for (let y = 0; y < grid.height; y++) {
    for (let x = 0; x < grid.width; x++) {
      const k = owner(x, y);
      const expected = k === -1 ? [0, 0, 0, 255] : colors[k];
      assert.deepEqual(
        [...grid.data.subarray((y * 12 + x) * 4, (y * 12 + x) * 4 + 4)],
        [...expected],
        `(${x},${y})`,
      );
    }
  }
  // Spot checks by hand: image 3 (yellow) starts at x = 5 + 2 = 7, y = 4 + 2 = 6; image 4 at (2, 10).
  assert.deepEqual(gridCellOrigin(3, { width: 3, height: 2 }, { nrow: 2, padding: 2 }), { x: 7, y: 6 });
  assert.deepEqual(gridCellOrigin(4, { width: 3, height: 2 }, { nrow: 2, padding: 2 }), { x: 2, y: 10 });
  assert.equal(owner(7, 6), 3);
  assert.equal(owner(6, 6), -1);
});

test('strip puts all images in one row; nrow beyond the count shrinks to it; padding colour and 0', () => {
  const images = colors.slice(0, 3).map((c) => blankImage(2, 2, c));
  const strip = imageStrip(images, { padding: 1, background: [255, 255, 255, 255] });
  assert.deepEqual([strip.width, strip.height], [3 * 3 + 1, 4]);
  assert.deepEqual([...strip.data.subarray(0, 4)], [255, 255, 255, 255]);
  assert.deepEqual([...strip.data.subarray((1 * 10 + 4) * 4, (1 * 10 + 4) * 4 + 4)], [0, 255, 0, 255]);
  const tight = imageGrid(images, { nrow: 10, padding: 0 });
  assert.deepEqual([tight.width, tight.height], [6, 2]);
  assert.deepEqual([...tight.data.subarray(5 * 4, 6 * 4)], [0, 0, 255, 255]);
});

test('mismatched sizes and bad options are ShapeErrors', () => {
  assert.throws(
    () => imageGrid([blankImage(2, 2), blankImage(3, 2)]),
    (e: unknown) => e instanceof ShapeError && /grid image 1 is 3×2/.test(e.message),
  );
  assert.throws(() => imageGrid([]), ShapeError);
  assert.throws(() => imageGrid([blankImage(2, 2)], { padding: -1 }), ShapeError);
  assert.throws(() => imageGrid([blankImage(2, 2)], { nrow: 0 }), ShapeError);
});
