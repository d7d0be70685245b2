/**
 * What the folder-backed datasets (images, audio) share: finding the files of given extensions under a
 * folder, recursively and in a stable order, and reading class labels from first-level sub-folder
 * names. It decodes nothing; the errors name the folder or the file at fault.
 */
import { readdirSync, statSync, type Dirent } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { NotFoundError, UsageError } from '../util/errors.js';

/**
 * Files under `root` whose extension (lower-cased) is one of `extensions`, as sorted paths relative to
 * `root`. Hidden files and folders (names starting with '.') are skipped. `kind` names the files in
 * errors ("PNG or JPEG images", "WAV files"). A missing, unreadable or empty folder is an error.
 */
export function findFiles(root: string, extensions: readonly string[], kind: string): string[] {
  let isFolder: boolean;
  try {
    isFolder = statSync(root).isDirectory();
  } catch (error) {
    throw new NotFoundError(`folder '${root}' does not exist or cannot be read`, { cause: error });
  }
  if (!isFolder) throw new UsageError(`'${root}' is a file, not a folder of ${kind}`);
  const wanted = new Set(extensions);
  const files: string[] = [];
  const visit = (folder: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(folder, { withFileTypes: true });
    } catch (error) {
      throw new NotFoundError(`cannot list folder '${folder}'`, {
        cause: error,
        hint: 'check its permissions',
      });
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const full = join(folder, entry.name);
      if (entry.isDirectory()) visit(full);
      else if (entry.isFile() && wanted.has(extname(entry.name).toLowerCase()))
        files.push(relative(root, full));
    }
  };
  visit(root);
  if (files.length === 0) throw new NotFoundError(`folder '${root}' holds no ${kind} (searched recursively)`);
  return files.sort();
}

/** The first-level sub-folder of a relative path, or null for a file directly in the root. */
export function firstFolder(file: string): string | null {
  const parts = file.split(sep);
  return parts.length > 1 ? parts[0] : null;
}

export type LabelMode = 'auto' | 'folders' | 'none';

/**
 * Class names (sorted first-level sub-folder names) and each file's label, or null for an unlabelled
 * set. 'auto': labelled when every file lies in a sub-folder; 'folders': that is required, and a file
 * directly in the root is an error naming it; 'none': unlabelled.
 */
export function folderLabels(
  root: string,
  files: readonly string[],
  mode: LabelMode,
): { classNames: string[]; labels: Int32Array } | null {
  if (mode === 'none') return null;
  const loose = files.find((file) => firstFolder(file) === null);
  if (loose !== undefined) {
    if (mode === 'auto') return null;
    throw new UsageError(`'${join(root, loose)}' lies directly in '${root}', so it has no class folder`, {
      hint: "put every file in a sub-folder named after its class, or use labels: 'none'",
    });
  }
  const classNames = [...new Set(files.map((file) => firstFolder(file)!))].sort();
  const labels = Int32Array.from(files, (file) => classNames.indexOf(firstFolder(file)!));
  return { classNames, labels };
}
