/**
 * Any folder of PNG or JPEG images as a dataset. The folder is searched recursively (hidden files and
 * folders skipped, files in sorted path order); every image is decoded once, composited on white if it
 * has transparency, resized so its shorter side is S (area averaging when shrinking, bilinear when
 * enlarging) and centre-cropped to S×S, then held in memory as bytes (C·S·S bytes per image). Examples
 * are C×S×S in [−1, 1]; C is 3 for colour, or 1 when every image is grey (R = G = B), unless the
 * `channels` option fixes it. With `flip`, images are mirrored left–right at random when batches are
 * gathered with a generator. Labels come from the first-level sub-folder names, sorted, when every
 * image lies in one (`photos/cat/1.png` → class "cat"). Everything is checked up front, so a bad file
 * fails before training starts, with an error that names it.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError, DiffusionError, FormatError } from '../util/errors.js';
import {
  decodeImage,
  flattenAlpha,
  isGrey,
  isOpaque,
  readImageBytes,
  resizeAndCenterCrop,
  WHITE,
  type RgbaImage,
} from '../io/images.js';
import { ByteImageDataset, parseOptions } from './dataset.js';
import { findFiles, folderLabels } from './folder.js';

const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];
/** In-memory limit for the decoded bytes (a larger set needs a smaller imageSize). */
const MAX_DATASET_BYTES = 2 ** 31;

const imageFolderOptions = z
  .object({
    /** The folder to read. */
    path: z.string().min(1),
    /** Side S of the square examples (default 32). */
    imageSize: z.number().int().min(1).max(4096).default(32),
    /** 'auto' (default): 1 if every image is grey, 3 if every image is colour, an error if mixed. */
    channels: z.union([z.literal('auto'), z.literal(1), z.literal(3)]).default('auto'),
    /** 'auto' (default): labels from sub-folders when every image lies in one; 'folders' demands them; 'none'. */
    labels: z.enum(['auto', 'folders', 'none']).default('auto'),
    /** Random horizontal flip at batch time (default false). */
    flip: z.boolean().default(false),
  })
  .strict();

export type ImageFolderOptions = z.input<typeof imageFolderOptions>;

/** The image-folder dataset; `files[i]` is example i's path relative to the folder. */
export class ImageFolderDataset extends ByteImageDataset {
  readonly root: string;
  readonly files: readonly string[];

  constructor(
    spec: ConstructorParameters<typeof ByteImageDataset>[0] & { root: string; files: readonly string[] },
  ) {
    super(spec);
    this.root = spec.root;
    this.files = spec.files;
  }
}

/** Reads a folder of images into a dataset (see the module header). */
export function imageFolderDataset(
  options: ImageFolderOptions | Record<string, unknown>,
): ImageFolderDataset {
  const {
    path,
    imageSize,
    channels,
    labels: labelMode,
    flip,
  } = parseOptions('image-folder', imageFolderOptions, options);
  const files = findFiles(path, IMAGE_EXTENSIONS, 'PNG or JPEG images');
  const classes = folderLabels(path, files, labelMode);
  const images = files.map((file) => preparedImage(join(path, file), imageSize));
  const channelCount = channels === 'auto' ? commonChannelCount(files, images) : channels;
  const plane = imageSize * imageSize;
  const total = files.length * channelCount * plane;
  if (total > MAX_DATASET_BYTES) {
    throw new ConfigError(
      `image folder '${path}' would need ${(total / 2 ** 30).toFixed(1)} GiB in memory at ${imageSize}×${imageSize}`,
      { hint: 'use a smaller imageSize or fewer images' },
    );
  }
  const pixels = new Uint8Array(total);
  images.forEach((image, i) =>
    writeChannelFirst(image, channelCount, pixels.subarray(i * channelCount * plane)),
  );
  const kind = channelCount === 1 ? 'grey' : 'RGB';
  return new ImageFolderDataset({
    name: `image-folder:${path}`,
    shape: [channelCount, imageSize, imageSize],
    pixels,
    labels: classes?.labels,
    numClasses: classes?.classNames.length,
    classNames: classes?.classNames,
    description: `${files.length} images from '${path}', ${channelCount}x${imageSize}x${imageSize} ${kind}`,
    flip,
    root: path,
    files,
  });
}

/** Decodes one file and brings it to size×size; any failure names the file. */
function preparedImage(path: string, size: number): RgbaImage {
  let image: RgbaImage;
  try {
    image = decodeImage(readImageBytes(path), `'${path}'`);
  } catch (error) {
    if (error instanceof DiffusionError) throw error;
    throw new FormatError(`cannot decode image '${path}': ${(error as Error).message}`, { cause: error });
  }
  const opaque = isOpaque(image) ? image : flattenAlpha(image, WHITE);
  const shrinking = Math.min(opaque.width, opaque.height) >= size;
  return resizeAndCenterCrop(opaque, size, shrinking ? 'area' : 'bilinear');
}

/** 1 when every image is grey, 3 when every image is colour; a mix names one file of each kind. */
function commonChannelCount(files: readonly string[], images: readonly RgbaImage[]): 1 | 3 {
  const grey = images.map(isGrey);
  const firstGrey = grey.indexOf(true);
  const firstColour = grey.indexOf(false);
  if (firstColour < 0) return 1;
  if (firstGrey < 0) return 3;
  throw new FormatError(
    `image folder mixes grey and colour images: '${files[firstGrey]}' is grey (1 channel), ` +
      `'${files[firstColour]}' is colour (3 channels)`,
    { hint: 'set channels: 3 to read all as RGB, or channels: 1 to read all as grey' },
  );
}

/** Opaque RGBA → [C, H, W] bytes: RGB planes, or grey as PIL's luma L = (299R + 587G + 114B)/1000. */
export function writeChannelFirst(image: RgbaImage, channels: 1 | 3, out: Uint8Array): void {
  const plane = image.width * image.height;
  const d = image.data;
  for (let p = 0; p < plane; p++) {
    const [r, g, b] = [d[4 * p], d[4 * p + 1], d[4 * p + 2]];
    if (channels === 1) {
      // PIL's fixed-point form of the luma weights (the same as io's imagesToTensor).
      out[p] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
    } else {
      out[p] = r;
      out[plane + p] = g;
      out[2 * plane + p] = b;
    }
  }
}
