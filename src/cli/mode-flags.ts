/** The six modes as 1.2 spells them on the command line. Small: main.ts reads it before loading the rest. */

import type { Mode } from "../vocabulary.js";

export const MODE_FLAGS: Readonly<Record<string, Mode>> = {
  "-tcp": "tcp",
  "-udp": "udp",
  "-stcp": "stcp",
  "-sudp": "sudp",
  "-atcp": "atcp",
  "-audp": "audp",
};
