/**
 * Loading the optional native addons (native/, built by scripts/build-native.sh). Each is a fast
 * path with a JavaScript fallback: a missing or unloadable addon is null, never an error.
 */
import { createRequire } from 'node:module';
import { noNative } from './env.js';

const require = createRequire(import.meta.url);
const loaded = new Map<string, unknown>();

/**
 * The addon native/build/Release/NAME.node, or null when it is not built, fails to load, or
 * KMODSEAL_NO_NATIVE=1. Loaded once per thread.
 */
export function loadAddon<T>(name: string): T | null {
  if (noNative()) return null;
  if (loaded.has(name)) return loaded.get(name) as T | null;
  let found: T | null = null;
  // src/io/ under tsx and dist/bundle/ are two levels below the root, dist/src/io/ three
  for (const p of [`../../native/build/Release/${name}.node`, `../../../native/build/Release/${name}.node`]) {
    try {
      found = require(p) as T;
      break;
    } catch {
      /* the next layout */
    }
  }
  loaded.set(name, found);
  return found;
}
