#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node
/** kmodseal command-line entry: the only place that calls process.exit. */
import { run } from '../src/cli/main.js';
import { processIo } from '../src/cli/io.js';

const io = processIo();
const code = await run(process.argv.slice(2), io);
await io.flush();
process.exitCode = code;
