// Piscina loads this plain-JS file in each worker thread; it registers tsx so the TypeScript worker loads.
import { register } from 'tsx/esm/api';

register();
const { decodeTask } = await import('./worker.ts');
export default decodeTask;
