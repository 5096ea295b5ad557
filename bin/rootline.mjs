#!/usr/bin/env node
// The `rootline` CLI. Runs the TypeScript sources through tsx; worker threads register tsx themselves.
import { register } from 'tsx/esm/api';

register();
await import('../services/main.ts');
