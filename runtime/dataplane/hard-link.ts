/**
 * Hard links are how the data plane makes a file appear whole and never over another (the
 * download lock, the finished artifact). Some file systems have none (FAT, exFAT, some FUSE
 * and network file systems); there each use falls back to a plain create or rename.
 */

/** Whether `link` failed with `code` because the file system has no hard links, not because of the files. */
export function hardLinksUnsupported(code: string | undefined): boolean {
  return code === "EPERM" || code === "ENOTSUP" || code === "EOPNOTSUPP" || code === "ENOSYS" || code === "EMLINK";
}
