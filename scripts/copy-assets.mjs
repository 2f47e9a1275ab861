// tsc compiles only TypeScript; the demo console and other static pages are copied beside the output.
import { cpSync, mkdirSync } from 'node:fs';

mkdirSync('dist/src/web', { recursive: true });
cpSync('src/web/static', 'dist/src/web/static', { recursive: true });
