import type { App } from '../../app.js';
import type { Deps } from '../../deps.js';

export function registerOtpRoutes(_app: App, _deps: Deps): void {}
