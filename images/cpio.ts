// Writes "newc" (SVR4, no CRC) cpio archives, the format the Linux kernel unpacks as an initramfs.
// Linux accepts several archives one after the other, so a small archive can be appended to a base initramfs.

/** Header magic and sizes of the newc format. */
const NEWC_MAGIC = '070701';
const NEWC_FIELD_COUNT = 13;
const NEWC_FIELD_WIDTH = 8;
const NEWC_HEADER_SIZE = NEWC_MAGIC.length + NEWC_FIELD_COUNT * NEWC_FIELD_WIDTH; // 110
const NEWC_ALIGN = 4;
const TRAILER_NAME = 'TRAILER!!!';

/** File type bits of st_mode. */
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
const PERMISSION_MASK = 0o7777;

export type CpioEntry =
  | { type: 'file'; path: string; data: Buffer | string; mode?: number }
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'chardev'; path: string; major: number; minor: number; mode?: number };

/** Archive paths are relative ("dev/console"); a leading "/" and "./" are dropped, ".." is refused. */
function archivePath(p: string): string {
  const rel = p.replace(/^(\.?\/)+/, '');
  if (rel.length === 0 || rel.split('/').includes('..')) throw new Error(`cpio: bad path "${p}"`);
  return rel;
}

function pad(length: number): Buffer {
  return Buffer.alloc((NEWC_ALIGN - (length % NEWC_ALIGN)) % NEWC_ALIGN);
}

function header(fields: number[]): string {
  return NEWC_MAGIC + fields.map((f) => f.toString(16).padStart(NEWC_FIELD_WIDTH, '0')).join('');
}

/** Serialises entries (all owned by uid/gid 0, mtime `mtime`) and the trailer into one archive. */
export function writeCpio(entries: CpioEntry[], mtime = 0): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const push = (name: string, mode: number, data: Buffer, rdevMajor = 0, rdevMinor = 0, nlink = 1): void => {
    const nameBytes = Buffer.from(name + '\0', 'utf8');
    const fields = [ino++, mode, 0, 0, nlink, mtime, data.length, 0, 0, rdevMajor, rdevMinor, nameBytes.length, 0];
    const head = Buffer.from(header(fields), 'latin1');
    parts.push(head, nameBytes, pad(NEWC_HEADER_SIZE + nameBytes.length), data, pad(data.length));
  };
  for (const e of entries) {
    const name = archivePath(e.path);
    switch (e.type) {
      case 'file': {
        const data = typeof e.data === 'string' ? Buffer.from(e.data, 'utf8') : e.data;
        push(name, S_IFREG | ((e.mode ?? 0o644) & PERMISSION_MASK), data);
        break;
      }
      case 'dir':
        push(name, S_IFDIR | ((e.mode ?? 0o755) & PERMISSION_MASK), Buffer.alloc(0), 0, 0, 2);
        break;
      case 'symlink':
        push(name, S_IFLNK | 0o777, Buffer.from(e.target, 'utf8'));
        break;
      case 'chardev':
        push(name, S_IFCHR | ((e.mode ?? 0o600) & PERMISSION_MASK), Buffer.alloc(0), e.major, e.minor);
        break;
    }
  }
  ino = 0;
  push(TRAILER_NAME, 0, Buffer.alloc(0), 0, 0, 1);
  return Buffer.concat(parts);
}

/** The parent folders of `paths` ("a/b/c" gives "a", "a/b"), each once, parents first. */
export function parentDirs(paths: string[]): string[] {
  const dirs = new Set<string>();
  for (const p of paths) {
    const segs = archivePath(p).split('/');
    for (let i = 1; i < segs.length; i++) dirs.add(segs.slice(0, i).join('/'));
  }
  return [...dirs].sort((a, b) => a.split('/').length - b.split('/').length);
}

/**
 * A small archive holding `files` (and their parent folders) to concatenate onto a base initramfs, e.g.
 * `Buffer.concat([fs.readFileSync(base), appendFilesCpio([{ path: '/test.sh', data: script }])])`.
 * Files default to mode 0644; give 0o755 for scripts run directly.
 */
export function appendFilesCpio(files: { path: string; data: Buffer | string; mode?: number }[]): Buffer {
  const dirs: CpioEntry[] = parentDirs(files.map((f) => f.path)).map((d) => ({ type: 'dir', path: d }));
  const entries: CpioEntry[] = files.map((f) => ({ type: 'file', path: f.path, data: f.data, mode: f.mode ?? 0o644 }));
  return writeCpio([...dirs, ...entries]);
}
