// Loads the kqubes N-API addon (prebuild from prebuilds/, else build/Release) and gives it its type.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { KvmNative } from './native.js';

const require = createRequire(import.meta.url);
const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;

/** The package root: this file lives at <root>/kvm-native/ or, compiled, at <root>/dist/kvm-native/. */
function packageRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const up = path.basename(path.dirname(here)) === 'dist' ? 2 : 1;
  return path.resolve(here, ...Array<string>(up).fill('..'));
}

export const native: KvmNative = nodeGypBuild(packageRoot()) as KvmNative;
export type { KvmNative, NativeError } from './native.js';
