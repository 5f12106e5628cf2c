/** nmap command lines for the lab tests: bounded in time, no retries, no host discovery. */

export interface NmapScan {
  /** `-sS`, `-sT`, `-sF`, `-sU`, ... */
  readonly scan: string;
  readonly family: 4 | 6;
  readonly ports: string | readonly number[];
  readonly target: string;
  /** The `timeout` around nmap, in seconds (default 30). */
  readonly timeoutSec?: number;
  /** More nmap options, before the target. */
  readonly extra?: readonly string[];
}

/** `timeout N nmap [-6] SCAN -Pn -n --max-retries 0 [EXTRA] -p PORTS TARGET`. */
export function nmapArgv(s: NmapScan): string[] {
  return [
    ...["timeout", String(s.timeoutSec ?? 30), "nmap"],
    ...(s.family === 6 ? ["-6"] : []),
    ...[s.scan, "-Pn", "-n", "--max-retries", "0"],
    ...(s.extra ?? []),
    ...["-p", typeof s.ports === "string" ? s.ports : s.ports.join(","), s.target],
  ];
}

/** The kernel-trap figures' scan: `-T5 --min-rate 3000` over ports 1–20000, within 60 s. */
export function fastNmapScan(scan: "-sS" | "-sU", family: 4 | 6, target: string): string[] {
  return nmapArgv({
    scan,
    family,
    ports: "1-20000",
    target,
    timeoutSec: 60,
    extra: ["-T5", "--min-rate", "3000"],
  });
}
