import type { App } from '../../app.js';
import type { Deps } from '../../deps.js';

export function registerMultiFactorRoutes(_app: App, _deps: Deps): void {}
