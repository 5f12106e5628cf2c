// The import rules of the house (docs/house-style.md, "The shape of the house"), checked by
// `npm run lint` instead of remembered. Data flows sensor → decode → detect → policy → respond;
// a rule here is a line a stage may not cross. Run alone: npx depcruise src --config .dependency-cruiser.cjs

/** The pure core: decode/, detect/, policy/ and the words every stage shares. */
const CORE = "^src/(decode|detect|policy)/|^src/vocabulary[.]ts$";

/**
 * npm packages the core may use. Each is pure (no I/O, no clock of its own) and named here on
 * purpose, so that a new one is a reviewed change to this list.
 * - lru-cache: policy's bounded table of recent sources (a hard cap with oldest-first eviction).
 */
const CORE_PACKAGES = "node_modules/lru-cache/";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "core-no-node-builtins",
      comment:
        "The pure core does no I/O and reads no clock: time and bytes are arguments, so it runs the same on live capture, NFLOG and replay, and tests need no fakes.",
      severity: "error",
      from: { path: CORE },
      to: { dependencyTypes: ["core"] },
    },
    {
      name: "core-only-listed-packages",
      comment:
        "An npm package can bring I/O or a clock into the core; only the reviewed, pure ones in CORE_PACKAGES may be imported there.",
      severity: "error",
      from: { path: CORE },
      to: {
        dependencyTypes: ["npm", "npm-dev", "npm-optional", "npm-peer", "npm-no-pkg", "npm-unknown"],
        pathNot: CORE_PACKAGES,
      },
    },
    {
      name: "core-stays-in-core",
      comment:
        "The core may import only the core: a config, log, state or sensor module would bring its I/O with it. Shared types belong in src/vocabulary.ts.",
      severity: "error",
      from: { path: CORE },
      to: { path: "^src/", pathNot: CORE },
    },
    {
      name: "detect-not-respond-or-sensors",
      comment:
        "A detector never calls a responder and does not know where probes come from: it turns hits into detections, and only policy turns those into action.",
      severity: "error",
      from: { path: "^src/detect/" },
      to: { path: "^src/(respond|sensors)/" },
    },
    {
      name: "respond-not-detect-or-sensors",
      comment:
        "Responders carry out decisions and never decide: they see decisions and the shared vocabulary, not the evidence (detect/) nor its sources (sensors/).",
      severity: "error",
      from: { path: "^src/respond/" },
      to: { path: "^src/(detect|sensors)/" },
    },
    {
      name: "sensors-not-respond",
      comment:
        "A sensor reports probes; acting on them is policy's decision and respond's job. What a sensor and a responder both need (e.g. the kernel trap's NFLOG prefix) lives outside both.",
      severity: "error",
      from: { path: "^src/sensors/" },
      to: { path: "^src/respond/" },
    },
    {
      name: "no-circular",
      comment:
        "A circle has no first stage: it cannot be read, tested or started in order. Type-only imports count too (tsPreCompilationDeps), since a type shared both ways belongs in a third module.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "no-unresolvable",
      comment:
        "Guards the rules above: an import the checker cannot resolve (e.g. a broken .js → .ts mapping) would silently pass every rule.",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    // Type-only imports are dependencies too: `import type` across a forbidden line is still a
    // stage knowing another's internals, and half of a circle.
    tsPreCompilationDeps: true,
    // Resolves the `.js` specifiers of our ESM sources to the `.ts` files, as tsc does.
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
