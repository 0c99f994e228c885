#!/usr/bin/env node
// qvmm: the kqubes VMM (compiled TypeScript lives in dist/).
import '../dist/vmm/cli/qvmm.js';
