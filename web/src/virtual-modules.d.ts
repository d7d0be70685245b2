/** Modules the playground's Vite config generates at build time (see web/vite.config.ts). */
declare module 'virtual:mnist-digits' {
  /** One MNIST test image per digit: 28×28 greyscale bytes, base64-encoded, row-major. */
  const digits: {
    side: number;
    digits: { label: number; index: number; pixels: string }[];
  };
  export default digits;
}
