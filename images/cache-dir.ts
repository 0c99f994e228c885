// Where built images live: $KQUBES_CACHE, else ~/.cache/kqubes.
import os from 'node:os';
import path from 'node:path';

export function cacheDir(): string {
  const fromEnv = process.env.KQUBES_CACHE;
  return fromEnv && fromEnv.length > 0 ? path.resolve(fromEnv) : path.join(os.homedir(), '.cache', 'kqubes');
}
