/**
 * File writes that never leave a half-written file: every writer in the project goes through
 * `writeFileAtomic` (or `writeDirAtomic` for a folder of files), which writes a temporary sibling,
 * flushes it to disk and renames it over the target. Readers see the old file or the new one.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
  existsSync,
} from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { FileSystemError } from './errors.js';

function temporarySibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

function describeFsError(action: string, path: string, error: unknown): FileSystemError {
  const code = (error as NodeJS.ErrnoException).code;
  const hints: Record<string, string> = {
    EACCES: 'check the folder permissions',
    EROFS: 'the file system is read-only; choose another output folder',
    ENOSPC: 'the disk is full; free space or choose another output folder',
    ENOENT: 'the parent folder does not exist',
    ENOTDIR: 'a part of the path is a file, not a folder',
  };
  return new FileSystemError(`cannot ${action} '${path}'${code ? ` (${code})` : ''}`, {
    hint: code ? hints[code] : undefined,
    cause: error,
  });
}

/** Writes `data` to `path` atomically, creating parent folders. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (error) {
    throw describeFsError('create the folder of', path, error);
  }
  const temp = temporarySibling(path);
  try {
    const fd = openSync(temp, 'w');
    try {
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      let offset = 0;
      while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw describeFsError('write', path, error);
  }
}

/**
 * Writes a whole folder atomically: `fill` writes into a temporary sibling folder, which then replaces
 * `path` (the old folder is moved aside first and removed after the swap).
 */
export function writeDirAtomic(path: string, fill: (tempDir: string) => void): void {
  const temp = temporarySibling(path);
  try {
    mkdirSync(temp, { recursive: true });
  } catch (error) {
    throw describeFsError('create', temp, error);
  }
  try {
    fill(temp);
  } catch (error) {
    rmSync(temp, { recursive: true, force: true });
    throw error;
  }
  const old = existsSync(path) ? temporarySibling(path) : null;
  try {
    if (old) renameSync(path, old);
    renameSync(temp, path);
  } catch (error) {
    if (old && !existsSync(path)) renameSync(old, path);
    rmSync(temp, { recursive: true, force: true });
    throw describeFsError('replace', path, error);
  }
  if (old) rmSync(old, { recursive: true, force: true });
}

/** Checks up front that `dir` can be created and written, so a long job fails before it starts. */
export function assertWritableDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw describeFsError('create the folder', dir, error);
  }
  const probe = temporarySibling(join(dir, 'probe'));
  try {
    const fd = openSync(probe, 'w');
    closeSync(fd);
    rmSync(probe, { force: true });
  } catch (error) {
    throw describeFsError('write into the folder', dir, error);
  }
}
