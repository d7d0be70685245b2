/**
 * Many images of one size laid out as one: a grid with `nrow` images per row, or a single horizontal
 * strip (a denoising trajectory, left to right). The layout is torchvision's `make_grid`: every image
 * sits in a cell of (H + padding) × (W + padding) pixels, with `padding` pixels of background before the
 * first row and column too, so the result is (rows·(H + p) + p) × (cols·(W + p) + p). Layout only:
 * writing the file is the PNG module's job.
 */
import { ShapeError } from '../util/errors.js';
import { BLACK, blankImage, checkImage, type Rgba, type RgbaImage } from './rgba-image.js';

export interface GridOptions {
  /** Images per row (torchvision's `nrow`; default 8). */
  nrow?: number;
  /** Background pixels between images and around the border (default 2). */
  padding?: number;
  /** Colour of the padding (default opaque black, torchvision's pad_value 0). */
  background?: Rgba;
}

/** Where image `index` starts in a grid: its top-left pixel. */
export function gridCellOrigin(
  index: number,
  cell: { width: number; height: number },
  options: Pick<GridOptions, 'nrow' | 'padding'> = {},
): { x: number; y: number } {
  const nrow = options.nrow ?? 8;
  const padding = options.padding ?? 2;
  return {
    x: (index % nrow) * (cell.width + padding) + padding,
    y: Math.floor(index / nrow) * (cell.height + padding) + padding,
  };
}

/** N images → one image with `nrow` per row. */
export function imageGrid(images: readonly RgbaImage[], options: GridOptions = {}): RgbaImage {
  const padding = options.padding ?? 2;
  if (images.length === 0) throw new ShapeError('cannot make a grid of zero images');
  const nrow = Math.min(options.nrow ?? 8, images.length);
  if (!Number.isSafeInteger(nrow) || nrow < 1) throw new ShapeError(`grid nrow must be a positive integer`);
  if (!Number.isSafeInteger(padding) || padding < 0) {
    throw new ShapeError(`grid padding must be a non-negative integer, got ${padding}`);
  }
  const { width, height } = images[0];
  const rows = Math.ceil(images.length / nrow);
  const grid = blankImage(
    nrow * (width + padding) + padding,
    rows * (height + padding) + padding,
    options.background ?? BLACK,
  );
  images.forEach((image, k) => {
    checkImage(image, `grid image ${k}`);
    if (image.width !== width || image.height !== height) {
      throw new ShapeError(
        `grid image ${k} is ${image.width}×${image.height}, image 0 is ${width}×${height}; all must match`,
      );
    }
    const { x, y } = gridCellOrigin(k, image, { nrow, padding });
    for (let row = 0; row < height; row++) {
      const source = image.data.subarray(row * width * 4, (row + 1) * width * 4);
      grid.data.set(source, ((y + row) * grid.width + x) * 4);
    }
  });
  return grid;
}

/** N images side by side in one row. */
export function imageStrip(images: readonly RgbaImage[], options: Omit<GridOptions, 'nrow'> = {}): RgbaImage {
  return imageGrid(images, { ...options, nrow: images.length });
}
