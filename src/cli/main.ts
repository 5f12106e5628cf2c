#!/usr/bin/env -S node --max-semi-space-size=1 --optimize-for-size --no-flush-bytecode --single-threaded --no-lazy-feedback-allocation
/**
 * The `portsentry` command's entry. A daemon catches its signals here, before the rest of the
 * program is loaded and compiled (src/signals.ts says why), then the command runs.
 */

import { SignalInbox } from "../signals.js";
import { MODE_FLAGS } from "./mode-flags.js";

const argv = process.argv.slice(2);
const signals = argv.some((a) => Object.hasOwn(MODE_FLAGS, a)) ? new SignalInbox() : undefined;
const { main } = await import("./portsentry.js");
await main(argv, signals);
