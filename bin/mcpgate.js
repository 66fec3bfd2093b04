#!/usr/bin/env node
// Entry point of the mcpgate CLI (compiled sources live in dist/; run `npm run build`).
import '../dist/src/cli/main.js';
