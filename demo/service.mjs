#!/usr/bin/env node
// One demo service process: `node demo/service.mjs <name> <version>` with its settings as JSON in DEMO_SERVICE
// (the runner sets them: name, version, bad, bindAddress, port, hostName, peers {name: {address, port}}, otel
// {endpoint, token}). The arguments only label the process (its command line shows which release runs).
import { HANDLERS } from './system.mjs';
import { runHttpService, runKvService } from './framework.mjs';

const cfg = JSON.parse(process.env.DEMO_SERVICE ?? 'null');
if (!cfg?.name) {
  console.error('demo/service.mjs: DEMO_SERVICE (JSON settings) is not set; start the demo with `rootline demo`');
  process.exit(2);
}
if (cfg.kind === 'kv') await runKvService(cfg);
else if (HANDLERS[cfg.name]) await runHttpService(cfg, HANDLERS[cfg.name]);
else {
  console.error(`demo/service.mjs: no service named ${cfg.name}`);
  process.exit(2);
}
