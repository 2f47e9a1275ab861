// The import rules `npm run lint` (and so `npm test` and CI) checks with dependency-cruiser:
// `npx depcruise src bench test examples --config .dependency-cruiser.cjs`.
// Layers, bottom up: protocol (the wire format); connection, transport, hub, merger, push, auth, broker, cluster, config, stats, hooks
// (the core); server, api, web, gateway (the edge that wires the core to HTTP and WebSocket); cli (the entry point).
// src/client is the SDK, shipped apart from the server. Type-only imports count as edges for the layer rules
// (a type names what a module knows about), and for the cycle rule too.

/** The core: modules that must not know the edge that wires them. */
const CORE = '^src/(protocol|connection|transport|hub|merger|push|auth|broker|cluster|config|stats|hooks|history|presence)/';
/** The edge and the entry point. */
const EDGE = '^src/(gateway|api|server|cli|web)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      severity: 'error',
      comment:
        'Modules in a cycle load in an order that depends on which is imported first: a class or constant can be ' +
        'undefined when first used, and neither module can be understood or tested alone. Type-only cycles count ' +
        "too: what one side needs of the other is an interface that side owns (src/api/api-backend.ts is the API's " +
        'view of the gateway).',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-not-to-edge',
      severity: 'error',
      comment:
        'The core (protocol, connection, hub, merger, auth, broker, cluster, config, stats) is what the gateway is ' +
        'built from: it must not know the gateway, the HTTP servers, the web pages or the CLI, so that it can be ' +
        'reused and tested without them. What the core needs of the edge it declares itself and is handed.',
      from: { path: CORE },
      to: { path: EDGE },
    },
    {
      name: 'core-knows-no-wire-format',
      severity: 'error',
      comment:
        'Connections, the hub, the merger and the dispatcher work through two seams: a Transport ' +
        '(src/transport/transport.ts) and a ClientProtocol (src/protocol/client-protocol.ts). They must not know the ' +
        'WebSocket library, its transport, or the go-push JSON protocol behind those seams (its encoder, decoder, ' +
        'framing), so that another transport or protocol (SSE, Pusher) can share them. The go-push module and the ws ' +
        'transport are chosen where connections are made (src/transport/ws-connection.ts, the gateway).',
      from: { path: '^src/(connection|hub|merger)/' },
      to: {
        path: ['(^|/)node_modules/(@types/)?ws/', '^src/transport/ws-', '^src/protocol/(go-push|encode|messages|prepared-frame)\\.ts$'],
      },
    },
    {
      name: 'protocol-is-a-leaf',
      severity: 'error',
      comment: 'src/protocol is the wire format (codes, frames, room names) that every layer and the SDK speak: it depends ' + 'on nothing else in src/.',
      from: { path: '^src/protocol/' },
      to: { path: '^src/', pathNot: '^src/protocol/' },
    },
    {
      name: 'cli-is-the-entry-point',
      severity: 'error',
      comment: 'src/cli parses argv and starts processes: nothing in src/ depends on it (src/index.ts is the library entry).',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'client-stands-alone',
      severity: 'error',
      comment:
        'src/client is the SDK for browsers and Node, published as pushgate/client: it must not pull in any of the ' +
        'server (a browser would load it, a Node client would start its dependencies).',
      from: { path: '^src/client/' },
      to: { path: '^src/', pathNot: '^src/client/' },
    },
    {
      name: 'browser-client-has-no-imports',
      severity: 'error',
      comment:
        'src/client/client.ts is served as-is to browsers at /client.js: a bare import of a package or of a Node ' +
        'built-in would not load there. Node specifics belong in src/client/node.ts.',
      from: { path: '^src/client/client\\.ts$' },
      to: { dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown', 'core'] },
    },
    {
      name: 'src-not-to-tests-or-tools',
      severity: 'error',
      comment:
        'The package ships dist/src alone: an import from test/, bench/, examples/ or scripts/ would be missing from ' +
        'an installed copy (and would make production code depend on test helpers).',
      from: { path: '^src/' },
      to: { path: '^(test|bench|examples|scripts)/' },
    },
    {
      name: 'bench-not-to-tests',
      severity: 'error',
      comment: 'bench/ is a standalone load generator built on src/: it must run without the test helpers.',
      from: { path: '^bench/' },
      to: { path: '^test/' },
    },
    {
      name: 'src-not-to-dev-dependencies',
      severity: 'error',
      comment:
        'An installed pushgate has only its dependencies: a runtime import of a devDependency from src/ works in ' +
        'this repository and fails for every user. (Type-only imports vanish in the build and are allowed.)',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-undeclared-packages',
      severity: 'error',
      comment: 'A package imported but not declared in package.json works only while something else happens to install it.',
      from: {},
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      comment: 'An import that resolves to no file is a typo or a leftover (tsc reports most; this covers the rest).',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Reads the TypeScript sources, including type-only imports (marked 'type-only' for the rules above).
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
