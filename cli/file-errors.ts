/** The codes of file-system failures: every one a user can cause has its own code and exit status, none is ONEX_E_INTERNAL. */
import { ErrorCode, OnexError } from "@onex/runtime";

/** Why `path` could not be read: ONEX_E_FILE_NOT_FOUND when it is missing, else ONEX_E_FILE_UNREADABLE (a folder, no permission, I/O). */
export function readFailure(cause: unknown, path: string, what: string): OnexError {
  const errno = (cause as NodeJS.ErrnoException)?.code;
  const reason = describeErrno(errno, cause);
  const code = errno === "ENOENT" || errno === "ENOTDIR" ? ErrorCode.FileNotFound : ErrorCode.FileUnreadable;
  return new OnexError(code, `cannot read the ${what} ${path}: ${reason}`, { file: path, ...(errno === undefined ? {} : { errno }) }, { cause });
}

/** Why `path` could not be written: ONEX_E_FILE_EXISTS without --force, else ONEX_E_WRITE_FAILED. */
export function writeFailure(cause: unknown, path: string): OnexError {
  const errno = (cause as NodeJS.ErrnoException)?.code;
  if (errno === "EEXIST") return new OnexError(ErrorCode.FileExists, `${path} exists; pass --force to replace it`, { file: path, errno }, { cause });
  return new OnexError(ErrorCode.WriteFailed, `cannot write ${path}: ${describeErrno(errno, cause)}`, { file: path, ...(errno === undefined ? {} : { errno }) }, { cause });
}

function describeErrno(errno: string | undefined, cause: unknown): string {
  switch (errno) {
    case "ENOENT":
      return "no such file or folder (ENOENT)";
    case "ENOTDIR":
      return "a part of the path is not a folder (ENOTDIR)";
    case "EISDIR":
      return "it is a folder (EISDIR)";
    case "EACCES":
    case "EPERM":
      return `permission denied (${errno})`;
    case "ENOSPC":
      return "no space left on the device (ENOSPC)";
    case "EFBIG":
      // A file size limit (`ulimit -f`, a quota of the CI runner) the file would grow past.
      return "the file would grow past the size limit (EFBIG)";
    case "EROFS":
      return "read-only file system (EROFS)";
    case "ELOOP":
      // A loop of links, or a link where onex opens none (its temporary output files).
      return "a loop of symbolic links, or a link where onex follows none (ELOOP)";
    case undefined:
      return (cause as Error)?.message ?? String(cause);
    default: {
      // Node's own messages begin with the code ("EIO: i/o error, write"): said once, not twice.
      const message = (cause as Error)?.message ?? "";
      return message.startsWith(`${errno}:`) ? message : `${errno}: ${message}`.trim();
    }
  }
}
